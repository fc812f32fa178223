"""The ``data`` stage entry point: prepare a classification source into an output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import DataError
from .generated import SHAPE_SIZE
from .sources import SOURCES, SourceRequest
from .storage import INFO_FILE, write_info

DEFAULT_TRAIN_SIZE = 5000
DEFAULT_VAL_SIZE = 2000


def _check_settings(image_size: int, seed: int, train_size: int, val_size: int) -> None:
    """Reject settings no source can honour, naming the offending parameter."""
    limits = {"data.image_size": (image_size, 8), "data.seed": (seed, 0),
              "data.train_size": (train_size, 1), "data.val_size": (val_size, 1)}
    for name, (value, least) in limits.items():
        if value < least:
            raise DataError(f"{name}={value} must be at least {least}")


def prepare_classification(
    source: str,
    out_dir: Path,
    *,
    image_size: int,
    seed: int,
    path: Path | None = None,
    num_classes: int = 10,
    train_size: int = DEFAULT_TRAIN_SIZE,
    val_size: int = DEFAULT_VAL_SIZE,
    shape_size: tuple[float, float] = SHAPE_SIZE,
) -> dict[str, Any]:
    """Prepare ``source`` into ``out_dir`` and return the info dict also written to ``out_dir/info.json``.

    Tensor sources (generated, digits, cifar10) write ``train.pt`` and ``val.pt``; imagefolder records its
    ``root`` only. ``path`` is the source directory (cifar10 and imagefolder). ``num_classes`` keeps the
    source's first classes; ``train_size`` / ``val_size`` are exact for generated and upper bounds (seeded
    subsets) otherwise; ``shape_size`` is the generated shapes' radius range. Every file is written
    atomically, ``info.json`` last.
    """
    prepare = SOURCES.lookup(source)
    _check_settings(image_size, seed, train_size, val_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INFO_FILE).unlink(missing_ok=True)  # a half-rewritten directory must not look prepared
    request = SourceRequest(image_size, seed, None if path is None else Path(path), num_classes, train_size, val_size,
                            tuple(shape_size))
    info = {"source": source, "image_size": image_size, "seed": seed, **prepare(request, out_dir)}
    write_info(out_dir, info)
    return info
