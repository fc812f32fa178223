"""The scaling rule (docs/design.md section 8): grow the seed into a family, one block and one width
step at a time, choosing each step by the training-free proxies.

Start from the seed with depth 1 per stage at proxy width h (real width ``width_scale`` * h).
Each step's candidates add one block to one of the four stages, combined with
h' = round(h (1 + r)) for each ratio r (duplicates dropped: at most 16). Candidates whose real
model has more than ``max_params`` parameters are dropped; the rest are measured at proxy width
and the rank rule picks one (:func:`asvit.search.ranking.rank_select`, shared with the search). Growth stops when no
candidate fits, when every candidate is bad, or once the chosen model's budget (``budget``: its
parameters, its MACs or its forward latency on ``hardware.*``, all at real width) reaches the largest
of ``targets``.

Members are named ``asvit-gNN`` with NN the number of growth steps: ``asvit-g00`` is the seed
itself at real width, ``asvit-g01`` the model after the first step, and so on. Each target names the
largest member within it (:func:`assign_targets`); a target below the seed names none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..config import GrowParams
from ..deploy.latency import Latency, LatencySettings, measure_latency
from ..errors import AsvitError
from ..fingerprint import source_digest
from ..models import ASViT
from ..models.counting import count_flops
from ..search.cache import ScoreCache, Scorer, shared_cache_path
from ..search.ranking import RANK_METRICS, rank_select
from ..search.state import load_state, save_state
from ..space import Topology, TopologyError

Depths = tuple[int, int, int, int]
SizeCounter = Callable[[Topology], int]
LatencyMeter = Callable[[Topology], Latency]

# The modules whose code a saved growth depends on.
SOURCES = (__name__, "asvit.search.ranking", "asvit.search.cache", "asvit.search.state")

TARGET_REACHED = "target reached"
NOTHING_FITS = "no candidate fits"
ALL_BAD = "every candidate is bad"


class GrowError(AsvitError):
    """The growth cannot start (e.g. the seed alone is over the parameter limit)."""


def member_name(step: int) -> str:
    """``asvit-gNN``: the family member after ``step`` growth steps."""
    return f"asvit-g{step:02d}"


def grow_candidates(depths: Sequence[int], width: int, ratios: Sequence[float]) -> list[tuple[Depths, int]]:
    """(depths, h') for one more block in each stage x h' = round(h (1 + r)), duplicate widths
    dropped; stage-major order."""
    widths = list(dict.fromkeys(round(width * (1 + r)) for r in ratios))
    return [(tuple(d + (i == stage) for i, d in enumerate(depths)), w) for stage in range(4) for w in widths]


def real_size_counters(num_classes: int, image_size: int) -> tuple[SizeCounter, SizeCounter]:
    """Counters of the parameters and of the multiply-accumulates (FLOPs / 2) of one
    ``image_size`` image through the As-ViT network of a topology with ``num_classes`` outputs."""

    @lru_cache(maxsize=None)
    def count_params(topology: Topology) -> int:
        with torch.device("meta"):  # shapes only: nothing allocated or initialised
            return sum(p.numel() for p in ASViT(topology, num_classes=num_classes).parameters())

    def count_macs(topology: Topology) -> int:
        return count_flops(ASViT(topology, num_classes=num_classes), image_size) // 2

    return count_params, count_macs


def real_latency_meter(num_classes: int, settings: LatencySettings) -> LatencyMeter:
    """The forward latency on ``settings`` of the As-ViT network of a topology (freshly initialised:
    latency does not depend on the weights' values)."""
    settings.torch_device()  # an unreachable device fails before any growth

    def time_network(topology: Topology) -> Latency:
        return measure_latency(ASViT(topology, num_classes=num_classes), settings)

    return time_network


def seed_latency_limit(limit_ms: float, params: GrowParams, num_classes: int,
                       settings: LatencySettings) -> Callable[[Topology], bool]:
    """``search.max_latency_ms``: whether a topology's seed network (depth 1 per stage) at real width
    ``width_scale`` * ``proxy_width`` is slower than ``limit_ms`` on ``settings``; each topology is timed once."""
    time_network = real_latency_meter(num_classes, settings)

    @lru_cache(maxsize=None)
    def too_slow(topology: Topology) -> bool:
        seed = topology.scaled((1, 1, 1, 1), width=params.width_scale * params.proxy_width)
        return time_network(seed).median_ms > limit_ms

    return too_slow


@dataclass(frozen=True)
class Member:
    """A family member: its name, growth step, scaled topology at real width and at proxy width,
    parameters and MACs at real width, L^E and kappa measured at proxy width, its forward latency at
    real width (median and interquartile range, measured under a latency budget only) and the
    targets it is the member for."""

    name: str
    step: int
    topology: str
    proxy_topology: str
    params: int
    macs: int
    length_distortion: float
    ntk_cond: float
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    targets: tuple[float, ...] = ()


def assign_targets(members: Sequence[Member], budget: str, targets: Sequence[float]) -> list[Member]:
    """``members`` with each target given to the largest member whose ``budget`` (the field of that
    name) is within it; growth order is budget order for params and MACs, and for latency the
    largest is the latest member within the target."""
    chosen: dict[int, list[float]] = {}
    for target in targets:
        within = [i for i, m in enumerate(members) if getattr(m, budget) <= target]
        if within:
            chosen.setdefault(within[-1], []).append(target)
    return [replace(m, targets=tuple(chosen.get(i, ()))) for i, m in enumerate(members)]


@dataclass
class GrowResult:
    """The family in growth order, why growth stopped, the candidates answered from the cache in
    this run, and the growth's seconds (over all resumed runs)."""

    members: list[Member]
    stop_reason: str
    cache_hits: int
    seconds: float


def grow_fingerprint(seed_topology: Topology, params: GrowParams, measurement: Mapping[str, Any],
                     num_classes: int) -> dict[str, Any]:
    """What a saved growth depends on: the seed topology, every grow param, the measurement and the code."""
    return {"seed": seed_topology.seed_string(), "grow": params.model_dump(), "measurement": dict(measurement),
            "num_classes": num_classes, "code": source_digest(*SOURCES)}


class Grower:
    """Runs the scaling rule from ``seed_topology`` with a proxy ``scorer``, counters of parameters and
    MACs at real width (see :func:`real_size_counters`; injectable for tests) and, under a latency
    budget, a latency meter at real width (:func:`real_latency_meter`)."""

    def __init__(self, seed_topology: Topology, params: GrowParams, scorer: Scorer, count_params: SizeCounter,
                 count_macs: SizeCounter, progress: bool = False, time_network: LatencyMeter | None = None) -> None:
        if params.budget == "latency_ms" and time_network is None:
            raise GrowError("grow.budget: latency_ms needs a latency meter")
        self.seed_topology = seed_topology
        self.params = params
        self.scorer = scorer
        self.count_params = count_params
        self.count_macs = count_macs
        self.time_network = time_network
        self.progress = progress

    def real(self, depths: Sequence[int], width: int) -> Topology:
        return self.seed_topology.scaled(tuple(depths), width=self.params.width_scale * width)

    def proxy(self, depths: Sequence[int], width: int) -> Topology:
        return self.seed_topology.scaled(tuple(depths), width=width)

    def member(self, step: int, depths: Sequence[int], width: int, values: Mapping[str, float]) -> Member:
        real = self.real(depths, width)
        latency = self.time_network(real) if self.time_network else None
        return Member(member_name(step), step, real.scaled_string(), self.proxy(depths, width).scaled_string(),
                      self.count_params(real), self.count_macs(real),
                      values["length_distortion"], values["ntk_cond"],
                      latency.median_ms if latency else None, latency.iqr_ms if latency else None)

    def check_start(self) -> int:
        """Parameters of the start model; an error naming ``grow.max_params`` if it is over the limit."""
        start = self.count_params(self.real((1, 1, 1, 1), self.params.proxy_width))
        if start > self.params.max_params:
            raise GrowError(f"grow.max_params = {self.params.max_params} is below the {start} parameters of "
                            f"the seed at real width {self.params.width_scale * self.params.proxy_width}")
        return start

    def step(self, current: Member, cache: ScoreCache) -> Member | str:
        """The next member after ``current``, or the reason growth stops."""
        if getattr(current, self.params.budget) >= self.params.targets[-1]:
            return TARGET_REACHED
        proxy = Topology.parse(current.proxy_topology)
        fitting = [(d, w) for d, w in grow_candidates(proxy.depths, proxy.width, self.params.width_ratios)
                   if self.count_params(self.real(d, w)) <= self.params.max_params]
        if not fitting:
            return NOTHING_FITS

        def measure(topologies: Sequence[Topology], names: Sequence[str]):
            return tqdm(self.scorer(topologies, names), total=len(topologies), desc=f"step {current.step + 1}",
                        unit="candidate", leave=False, disable=not self.progress)

        values = cache.scores([self.proxy(d, w) for d, w in fitting], measure)
        best = rank_select(values, RANK_METRICS, self.params.tie_break)
        if best is None:
            return ALL_BAD
        return self.member(current.step + 1, *fitting[best], values[best])

    def run(self, cache: ScoreCache, state_path: Path | None = None,
            fingerprint: Mapping[str, Any] | None = None) -> GrowResult:
        """Grow until a stop condition, saving the family after every step to ``state_path`` and
        resuming from it when it was written with the same ``fingerprint``."""
        fingerprint = dict(fingerprint or {})
        saved = load_state(state_path, fingerprint) if state_path else None
        members = [Member(**{**m, "targets": tuple(m["targets"])}) for m in saved["members"]] if saved else []
        stop: str | None = saved["stop"] if saved else None
        seconds = float(saved["seconds"]) if saved else 0.0
        self.check_start()  # before any measurement
        bar = tqdm(desc="grow", unit="member", initial=len(members), disable=not self.progress)
        while stop is None:
            start = time.perf_counter()
            if not members:
                first = self.proxy((1, 1, 1, 1), self.params.proxy_width)
                [values] = cache.scores([first], self.scorer)
                outcome: Member | str = self.member(0, first.depths, first.width, values)
            else:
                outcome = self.step(members[-1], cache)
            if isinstance(outcome, Member):
                members.append(outcome)
                bar.update()
                bar.set_postfix(params=f"{outcome.params / 1e6:.2f}M", macs=f"{outcome.macs / 1e9:.2f}G",
                                **({"ms": f"{outcome.latency_ms:.2f}"} if outcome.latency_ms is not None else {}))
            else:
                stop = outcome
            seconds += time.perf_counter() - start
            if state_path:
                save_state(state_path, fingerprint,
                           {"members": [asdict(m) for m in members], "stop": stop, "seconds": seconds})
        bar.close()
        return GrowResult(assign_targets(members, self.params.budget, self.params.targets), stop, cache.hits, seconds)


def grow_family(seed_topology: Topology, params: GrowParams, scorer: Scorer, measurement: Mapping[str, Any],
                num_classes: int, state_dir: Path | None = None, progress: bool = True,
                counters: tuple[SizeCounter, SizeCounter] | None = None, cache_dir: Path | None = None,
                latency: LatencySettings | None = None, time_network: LatencyMeter | None = None) -> GrowResult:
    """Grow ``seed_topology`` into its family, resuming from ``state_dir/state.pt`` (the members so far)
    when it holds a growth with the same settings; proxy values go through the shared cache file of
    ``measurement`` under ``cache_dir`` (as in the search). ``measurement`` describes how ``scorer``
    measures; ``counters`` default to the real networks' parameter and MAC counts at ``params.image_size``.
    Under ``budget: latency_ms``, members are timed on ``latency`` by ``time_network`` (default
    :func:`real_latency_meter`; injectable for tests)."""
    count_params, count_macs = counters or real_size_counters(num_classes, params.image_size)
    fingerprint = grow_fingerprint(seed_topology, params, measurement, num_classes)
    if params.budget == "latency_ms":
        if latency is None:
            raise GrowError("grow.budget: latency_ms needs the hardware.* settings to time on")
        time_network = time_network or real_latency_meter(num_classes, latency)
        fingerprint["latency"] = asdict(latency)
    else:
        time_network = None
    grower = Grower(seed_topology, params, scorer, count_params, count_macs, progress, time_network)
    cache = ScoreCache(shared_cache_path(cache_dir, measurement) if cache_dir else None, measurement, RANK_METRICS)
    return grower.run(cache, state_dir / "state.pt" if state_dir else None, fingerprint)


def read_seed_topology(path: Path) -> Topology:
    """The seed topology of a seed file (``artifacts/seeds/<objective>-<method>.json`` of a search, or the
    supernet evolution's); errors name the file."""
    if not path.is_file():
        raise GrowError(f"{path}: seed file not found; run the search stage first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GrowError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("seed"), str):
        raise GrowError(f"{path}: expected a JSON object with a 'seed' topology string")
    try:
        return Topology.parse(data["seed"])
    except TopologyError as exc:
        raise GrowError(f"{path}: seed: {exc}") from None
