"""The proxy scorer of the search and grow stages: L^E and kappa of topologies, measured in this
process or on the workers of an engine (``proxy.workers`` local processes, or a cluster)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from ..executor import Engine
from ..fingerprint import MEASUREMENT_CODE, source_digest
from ..proxies.scoring import ProxyPool, ScoreJob, ScoreSettings, score_jobs
from ..space import Topology
from .reward import REWARD_METRICS


class ProxyScorer:
    """Measures ``names`` (default L^E and kappa) of topologies with ``settings``; with a parallel
    ``engine`` on a :class:`~asvit.proxies.scoring.ProxyPool` started on first use and closed on exit (use it as a
    context manager). ``description`` fingerprints what it measures, code included (caches and saved
    states)."""

    def __init__(self, settings: ScoreSettings, engine: Engine = Engine(),
                 names: Sequence[str] = REWARD_METRICS) -> None:
        self.settings = settings
        self.engine = engine
        self.names = tuple(names)
        self._pool: ProxyPool | None = None

    @property
    def description(self) -> dict[str, Any]:
        # Pool tasks run torch on one thread, which may round differently than the multi-threaded
        # single process: which of the two measured is part of what was measured (not the engine).
        return {**asdict(self.settings), "proxies": list(self.names), "one_thread": self.engine.parallel,
                "code": source_digest(*MEASUREMENT_CODE)}

    def __call__(self, topologies: Sequence[Topology]) -> Iterator[dict[str, float]]:
        if self.engine.parallel and self._pool is None:
            self._pool = ProxyPool(self.settings, self.engine)
        jobs = [ScoreJob.of(t, self.settings) for t in topologies]
        for result in score_jobs(jobs, self.names, self.settings, self._pool):
            yield result.values

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> ProxyScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
