"""Score architectures with a list of proxies, averaging the stochastic ones over freshly
initialised networks, and append the results to a CSV that a rerun continues from."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm import tqdm

from ..deploy.latency import LatencySettings
from ..errors import AsvitError
from ..executor import Engine, task_result
from ..fingerprint import MEASUREMENT_CODE, directory_digest, source_digest
from ..table import ResumableTable
from .base import BadTopology, ProxyInputs, get_proxy

if TYPE_CHECKING:
    from ..config import ProxyParams


@dataclass(frozen=True)
class ScoreSettings:
    """How proxies are measured: image side, NTK batch size, repeats, classes, base seed, the
    NTK batch's source (the training images of the prepared directory ``images``, whose content
    digest is ``images_digest``, see :meth:`from_images`, or with ``images`` None, noise) and, for
    the timed proxies (``latency_ms``), where and how to time (``hardware.*``)."""

    image_size: int = 224
    batch_size: int = 16
    repeats: int = 5
    num_classes: int = 1000
    seed: int = 0
    images: str | None = None
    images_digest: str | None = None
    latency: LatencySettings | None = None

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise AsvitError(f"image size {self.image_size}: must be a positive multiple of 32 "
                             "(the last stage sees a grid of image size / 32)")
        for name in ("batch_size", "repeats", "num_classes"):
            if getattr(self, name) < (2 if name == "batch_size" else 1):
                raise AsvitError(f"{name} = {getattr(self, name)} is too small")

    @classmethod
    def from_params(cls, params: ProxyParams, images: Path, latency: LatencySettings | None = None) -> ScoreSettings:
        """The settings of the ``proxy`` params; with ``inputs: data`` the NTK batch comes from the
        prepared directory ``images``; ``latency`` only where a timed proxy is measured."""
        settings = cls(image_size=params.image_size, batch_size=params.batch_size, repeats=params.repeats,
                       num_classes=params.num_classes, seed=params.seed, latency=latency)
        return settings.from_images(images) if params.inputs == "data" else settings

    def from_images(self, directory: Path | str) -> ScoreSettings:
        """These settings with the NTK batch drawn from the training images of ``directory`` (prepared
        by the ``data`` stage); checks that it opens and holds enough images before any measurement."""
        from ..data import image_batch

        image_batch(Path(directory), self.batch_size, self.image_size, self.seed)
        return replace(self, images=str(directory), images_digest=directory_digest(directory))

    def on_workers(self) -> ScoreSettings:
        """These settings as tasks carry them to workers that may run in another directory: the
        images' path made absolute (the tables keep the path as given)."""
        return replace(self, images=str(Path(self.images).resolve())) if self.images is not None else self

    def inputs(self) -> ProxyInputs:
        """The proxy inputs. The NTK batch: ``batch_size`` training images of ``images`` drawn with
        ``seed``, normalised as in training and resized to ``image_size``; without ``images``,
        standard-normal images drawn from ``seed``."""
        if self.images is not None:
            from ..data import image_batch

            return ProxyInputs(self.image_size, image_batch(Path(self.images), self.batch_size, self.image_size,
                                                            self.seed), self.latency)
        generator = torch.Generator().manual_seed(self.seed)
        images = torch.randn(self.batch_size, 3, self.image_size, self.image_size, generator=generator)
        return ProxyInputs(self.image_size, images, self.latency)


@dataclass
class ScoreResult:
    """Proxy values of one architecture (NaN where bad), the bad proxies and seconds per proxy."""

    values: dict[str, float]
    bad: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _average(samples: Sequence[float]) -> float:
    return sum(samples) / len(samples)


def score_network(build: Callable[[], nn.Module], names: Sequence[str], settings: ScoreSettings,
                  inputs: ProxyInputs | None = None) -> ScoreResult:
    """Each proxy of ``names`` on networks from ``build``: repeat r seeds torch with seed + r, so all
    proxies see the same initialisations; a deterministic proxy is measured once. A NaN/inf value
    or a failed eigensolve marks that proxy bad (value NaN) instead of raising."""
    inputs = inputs or settings.inputs()
    result = ScoreResult(values={})
    for name in names:
        proxy = get_proxy(name)
        start = time.perf_counter()
        samples = []
        try:
            for repeat in range(settings.repeats if proxy.stochastic else 1):
                torch.manual_seed(settings.seed + repeat)
                samples.append(proxy.fn(build(), inputs))
            result.values[name] = _average(samples)
        except BadTopology:
            result.values[name] = math.nan
            result.bad.append(name)
        result.seconds[name] = time.perf_counter() - start
    return result


# --- parallel evaluation -----------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _worker_inputs(settings: ScoreSettings) -> ProxyInputs:
    """The proxy inputs of ``settings``, built once per worker process."""
    return settings.inputs()


def _measure(settings: ScoreSettings, arch: Any, name: str, repeat: int) -> tuple[float | None, float]:
    """One (architecture, proxy, repeat) task on a worker: (value or None if bad, seconds)."""
    from ..models import build_network

    start = time.perf_counter()
    torch.manual_seed(settings.seed + repeat)
    try:
        value = get_proxy(name).fn(build_network(arch, settings.num_classes, settings.image_size),
                                   _worker_inputs(settings))
    except BadTopology:
        value = None
    return value, time.perf_counter() - start


@dataclass
class PendingScore:
    """The proxies of one architecture being measured by a :class:`ProxyPool`."""

    futures: dict[str, list[Future]]

    def result(self) -> ScoreResult:
        """Wait for every repeat; combine them exactly as :func:`score_network` does."""
        result = ScoreResult(values={})
        for name, futures in self.futures.items():
            samples = [task_result(future, f"measuring {name}") for future in futures]
            result.seconds[name] = sum(seconds for _, seconds in samples)
            if any(value is None for value, _ in samples):
                result.values[name] = math.nan
                result.bad.append(name)
            else:
                result.values[name] = _average([value for value, _ in samples])
        return result


class ProxyPool:
    """The workers of ``engine`` (local processes or a Dask cluster, each task on one torch thread)
    measuring the proxies of architectures passed by value (a ``Topology`` or ``AutoFormerArch``,
    rebuilt on the worker with ``build_network``).

    A task is one (architecture, proxy, repeat): the repeats of one architecture run side by side and
    a batch of architectures keeps every worker busy. Repeat r seeds torch with seed + r and the
    repeats are averaged in order, as in :func:`score_network`, so the values agree with the
    single-process path up to the rounding of a different thread count. The workers know the
    proxies registered when ``asvit.proxies`` is imported, and read the NTK batch's images from
    the same path (a shared file system on a cluster)."""

    def __init__(self, settings: ScoreSettings, engine: Engine) -> None:
        self.settings = settings
        self._task_settings = settings.on_workers()
        self._stack = ExitStack()
        self._executor = self._stack.enter_context(engine.executor())

    def submit(self, arch: Any, names: Sequence[str]) -> PendingScore:
        """Queue every (proxy, repeat) of ``arch``; unknown proxy names fail here, before any work."""
        futures = {}
        for name in names:
            repeats = self.settings.repeats if get_proxy(name).stochastic else 1
            futures[name] = [self._executor.submit(_measure, self._task_settings, arch, name, r)
                             for r in range(repeats)]
        return PendingScore(futures)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> ProxyPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class ScoreJob:
    """One architecture to score: its id, its text form, a builder of fresh networks and, for
    scoring on worker processes, the architecture itself."""

    id: str
    arch: str
    build: Callable[[], nn.Module]
    architecture: Any = None

    @classmethod
    def of(cls, architecture: Any, settings: ScoreSettings, id: str | None = None) -> ScoreJob:
        """The job for an architecture object, networks built with ``build_network``."""
        from ..models import build_network

        return cls(id or str(architecture), str(architecture),
                   lambda: build_network(architecture, settings.num_classes, settings.image_size),
                   architecture)


def score_jobs(jobs: Sequence[ScoreJob], names: Sequence[str], settings: ScoreSettings,
               pool: ProxyPool | None = None) -> Iterator[ScoreResult]:
    """The proxies of each job, yielded in order as they complete: in this process with
    :func:`score_network` when ``pool`` is None, else all queued at once on the pool (the jobs
    must then carry ``architecture``)."""
    if pool is None:
        inputs = settings.inputs()
        for job in jobs:
            yield score_network(job.build, names, settings, inputs)
        return
    if any(job.architecture is None for job in jobs):
        raise ValueError("scoring on worker processes needs ScoreJob.architecture")
    pending = [pool.submit(job.architecture, names) for job in jobs]
    for item in pending:
        yield item.result()


class ScoreTable(ResumableTable):
    """The score CSV: ``id``, ``arch``, one column per proxy and ``bad``; continued by a rerun with
    the same proxies, settings and proxy code (see :class:`~asvit.table.ResumableTable`)."""

    def __init__(self, path: Path, names: Sequence[str], settings: ScoreSettings, seconds: Path | None = None) -> None:
        super().__init__(path, [*names, "bad"], {"proxies": list(names), "settings": asdict(settings),
                                                 "code": source_digest(*MEASUREMENT_CODE)}, seconds)


def score_records(jobs: Sequence[ScoreJob], names: Sequence[str], settings: ScoreSettings, out: Path,
                  progress: bool = True, engine: Engine = Engine(), seconds: Path | None = None) -> dict[str, object]:
    """Score every job not yet in ``out``, appending one row each as it completes; returns a summary
    with the mean seconds per architecture of each proxy, over the rows scored in this call and those
    resumed from the ledger ``seconds`` (see :class:`~asvit.table.ResumableTable`).
    A parallel ``engine`` measures on a :class:`ProxyPool` (the jobs must carry ``architecture``)."""
    timed = [name for name in names if get_proxy(name).timed]
    if timed and engine.parallel:
        raise AsvitError(f"proxy {', '.join(timed)} times the machine, so it is measured alone: set "
                         "proxy.workers: 1 and executor.engine: local")
    with ExitStack() as stack:  # the engine is reached before the table is touched
        pool = stack.enter_context(ProxyPool(settings, engine)) if engine.parallel else None
        table = ScoreTable(out, names, settings, seconds)
        done = table.resume({job.id: job.arch for job in jobs})
        todo = [job for job in jobs if job.id not in done]
        bad = 0
        results = score_jobs(todo, names, settings, pool)
        for job, result in tqdm(zip(todo, results), total=len(todo), desc="score", unit="arch",
                                disable=not progress):
            table.append({"id": job.id, "arch": job.arch, **result.values, "bad": ";".join(result.bad)},
                         result.seconds)
            bad += bool(result.bad)
    return {
        "architectures": len(jobs),
        "scored_now": len(todo),
        "resumed": len(done),
        "bad_architectures": bad,
        "seconds_per_architecture": table.mean_seconds(),
    }


def score_file(archs: Path, space: str, names: Sequence[str], settings: ScoreSettings, out: Path,
               progress: bool = True, engine: Engine = Engine(), seconds: Path | None = None) -> dict[str, object]:
    """Score the architecture records of ``archs`` (``asvit`` or ``autoformer`` format) into ``out``,
    on the workers of ``engine`` when it is parallel. The records and the proxy names are checked before
    any scoring; ``seconds`` is the per-row cost ledger, as in :func:`score_records`."""
    from ..records import read_records

    jobs = [ScoreJob.of(r.arch, settings, r.id) for r in read_records(archs, space)]
    return score_records(jobs, names, settings, out, progress, engine, seconds)
