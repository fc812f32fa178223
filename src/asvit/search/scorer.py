"""The proxy scorer of the search and grow stages: the proxies a cache asks for, of topologies measured
in this process or on the workers of an engine (``proxy.workers`` local processes, or a cluster)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from ..executor import Engine
from ..fingerprint import MEASUREMENT_CODE, source_digest
from ..proxies.scoring import ProxyPool, ScoreJob, ScoreResult, ScoreSettings, score_jobs
from ..space import Topology


class ProxyScorer:
    """Measures proxies of topologies with ``settings``; with a parallel ``engine`` on a
    :class:`~asvit.proxies.scoring.ProxyPool` started on first use and closed on exit (use it as a
    context manager). ``description`` fingerprints how it measures, code included (caches and saved
    states); a proxy's value does not depend on which others are measured beside it."""

    def __init__(self, settings: ScoreSettings, engine: Engine = Engine()) -> None:
        self.settings = settings
        self.engine = engine
        self._pool: ProxyPool | None = None

    @property
    def description(self) -> dict[str, Any]:
        # Pool tasks run torch on one thread, which may round differently than the multi-threaded
        # single process: which of the two measured is part of what was measured (not the engine).
        return {**asdict(self.settings), "one_thread": self.engine.parallel, "code": source_digest(*MEASUREMENT_CODE)}

    def __call__(self, topologies: Sequence[Topology], names: Sequence[str]) -> Iterator[ScoreResult]:
        """The proxies ``names`` of each topology, in order."""
        if self.engine.parallel and self._pool is None:
            self._pool = ProxyPool(self.settings, self.engine)
        jobs = [ScoreJob.of(t, self.settings) for t in topologies]
        yield from score_jobs(jobs, names, self.settings, self._pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> ProxyScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
