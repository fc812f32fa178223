"""Reading CIFAR-10 from its standard python-pickle batches (``data_batch_1..5``, ``test_batch``, ``batches.meta``).

Unpickling can run code: point ``data.path`` only at files from a trusted source.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DataError
from .storage import ImageSet

TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
_ARCHIVE_DIR = "cifar-10-batches-py"  # the folder the official archive unpacks to
_SIDE = 32


def batch_dir(path: Path) -> Path:
    """The folder holding the batch files: ``path`` itself or its ``cifar-10-batches-py`` sub-folder."""
    unpacked = path / _ARCHIVE_DIR
    return unpacked if unpacked.is_dir() else path


def _unpickle(path: Path) -> dict[Any, Any]:
    """The dict stored in one CIFAR pickle (bytes keys)."""
    if not path.is_file():
        raise DataError(f"missing CIFAR-10 file {path.name} in {path.parent}")
    try:
        with path.open("rb") as stream:
            content = pickle.load(stream, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError) as error:
        raise DataError(f"corrupt CIFAR-10 file {path}: {error}") from error
    if not isinstance(content, dict):
        raise DataError(f"corrupt CIFAR-10 file {path}: holds a {type(content).__name__}, not a dict")
    return content


def class_names(folder: Path) -> list[str]:
    """The label names listed in ``batches.meta``."""
    path = folder / META_FILE
    names = _unpickle(path).get(b"label_names")
    if not isinstance(names, list) or not names:
        raise DataError(f"corrupt CIFAR-10 file {path}: no b'label_names' list")
    return [name.decode() if isinstance(name, bytes) else str(name) for name in names]


def read_batches(folder: Path, names: tuple[str, ...], num_labels: int) -> ImageSet:
    """The images (N, 3, 32, 32) and labels of the batch files ``names``, checked against ``num_labels``."""
    parts = [_read_batch(folder / name, num_labels) for name in names]
    return ImageSet(torch.cat([part.images for part in parts]), torch.cat([part.labels for part in parts]))


def _read_batch(path: Path, num_labels: int) -> ImageSet:
    """One batch file, with its shapes and label range checked."""
    content = _unpickle(path)
    data, labels = content.get(b"data"), content.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * _SIDE**2:
        raise DataError(f"corrupt CIFAR-10 file {path}: b'data' must be a uint8 array of shape (N, {3 * _SIDE**2})")
    try:
        label_array = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataError(f"corrupt CIFAR-10 file {path}: b'labels' is not a list of integers") from error
    if label_array.shape != (len(data),):
        raise DataError(f"corrupt CIFAR-10 file {path}: {len(data)} images but b'labels' of shape {label_array.shape}")
    if len(label_array) and not 0 <= label_array.min() <= label_array.max() < num_labels:
        raise DataError(f"corrupt CIFAR-10 file {path}: labels outside 0..{num_labels - 1}")
    images = torch.from_numpy(data.reshape(-1, 3, _SIDE, _SIDE).copy())
    return ImageSet(images, torch.from_numpy(label_array))
