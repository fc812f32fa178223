"""Atomic file writes: write beside the target, then rename over it, so an interrupted write never
leaves half a file where a finished one is expected. Every JSON and CSV output goes through
:func:`write_json` and :func:`write_csv` (or :func:`atomic_path` for a writer of its own)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` (its folder created) that replaces ``path`` on success and is
    removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path | str, data: Any, indent: int | None = 2, sort_keys: bool = False) -> None:
    """``data`` as JSON (``indent``, keys sorted if ``sort_keys``) and a final newline, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def write_csv(path: Path | str, table: pd.DataFrame | Iterable[Mapping[str, Any]],
              columns: Sequence[str] | None = None, index_label: str | None = None) -> None:
    """``table`` as CSV, atomically: a DataFrame, or rows of mappings. ``columns`` picks and orders
    the columns (other keys are left out, missing ones left empty); the index is written only under
    ``index_label``."""
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table), columns=columns)
    if columns is not None:
        frame = frame[list(columns)]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index_label is not None, index_label=index_label)
