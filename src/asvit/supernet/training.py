"""One-shot supernet training and inherited-weight evaluation.

Training draws one subnet uniformly per step (:class:`SampledSubnets`) and runs through
:func:`asvit.train.fit`, so it has the recipe's optimizer and schedule, every-epoch checkpoints
and resume. A subnet's inherited-weight accuracy is its accuracy with the supernet's weights,
untrained further, on images the supernet never trained on (:func:`heldout_split`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from ..errors import AsvitError
from ..evaluate.accuracy import evaluate_top_k


@dataclass(frozen=True)
class SupernetSpec:
    """What a supernet training is, as far as resuming it goes: the largest architecture, the ViTAS
    options and the token stride. Its text is part of the checkpoint's fingerprint."""

    largest: str
    cyclic_sharing: bool
    identity_shifting: bool
    patch_size: int

    def __str__(self) -> str:
        return (f"supernet {self.largest} cyclic_sharing={self.cyclic_sharing} "
                f"identity_shifting={self.identity_shifting}")


class SampledSubnets(nn.Module):
    """A supernet as a network that :func:`asvit.train.fit` trains: in training mode every forward
    pass runs the subnet ``draw(rng)`` with ``rng = random.Random(f"{seed}:{t}")`` at step t, a
    function of the seed and a step counter that is saved with the weights, so a resumed training
    draws the same subnets; in eval mode it runs ``eval_subnet`` (the largest by default)."""

    def __init__(self, supernet: nn.Module, draw: Callable[[random.Random], Any], eval_subnet: Any,
                 spec: SupernetSpec, seed: int = 0) -> None:
        super().__init__()
        self.supernet = supernet
        self.draw = draw
        self.eval_subnet = eval_subnet
        self.arch = spec
        self.seed = seed
        self.num_classes = supernet.num_classes
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.supernet(x, self.eval_subnet)
        subnet = self.draw(random.Random(f"{self.seed}:{int(self.step)}"))
        self.step += 1
        return self.supernet(x, subnet)


class SubnetView(nn.Module):
    """One subnet of a supernet as a network of its own: ``forward(x) = supernet(x, subnet)`` on the
    shared weights."""

    def __init__(self, supernet: nn.Module, subnet: Any) -> None:
        super().__init__()
        self.supernet = supernet
        self.subnet = subnet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x, self.subnet)


def heldout_split(train_set: Dataset, heldout: int, key: str = "supernet.heldout") -> tuple[Subset, Subset]:
    """The training split without its last ``heldout`` images (what the supernet trains on) and those
    images (where inherited weights are judged and evolution's fitness is measured)."""
    size = len(train_set)
    if heldout < 1:
        raise AsvitError(f"{key}: hold out at least 1 image, got {heldout}")
    if heldout >= size:
        raise AsvitError(f"{key}: {heldout} held-out images leave none of the {size} training images to train on")
    return Subset(train_set, range(size - heldout)), Subset(train_set, range(size - heldout, size))


def inherited_accuracy(supernet: nn.Module, subnet: Any, dataset: Dataset, batch_size: int = 256) -> dict[str, float]:
    """Top-1 and top-5 (percent) of ``subnet`` with the supernet's weights on ``dataset``."""
    with torch.no_grad():
        return evaluate_top_k(SubnetView(supernet, subnet), dataset, batch_size=batch_size, sharded=False)
