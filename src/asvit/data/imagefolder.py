"""Lazily read ImageNet-layout folders (``<root>/train/<class>/*``, ``<root>/val/<class>/*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset
from torchvision import transforms
from torchvision.datasets import ImageFolder
from tqdm import tqdm

from .errors import DataError
from .imageops import channel_stats, decoded_size
from .sampling import split_seed, subset_indices

_STATS_IMAGES = 256  # training images read to estimate the per-channel mean and std


class _ChosenClassFolder(ImageFolder):
    """An ImageFolder restricted to the given class sub-folders, labelled in their given order."""

    def __init__(self, root: Path, classes: list[str], transform: transforms.Compose) -> None:
        self._chosen = list(classes)
        super().__init__(str(root), transform=transform)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        """The chosen classes, instead of every sub-folder of ``directory``."""
        return self._chosen, {name: index for index, name in enumerate(self._chosen)}


def list_classes(root: Path) -> list[str]:
    """The sorted class folder names of ``<root>/train``."""
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DataError(f"missing folder {train_dir}: data.path must hold train/<class>/ and val/<class>/")
    classes = sorted(entry.name for entry in train_dir.iterdir() if entry.is_dir())
    if not classes:
        raise DataError(f"empty image folder {train_dir}: no class sub-folders")
    return classes


def _transform(image_size: int, mean: list[float] | None = None, std: list[float] | None = None) -> transforms.Compose:
    """Resize the short side and center-crop to ``image_size``; uint8 output, or normalised float if ``mean``."""
    steps: list[torch.nn.Module] = [
        transforms.Resize(image_size, antialias=True),
        transforms.CenterCrop(image_size),
        transforms.PILToTensor(),
    ]
    if mean is not None and std is not None:
        steps += [transforms.ConvertImageDtype(torch.float32), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def open_folder(root: Path, split: str, classes: list[str], transform: transforms.Compose) -> ImageFolder:
    """The images of ``classes`` under ``<root>/<split>``."""
    try:
        return _ChosenClassFolder(root / split, classes, transform)
    except FileNotFoundError as error:
        raise DataError(f"empty image folder {root / split}: {error}") from error


def pixel_stats(folder: ImageFolder, seed: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std, estimated from a seeded sample of the images of ``folder``."""
    picks = subset_indices(len(folder), _STATS_IMAGES, seed).tolist()
    return channel_stats(torch.stack([_read(folder, index) for index in picks]))


def _read(folder: ImageFolder, index: int) -> torch.Tensor:
    """Image ``index`` of ``folder``, or a :class:`DataError` naming the file that cannot be decoded."""
    try:
        return folder[index][0]
    except OSError as error:
        raise DataError(f"unreadable image {folder.samples[index][0]}: {error}") from error


def kept_images(count: int, size: int, seed: int, split: str) -> list[int]:
    """The indices of the ``size`` images (of ``count``) that a prepared ``split`` keeps: all of them, or
    a subset seeded by ``seed`` and the split."""
    return list(range(count)) if count == size else subset_indices(count, size, split_seed(seed, split)).tolist()


def check_images(folder: ImageFolder, indices: list[int], split: str) -> None:
    """Decode each image of ``folder`` at ``indices`` once, so that a corrupt file stops the ``data``
    stage, naming the file, instead of a later stage mid-run."""
    for index in tqdm(indices, desc=f"checking {split} images", unit="image", leave=False):
        decoded_size(Path(folder.samples[index][0]))


def uint8_folder(root: Path, split: str, classes: list[str], image_size: int) -> ImageFolder:
    """``open_folder`` yielding resized, center-cropped uint8 images."""
    return open_folder(root, split, classes, _transform(image_size))


def open_split(info: dict[str, Any], split: str) -> Dataset[tuple[torch.Tensor, int]]:
    """The normalised ``split`` of a prepared imagefolder source, subset as recorded in ``info``."""
    transform = _transform(info["image_size"], info["mean"], info["std"])
    folder = open_folder(Path(info["root"]), split, info["class_names"], transform)
    size = info[f"{split}_size"]
    if len(folder) < size:
        raise DataError(f"{info['root']}/{split} has {len(folder)} images, fewer than the {size} prepared; "
                        "run the `data` stage again")
    if len(folder) == size:
        return folder
    return Subset(folder, kept_images(len(folder), size, info["seed"], split))
