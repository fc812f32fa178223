"""The base of every error caused by the user's input (params, files, architecture strings).

Entry points print these as one clear message and exit non-zero; other exceptions are bugs and
keep their traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")


class AsvitError(ValueError):
    """Bad input: the message names the parameter key, file, line or topology position."""


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Wrap an entry point: an :class:`AsvitError` becomes ``error: ...`` on stderr and exit code 2."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except AsvitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
