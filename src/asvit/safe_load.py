"""Reading the project's own tensor files (checkpoints, models, prepared data, search state) with
``torch.load(weights_only=True)``, which never runs code from the file.

A file that is truncated, corrupt or holds objects a weights-only load refuses raises one
:class:`UnreadableFileError` line that names the file and says what to do; torch's own message,
which suggests loading the file with ``weights_only=False``, is not repeated: a file that fails
here was not written by this project and must not be unpickled.
"""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path
from typing import Any

import torch

from .errors import AsvitError


class UnreadableFileError(AsvitError):
    """A file that a weights-only load cannot read."""


# pickle opcodes that import a name or call one: how a pickle runs code when it is loaded
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE"}


def _imports_code(path: Path) -> bool:
    """Whether ``path`` is a plain pickle (not torch's zip format) that would import or call code."""
    try:
        return any(op.name in _CODE_OPCODES for op, _, _ in pickletools.genops(path.read_bytes()))
    except Exception:  # not a readable pickle stream: corrupt, not unsafe
        return False


def load_weights_only(path: Path | str, remedy: str) -> Any:
    """The content of ``path`` loaded onto the CPU with ``weights_only=True``; ``remedy`` (for
    example "delete it to start over") ends the error message."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found; {remedy}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text names the refused global, if that was the cause
        refused = "unsupported global" in str(exc).lower() or _imports_code(path)
    except Exception:  # truncated or corrupt files raise many types (RuntimeError, EOFError, IndexError, ...)
        refused = False
    reason = ("was refused as unsafe: it holds objects that a weights-only load does not run (code, classes "
              "outside torch), so it was not written by asvit" if refused else "is truncated or corrupt")
    raise UnreadableFileError(f"{path}: {reason}; {remedy}")
