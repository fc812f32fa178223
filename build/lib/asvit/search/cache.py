"""Proxy values cached by topology string, so that no topology is measured twice, even across an
interrupted and resumed run."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..space import Topology
from .state import fingerprint_text

# Measures topologies: one mapping proxy name -> value (NaN where bad) per topology, in order.
Scorer = Callable[[Sequence[Topology]], Iterable[Mapping[str, float]]]


class ScoreCache:
    """Proxy values keyed by ``Topology.scaled_string()``.

    With a ``path``, the cache is a JSON file rewritten atomically (temporary file + rename) after
    every new entry, with the fingerprint of the measurement settings; a file written under other
    settings is ignored and replaced. NaN (a bad proxy) is stored as null.
    """

    def __init__(self, path: Path | None, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = fingerprint_text(fingerprint)
        self.entries: dict[str, dict[str, float | None]] = {}
        self.hits = 0
        self.scored = 0
        if path is not None and path.exists():
            try:
                saved = json.loads(path.read_text())
            except json.JSONDecodeError:
                saved = {}
            if saved.get("fingerprint") == self.fingerprint:
                self.entries = saved["entries"]

    def __contains__(self, topology: Topology) -> bool:
        return topology.scaled_string() in self.entries

    def get(self, topology: Topology) -> dict[str, float]:
        """The cached values of ``topology`` (KeyError if never measured)."""
        stored = self.entries[topology.scaled_string()]
        return {name: math.nan if value is None else value for name, value in stored.items()}

    def scores(self, topologies: Sequence[Topology], scorer: Scorer) -> list[dict[str, float]]:
        """The values of each topology: cached ones looked up (counted in ``hits``), the others
        measured once each by ``scorer`` in one batch and stored as each completes."""
        missing: dict[str, Topology] = {}
        for topology in topologies:
            key = topology.scaled_string()
            if key in self.entries or key in missing:
                self.hits += 1
            else:
                missing[key] = topology
        for key, values in zip(missing, scorer(list(missing.values())), strict=True):
            self._store(key, values)
        return [self.get(t) for t in topologies]

    def _store(self, key: str, values: Mapping[str, float]) -> None:
        self.entries[key] = {name: None if math.isnan(v) else float(v) for name, v in values.items()}
        self.scored += 1
        if self.path is not None:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "entries": self.entries}))
