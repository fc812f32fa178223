"""Proxy values cached by topology and proxy, so that no topology is measured twice for one proxy:
not within a search, not across an interrupted and resumed run, and not across the searches of
different objectives and methods that share the measurement settings (docs/design.md section 7)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..atomic import atomic_path
from ..space import Topology
from .state import fingerprint_text


class Measured(Protocol):
    """What a scorer returns per topology: each proxy's value (NaN where bad) and seconds."""

    values: Mapping[str, float]
    seconds: Mapping[str, float]


class Scorer(Protocol):
    """Measures ``names`` of topologies: one result per topology, in order."""

    def __call__(self, topologies: Sequence[Topology], names: Sequence[str]) -> Iterable[Measured]: ...


def shared_cache_path(directory: Path, fingerprint: Mapping[str, Any]) -> Path:
    """The cache file of one measurement setting under ``directory``: settings that differ keep their
    own files side by side (an experiment switching back finds its values)."""
    digest = hashlib.sha256(fingerprint_text(dict(fingerprint)).encode()).hexdigest()[:16]
    return directory / f"{digest}.json"


class ScoreCache:
    """Proxy values and their measuring seconds keyed by ``Topology.scaled_string()`` and proxy name;
    :meth:`scores` serves the proxies ``names``.

    With a ``path``, the cache is a JSON file with the fingerprint of the measurement settings (a file
    written under other settings is ignored and replaced), rewritten atomically (temporary file +
    rename) after every new measurement, merged with what other processes added to it meanwhile. NaN
    (a bad proxy) is stored as null.
    """

    def __init__(self, path: Path | None, fingerprint: Mapping[str, Any], names: Sequence[str]) -> None:
        self.path = path
        self.fingerprint = fingerprint_text(dict(fingerprint))
        self.names = tuple(names)
        self.values: dict[str, dict[str, float | None]] = {}
        self.seconds: dict[str, dict[str, float]] = {}
        self.hits = 0
        self.scored = 0
        self._read()

    def _read(self) -> None:
        """Add the entries saved under this fingerprint (kept where this process has its own)."""
        if self.path is None or not self.path.exists():
            return
        try:
            saved = json.loads(self.path.read_text())
        except json.JSONDecodeError:
            return
        if saved.get("fingerprint") != self.fingerprint:
            return
        for mine, theirs in ((self.values, saved.get("values", {})), (self.seconds, saved.get("seconds", {}))):
            for key, entry in theirs.items():
                own = mine.setdefault(key, {})
                own.update({name: value for name, value in entry.items() if name not in own})

    def missing(self, topology: Topology) -> tuple[str, ...]:
        """The proxies of ``names`` not yet measured for ``topology``."""
        stored = self.values.get(topology.scaled_string(), {})
        return tuple(name for name in self.names if name not in stored)

    def __contains__(self, topology: Topology) -> bool:
        return not self.missing(topology)

    def get(self, topology: Topology) -> dict[str, float]:
        """The cached values of ``names`` for ``topology`` (KeyError if one was never measured)."""
        stored = self.values[topology.scaled_string()]
        return {name: math.nan if stored[name] is None else stored[name] for name in self.names}

    def spent(self, topology: Topology) -> dict[str, float]:
        """Seconds that measuring each of ``names`` of ``topology`` took, whoever measured it."""
        spent = self.seconds.get(topology.scaled_string(), {})
        return {name: spent[name] for name in self.names if name in spent}

    def scores(self, topologies: Sequence[Topology], scorer: Scorer) -> list[dict[str, float]]:
        """The values of each topology: complete ones looked up (counted in ``hits``), the others'
        missing proxies measured once each by ``scorer``, in one batch per set of missing proxies,
        and stored as each completes."""
        missing: dict[str, tuple[Topology, tuple[str, ...]]] = {}
        for topology in topologies:
            key = topology.scaled_string()
            lacking = self.missing(topology)
            if not lacking or key in missing:
                self.hits += 1
            else:
                missing[key] = (topology, lacking)
        batches: dict[tuple[str, ...], list[str]] = {}
        for key, (_, lacking) in missing.items():
            batches.setdefault(lacking, []).append(key)
        for lacking, keys in batches.items():
            measured = scorer([missing[key][0] for key in keys], lacking)
            for key, result in zip(keys, measured, strict=True):
                self._store(key, result)
        return [self.get(t) for t in topologies]

    def _store(self, key: str, result: Measured) -> None:
        self.values.setdefault(key, {}).update(
            {name: None if math.isnan(v) else float(v) for name, v in result.values.items()})
        self.seconds.setdefault(key, {}).update({name: float(s) for name, s in result.seconds.items()})
        self.scored += 1
        if self.path is not None:
            self._read()
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "values": self.values,
                                           "seconds": self.seconds}))
