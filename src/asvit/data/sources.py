"""The data sources: a registry of name -> preparer writing a prepared directory for that source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits

from ..registry import Registry
from . import cifar, imagefolder
from .errors import DataError
from .generated import generate_shapes, shape_names
from .imageops import channel_stats, grey_to_rgb, resize_images
from .sampling import SPLITS, generator, split_seed, subset_indices
from .storage import ImageSet, save_split, split_file

_DIGITS_VAL_FRACTION = 0.2  # share of the 1797 scikit-learn digits held out for validation


@dataclass(frozen=True)
class SourceRequest:
    """What to prepare. ``train_size`` / ``val_size`` are exact for ``generated`` and upper bounds for the
    other sources (a seeded random subset is kept); ``num_classes`` sets the generated task's classes (the
    other sources have the classes of their data)."""

    image_size: int
    seed: int
    path: Path | None
    num_classes: int
    train_size: int
    val_size: int
    shape_size: tuple[float, float]  # generated only: the shapes' radius range

    def size(self, split: str) -> int:
        """The requested number of images of ``split``."""
        return self.train_size if split == "train" else self.val_size


Preparer = Callable[[SourceRequest, Path], dict[str, Any]]
"""Writes a source's prepared files into the output directory and returns its ``info.json`` fields."""


def _required_path(request: SourceRequest, source: str) -> Path:
    """``request.path``, which ``source`` needs, checked to be an existing directory."""
    if request.path is None:
        raise DataError(f"the {source} source needs data.path, the directory holding its files")
    if not request.path.is_dir():
        raise DataError(f"data.path {request.path} is not a directory")
    return request.path


def _classes(names: list[str], source: str, where: Path | str) -> list[str]:
    """A source's class ``names``, all of them: a classification needs at least two."""
    if len(names) < 2:
        raise DataError(f"{where}: the {source} source holds {len(names)} class{'es' if len(names) != 1 else ''}"
                        f" ({', '.join(names) or 'none'}); a classification needs at least 2")
    return names


def _select(images: ImageSet, request: SourceRequest, split: str) -> ImageSet:
    """A seeded subset of at most the requested size, resized."""
    kept = subset_indices(len(images.labels), request.size(split), split_seed(request.seed, split))
    return ImageSet(resize_images(images.images[kept], request.image_size), images.labels[kept])


def _write_tensor_splits(out_dir: Path, splits: dict[str, ImageSet], class_names: list[str]) -> dict[str, Any]:
    """Save the splits as ``train.pt`` / ``val.pt`` and return their info fields (with train pixel stats)."""
    for split, images in splits.items():
        if len(images.labels) == 0:
            raise DataError(f"the {split} split is empty after keeping {len(class_names)} classes")
        save_split(split_file(out_dir, split), images)
    mean, std = channel_stats(splits["train"].images)
    sizes = {f"{split}_size": len(images.labels) for split, images in splits.items()}
    return {"format": "tensors", "num_classes": len(class_names), "class_names": class_names, **sizes,
            "mean": mean, "std": std}


def _prepare_generated(request: SourceRequest, out_dir: Path) -> dict[str, Any]:
    """Draw the procedural shape task, train and val from independent seeds."""
    names = shape_names(request.num_classes)
    splits = {
        split: ImageSet(*generate_shapes(request.size(split), len(names), request.image_size,
                                         split_seed(request.seed, split), request.shape_size))
        for split in SPLITS
    }
    return {"shape_size": list(request.shape_size), **_write_tensor_splits(out_dir, splits, names)}


def _prepare_digits(request: SourceRequest, out_dir: Path) -> dict[str, Any]:
    """scikit-learn's bundled 8x8 handwritten digits as 3-channel images, split by a seeded permutation."""
    digits = load_digits()
    names = _classes([str(digit) for digit in digits.target_names], "digits", "scikit-learn's digits")
    grey = torch.from_numpy(digits.images * (255 / 16)).round().to(torch.uint8)
    everything = ImageSet(grey_to_rgb(grey), torch.from_numpy(digits.target).to(torch.int64))
    order = torch.randperm(len(everything.labels), generator=generator(request.seed))
    val_count = round(_DIGITS_VAL_FRACTION * len(order))
    parts = {"val": order[:val_count], "train": order[val_count:]}
    splits = {
        split: _select(ImageSet(everything.images[parts[split]], everything.labels[parts[split]]), request, split)
        for split in SPLITS
    }
    return _write_tensor_splits(out_dir, splits, names)


def _prepare_cifar10(request: SourceRequest, out_dir: Path) -> dict[str, Any]:
    """CIFAR-10 from its python-pickle batches: train = data_batch_1..5, val = test_batch."""
    folder = cifar.batch_dir(_required_path(request, "cifar10"))
    names = _classes(cifar.class_names(folder), "cifar10", folder)
    batches = {"train": cifar.TRAIN_BATCHES, "val": (cifar.TEST_BATCH,)}
    splits = {
        split: _select(cifar.read_batches(folder, batches[split], len(names)), request, split)
        for split in SPLITS
    }
    return _write_tensor_splits(out_dir, splits, names)


def _prepare_imagefolder(request: SourceRequest, out_dir: Path) -> dict[str, Any]:
    """Check an ImageNet-layout folder and record where it is; images stay on disk, read lazily."""
    root = _required_path(request, "imagefolder").resolve()
    names = _classes(imagefolder.list_classes(root), "imagefolder", root / "train")
    folders = {split: imagefolder.uint8_folder(root, split, names, request.image_size) for split in SPLITS}
    sizes = {f"{split}_size": min(len(folder), request.size(split)) for split, folder in folders.items()}
    for split, folder in folders.items():
        imagefolder.check_images(folder, imagefolder.kept_images(len(folder), sizes[f"{split}_size"], request.seed,
                                                                 split), split)
    mean, std = imagefolder.pixel_stats(folders["train"], request.seed)
    return {"format": "imagefolder", "root": str(root), "num_classes": len(names), "class_names": names, **sizes,
            "mean": mean, "std": std}


SOURCES: Registry[Preparer] = Registry("data source", {
    "generated": _prepare_generated,
    "digits": _prepare_digits,
    "cifar10": _prepare_cifar10,
    "imagefolder": _prepare_imagefolder,
})
