"""The prepared on-disk format: ``train.pt`` / ``val.pt`` tensor files and ``info.json``, written atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path, write_json
from ..safe_load import UnreadableFileError, load_weights_only
from .errors import DataError

INFO_FILE = "info.json"
REDO = "prepare it again with `dvc repro -f data`"


@dataclass(frozen=True)
class ImageSet:
    """A labelled image split: uint8 images (N, 3, S, S) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


def split_file(out_dir: Path, split: str) -> Path:
    """The tensor file of ``split`` in a prepared directory."""
    return out_dir / f"{split}.pt"


def save_split(path: Path, split: ImageSet) -> None:
    """Write ``split`` to ``path`` as {"images": uint8 tensor, "labels": int64 tensor}."""
    content = {"images": split.images.contiguous(), "labels": split.labels.to(torch.int64)}
    with atomic_path(path) as tmp:
        torch.save(content, tmp)


def load_split(path: Path) -> ImageSet:
    """Read a tensor file written by :func:`save_split`, checking its content."""
    if not path.is_file():
        raise DataError(f"missing prepared file {path}; run the `data` stage")
    try:
        content = load_weights_only(path, REDO)
    except UnreadableFileError as error:
        raise DataError(str(error)) from None
    try:
        images, labels = content["images"], content["labels"]
    except (KeyError, TypeError):
        raise DataError(f"corrupt prepared file {path}: no images and labels; {REDO}") from None
    if images.dtype != torch.uint8 or images.ndim != 4 or labels.shape != (len(images),):
        raise DataError(f"corrupt prepared file {path}: images {tuple(images.shape)}, labels {tuple(labels.shape)}")
    return ImageSet(images, labels)


def write_info(out_dir: Path, info: dict[str, Any]) -> None:
    """Write ``info.json`` (last, so its presence marks a complete preparation)."""
    write_json(out_dir / INFO_FILE, info)


def read_info(out_dir: Path) -> dict[str, Any]:
    """The content of ``info.json`` in a prepared directory."""
    path = out_dir / INFO_FILE
    if not path.is_file():
        raise DataError(f"{out_dir} has no {INFO_FILE}: run the `data` stage to prepare it")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"corrupt {path}: {error}; run the `data` stage again") from error
