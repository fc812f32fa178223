"""The seed-search loop shared by every method (docs/design.md section 7): propose a topology, measure
its proxies through the cache, compute the objective's reward, let the method learn; the state is saved
after every step so an interrupted search resumes and ends exactly as an uninterrupted one."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from ..config import SearchParams
from ..fingerprint import source_digest
from ..registry import Registry
from ..space import Topology
from ..table import Ledger
from .baselines import EvolutionSearch, RandomSearch
from .cache import ScoreCache, Scorer, shared_cache_path
from .objective import Objective, PaperObjective
from .policy import ReinforceSearch
from .reward import REWARD_METRICS
from .state import load_state, save_state


class SearchMethod(Protocol):
    """A seed-search method: proposes topologies, learns from their values, names its result."""

    def entropy(self) -> float: ...

    def propose(self) -> Topology: ...

    def observe(self, topology: Topology, values: Mapping[str, float], reward: float) -> None: ...

    def result(self) -> Topology: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


SEARCH_METHODS: Registry[type[SearchMethod]] = Registry("search method", {
    "reinforce": ReinforceSearch,
    "random": RandomSearch,
    "evolution": EvolutionSearch,
})

# The modules whose code a saved search depends on.
SOURCES = tuple(f"{__package__}.{m}" for m in ("runner", "baselines", "policy", "objective", "reward", "ranking",
                                                "cache", "state"))
HISTORY_COLUMNS = ("step", "topology", "reward", "entropy", *REWARD_METRICS, "bad")


@dataclass
class SearchResult:
    """The seed topology, its proxy values, the per-step history (``HISTORY_COLUMNS``), how many steps drew
    a topology already measured earlier in the search (cache hits), the search's seconds (over all
    resumed runs), how many topologies this run measured (the rest came from the cache), and what
    measuring the objective's proxies of every distinct topology it drew took, whichever search
    measured them (``ledger``: seed string -> {proxy: seconds}; the search's cost, cache or not)."""

    seed_topology: Topology
    values: dict[str, float]
    history: list[dict[str, Any]]
    cache_hits: int
    seconds: float
    measured: int
    ledger: Ledger

    @property
    def steps(self) -> int:
        return len(self.history)


def search_fingerprint(params: SearchParams, method: str, measurement: Mapping[str, Any],
                       objective: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a saved search depends on: the method, every search param except ``steps`` (a longer
    search of the same settings continues a shorter one step for step), the proxy measurement, the
    objective's description and the code."""
    return {"method": method, "search": params.model_dump(exclude={"steps"}), "measurement": dict(measurement),
            "objective": dict(objective or {"objective": "asvit"}), "code": source_digest(*SOURCES)}


def run_search(params: SearchParams, scorer: Scorer, measurement: Mapping[str, Any],
               state_dir: Path | None = None, progress: bool = True, objective: Objective | None = None,
               method: str = "reinforce", cache_dir: Path | None = None,
               too_slow: Callable[[Topology], bool] | None = None) -> SearchResult:
    """Run ``params.steps`` steps of ``method`` maximising ``objective`` (default the paper's reward),
    resuming from ``state_dir/state.pt`` (the method, objective and history) when it holds a search
    with the same settings. Proxy values go through the cache file of ``measurement`` under
    ``cache_dir`` (:func:`~asvit.search.cache.shared_cache_path`), shared by every search and growth
    measured the same way; ``measurement`` describes how ``scorer`` measures. A topology for which
    ``too_slow`` is true (``search.max_latency_ms``) counts as bad: every proxy NaN, the lowest reward."""
    objective = objective or PaperObjective(params.reward_window)
    fingerprint = search_fingerprint(params, method, measurement, objective.description())
    state_path = state_dir / "state.pt" if state_dir else None
    cache = ScoreCache(shared_cache_path(cache_dir, measurement) if cache_dir else None, measurement,
                       objective.proxies)
    search = SEARCH_METHODS.lookup(method)(params, objective)
    history: list[dict[str, Any]] = []
    seconds = 0.0
    saved = load_state(state_path, fingerprint) if state_path else None
    if saved is not None and len(saved["history"]) <= params.steps:
        search.load_state_dict(saved["method"])
        objective.load_state_dict(saved["objective"])
        history, seconds = list(saved["history"]), float(saved["seconds"])
    seen = {row["topology"] for row in history}
    hits = len(history) - len(seen)
    bar = tqdm(total=params.steps, initial=len(history), unit="step", disable=not progress,
               desc=f"search ({method}, {objective.description()['objective']})")
    for step in range(len(history), params.steps):
        start = time.perf_counter()
        entropy = search.entropy()
        topology = search.propose()
        [values] = cache.scores([topology], scorer)
        slow = too_slow is not None and too_slow(topology)
        if slow:
            values = {m: math.nan for m in values}
        r, used = objective.reward(topology, values)
        bad = "latency_ms" if slow else ";".join(m for m in objective.proxies if math.isnan(values[m]))
        search.observe(topology, values, r)
        key = topology.seed_string()
        hits += key in seen
        seen.add(key)
        history.append({"step": step, "topology": key, "reward": r, "entropy": entropy, **used,
                        "bad": bad})
        seconds += time.perf_counter() - start
        if state_path:
            save_state(state_path, fingerprint, {"method": search.state_dict(), "objective": objective.state_dict(),
                                                 "history": history, "seconds": seconds})
        bar.update()
        bar.set_postfix(reward=f"{r:+.3f}", entropy=f"{entropy:.2f}", hits=hits)
    bar.close()
    start = time.perf_counter()
    seed_topology = search.result()
    [values] = cache.scores([seed_topology], scorer)
    drawn = [*dict.fromkeys(row["topology"] for row in history), seed_topology.seed_string()]
    return SearchResult(seed_topology, values, history, hits, seconds + time.perf_counter() - start, cache.scored,
                        {t: cache.spent(Topology.parse(t)) for t in drawn})
