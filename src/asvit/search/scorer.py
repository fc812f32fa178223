"""The proxy scorer of the search and grow stages: L^E and kappa of topologies, measured in this
process or on a pool of worker processes (``proxy.workers``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from ..fingerprint import MEASUREMENT_CODE, source_digest
from ..proxies.scoring import ProxyPool, ScoreJob, ScoreSettings, score_jobs
from ..space import Topology
from .reward import REWARD_METRICS


class ProxyScorer:
    """Measures ``names`` (default L^E and kappa) of topologies with ``settings``; with ``workers`` > 1
    on a :class:`~asvit.proxies.scoring.ProxyPool` started on first use and closed on exit (use it as a
    context manager). ``description`` fingerprints what it measures, code included (caches and saved
    states)."""

    def __init__(self, settings: ScoreSettings, workers: int = 1, names: Sequence[str] = REWARD_METRICS) -> None:
        self.settings = settings
        self.workers = workers
        self.names = tuple(names)
        self._pool: ProxyPool | None = None

    @property
    def description(self) -> dict[str, Any]:
        # A pool runs torch on one thread per process, which may round differently than the
        # multi-threaded single process: the worker count is part of what was measured.
        return {**asdict(self.settings), "proxies": list(self.names), "workers": self.workers,
                "code": source_digest(*MEASUREMENT_CODE)}

    def __call__(self, topologies: Sequence[Topology]) -> Iterator[dict[str, float]]:
        if self.workers > 1 and self._pool is None:
            self._pool = ProxyPool(self.settings, self.workers)
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
