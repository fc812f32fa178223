"""Fingerprints of the code behind resumable results: results saved by other code are not reused."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

MEASUREMENT_CODE = ("asvit.proxies", "asvit.models", "asvit.space")  # what a proxy value depends on


def source_digest(*modules: str) -> str:
    """SHA-256 (first 16 hex digits) of the Python sources of the named modules; a package counts
    with every ``.py`` file below it. Part of a fingerprint, it makes a code change start over."""
    digest = hashlib.sha256()
    for name in modules:
        path = Path(importlib.import_module(name).__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def directory_digest(path: Path | str) -> str:
    """SHA-256 (first 16 hex digits) of the names and bytes of every file below ``path``: results
    measured on a directory's data are not reused once the data changes."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
