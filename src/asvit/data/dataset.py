"""Opening a prepared directory as a torch Dataset of normalised images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..registry import Registry
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


OPENERS: Registry[Callable[[Path, dict[str, Any], str], Dataset[tuple[torch.Tensor, int]]]] = Registry(
    "prepared data format", {"tensors": _open_tensor_split, "imagefolder": _open_imagefolder_split})


def dataset_info(out_dir: Path) -> dict[str, Any]:
    """The info dict of a directory prepared by :func:`asvit.data.prepare_classification`."""
    return read_info(Path(out_dir))


def open_classification(out_dir: Path, split: str) -> Dataset[tuple[torch.Tensor, int]]:
    """``split`` ("train" or "val") of a prepared directory, yielding (normalised float image, int label)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    out_dir = Path(out_dir)
    info = dataset_info(out_dir)
    opener = OPENERS.get(info.get("format", ""))
    if opener is None:
        raise DataError(f"{out_dir / 'info.json'} has no known format; run the `data` stage again")
    return opener(out_dir, info, split)


def image_batch(out_dir: Path, count: int, size: int, seed: int = 0, split: str = "train") -> torch.Tensor:
    """(count, 3, size, size): images of ``split`` of a prepared directory drawn without replacement
    with ``seed``, normalised as in training and resized to ``size`` (bilinear, antialiased): the
    batch the NTK proxy reads (training images) and the one an ONNX export is checked on (validation
    images). The error names the directory when it holds too few images."""
    dataset = open_classification(out_dir, split)
    if count > len(dataset):
        raise DataError(f"{out_dir}: a batch of {count} {split} images, the split has {len(dataset)}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count]
    images = torch.stack([dataset[int(i)][0] for i in order])
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
