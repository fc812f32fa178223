"""Opening a prepared directory as a torch Dataset of normalised images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from . import imagefolder
from .errors import DataError
from .sampling import SPLITS
from .storage import ImageSet, load_split, read_info, split_file


class TensorClassification(Dataset[tuple[torch.Tensor, int]]):
    """uint8 images kept in memory, served as float (3, S, S) tensors normalised per channel."""

    def __init__(self, images: ImageSet, mean: list[float], std: list[float]) -> None:
        self.images = images.images
        self.labels = images.labels
        self._mean = torch.tensor(mean).view(3, 1, 1)
        self._std = torch.tensor(std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = (self.images[index].float() / 255 - self._mean) / self._std
        return image, int(self.labels[index])


def _open_tensor_split(out_dir: Path, info: dict[str, Any], split: str) -> Dataset[tuple[torch.Tensor, int]]:
    return TensorClassification(load_split(split_file(out_dir, split)), info["mean"], info["std"])


def _open_imagefolder_split(out_dir: Path, info: dict[str, Any], split: str) -> Dataset[tuple[torch.Tensor, int]]:
    return imagefolder.open_split(info, split)


_OPENERS: dict[str, Callable[[Path, dict[str, Any], str], Dataset[tuple[torch.Tensor, int]]]] = {
    "tensors": _open_tensor_split,
    "imagefolder": _open_imagefolder_split,
}


def dataset_info(out_dir: Path) -> dict[str, Any]:
    """The info dict of a directory prepared by :func:`asvit.data.prepare_classification`."""
    return read_info(Path(out_dir))


def open_classification(out_dir: Path, split: str) -> Dataset[tuple[torch.Tensor, int]]:
    """``split`` ("train" or "val") of a prepared directory, yielding (normalised float image, int label)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    out_dir = Path(out_dir)
    info = dataset_info(out_dir)
    opener = _OPENERS.get(info.get("format", ""))
    if opener is None:
        raise DataError(f"{out_dir / 'info.json'} has no known format; run the `data` stage again")
    return opener(out_dir, info, split)
