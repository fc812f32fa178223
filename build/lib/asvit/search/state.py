"""Resumable state of a long stage: a dict saved atomically (temporary file + rename) together with
the fingerprint of the settings and the code that produced it; state saved under other settings or
by other code is not reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..safe_load import UnreadableFileError, load_weights_only


def fingerprint_text(fingerprint: dict[str, Any]) -> str:
    """A canonical text form of a fingerprint (JSON with sorted keys)."""
    return json.dumps(fingerprint, sort_keys=True)


def save_state(path: Path, fingerprint: dict[str, Any], state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) with ``torch.save``, atomically."""
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint_text(fingerprint), "state": state}, tmp)


def load_state(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The state saved at ``path`` with the same fingerprint, else None (nothing saved, saved under
    other settings, or unreadable). Loaded with ``weights_only=True``."""
    if not path.exists():
        return None
    try:
        saved = load_weights_only(path, "starting over")
    except UnreadableFileError as exc:
        print(exc)
        return None
    if saved.get("fingerprint") != fingerprint_text(fingerprint):
        print(f"{path} was written with other settings or code; starting over")
        return None
    return saved["state"]
