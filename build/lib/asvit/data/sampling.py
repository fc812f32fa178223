"""Seeds and subsets shared by all sources, so every split is reproducible from one integer seed."""

from __future__ import annotations

import numpy as np
import torch

SPLITS = ("train", "val")


def split_seed(seed: int, split: str) -> int:
    """An independent 64-bit seed for ``split``, derived from the pipeline ``seed``."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1, dtype=np.uint64)[0])


def generator(seed: int) -> torch.Generator:
    """A CPU torch generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def subset_indices(total: int, keep: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of ``min(keep, total)`` out of ``range(total)``."""
    if keep >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=generator(seed))[:keep].sort().values
