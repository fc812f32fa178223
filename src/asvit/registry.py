"""Named components (proxies, detectors, regressors, objectives, search methods, tie breaks, spaces,
data sources, record formats, CLI commands): one mapping type for every registry, so a lookup and a
params check of a name fail alike, with the kind of component and the names allowed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from .errors import AsvitError

T = TypeVar("T")


class UnknownName(AsvitError, KeyError):
    """A name that its registry does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(dict[str, T]):
    """``name -> component`` for one ``kind`` of component (e.g. ``"proxy"``)."""

    def __init__(self, kind: str, entries: Mapping[str, T] | Iterable[tuple[str, T]] = ()) -> None:
        super().__init__(entries)
        self.kind = kind

    def problem(self, name: str) -> str | None:
        """Why ``name`` is not a valid choice, or None if it is."""
        if name in self:
            return None
        return f"unknown {self.kind} {name!r}; allowed: {', '.join(self)}"

    def lookup(self, name: str) -> T:
        """The component registered under ``name``; :class:`UnknownName` names the allowed ones."""
        problem = self.problem(name)
        if problem:
            raise UnknownName(problem)
        return self[name]
