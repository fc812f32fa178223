"""What a seed search maximises (each of ``outcome.objectives``, docs/design.md section 7).

- ``asvit`` (the paper): the normalised-change reward r_t = delta_t(L^E) - delta_t(kappa) of
  :class:`~asvit.search.reward.WindowedReward`; the baselines pick their best under the rank rule.
- ``rank_aggregate``: r_t = sum_m log(r_m / N_t), the rank aggregation of the topology among the N_t
  measured so far (:func:`asvit.predictors.rank_aggregate`); the best topology has the largest one.
- ``predictor``: r_t = the accuracy the learned ranker (``artifacts/predictor.json``) predicts from
  the topology's log proxies and decisions; the best topology has the largest prediction.

A bad topology (a proxy NaN) gets the lowest reward given so far. The ``objectives`` stage writes
the objective's description (:func:`objective_spec`) to ``artifacts/objectives/<name>.json``, which
the searches read (:func:`make_objective`): a search re-runs only when what it maximises changes.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ..errors import AsvitError
from ..predictors import predict_with, rank_aggregate, ranker_inputs
from ..registry import Registry
from ..space import Topology
from .ranking import rank_select
from .reward import REWARD_METRICS, WindowedReward

Candidate = tuple[Topology, Mapping[str, float]]
"""A measured topology: the topology and its proxy values."""


class Objective(Protocol):
    """The seed search's target: the proxies it needs measured, each step's reward and the best of
    measured candidates (random search, evolution's tournaments)."""

    proxies: tuple[str, ...]

    def reward(self, topology: Topology, values: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """r_t for one measured topology and the L^E and kappa values the search history records."""
        ...

    def best(self, candidates: Sequence[Candidate]) -> int | None:
        """Index of the best candidate; None when every one is bad."""
        ...

    def description(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def _recorded(values: Mapping[str, float]) -> dict[str, float]:
    return {m: float(values[m]) for m in REWARD_METRICS}


class PaperObjective:
    """The As-ViT reward on L^E and kappa; best under the rank rule."""

    proxies = REWARD_METRICS

    def __init__(self, reward_window: int = 20) -> None:
        self.windowed = WindowedReward(REWARD_METRICS, reward_window)

    def reward(self, topology: Topology, values: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        return self.windowed.update(values)

    def best(self, candidates: Sequence[Candidate]) -> int | None:
        return rank_select([values for _, values in candidates])

    def description(self) -> dict[str, Any]:
        return {"objective": "asvit"}

    def state_dict(self) -> dict[str, Any]:
        return self.windowed.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.windowed.load_state_dict(state)


class _ScoredObjective(ABC):
    """An objective that scores each candidate with one number, higher better (subclasses define
    :meth:`scores` and :meth:`latest`); the reward is the step's score, a bad topology's the lowest
    reward given so far (0 before any)."""

    proxies: tuple[str, ...]

    def __init__(self) -> None:
        self.measured: list[Candidate] = []
        self.rewards: list[float] = []

    @abstractmethod
    def scores(self, candidates: Sequence[Candidate]) -> pd.Series:
        """One score per candidate, NaN for a bad one."""

    @abstractmethod
    def latest(self) -> float:
        """The score of the last measured topology."""

    def reward(self, topology: Topology, values: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        self.measured.append((topology, {m: float(values[m]) for m in self.proxies}))
        value = self.latest()
        if math.isnan(value):
            value = min(self.rewards, default=0.0)
        self.rewards.append(float(value))
        return float(value), _recorded(values)

    def best(self, candidates: Sequence[Candidate]) -> int | None:
        scores = self.scores(candidates)
        return None if scores.isna().all() else int(scores.fillna(-math.inf).to_numpy().argmax())

    def state_dict(self) -> dict[str, Any]:
        return {"measured": [[t.seed_string(), dict(v)] for t, v in self.measured], "rewards": list(self.rewards)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.measured = [(Topology.parse(t), dict(v)) for t, v in state["measured"]]
        self.rewards = list(state["rewards"])


def _table(candidates: Sequence[Candidate], proxies: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([{"arch": topology.seed_string(), **{m: float(values[m]) for m in proxies}}
                         for topology, values in candidates])


class RankAggregateObjective(_ScoredObjective):
    """s = sum_m log(r_m / N) of ``proxies`` among the candidates (AZ-NAS's rank aggregation)."""

    def __init__(self, proxies: Sequence[str]) -> None:
        super().__init__()
        self.proxies = tuple(dict.fromkeys([*REWARD_METRICS, *proxies]))
        self.aggregated = tuple(proxies)

    def scores(self, candidates: Sequence[Candidate]) -> pd.Series:
        return rank_aggregate(_table(candidates, self.proxies), self.aggregated, key="objective.proxies")

    def latest(self) -> float:
        return float(self.scores(self.measured).iloc[-1])  # ranks among everything measured so far

    def description(self) -> dict[str, Any]:
        return {"objective": "rank_aggregate", "proxies": list(self.aggregated)}


class PredictorObjective(_ScoredObjective):
    """The accuracy predicted by a ranker saved by :func:`asvit.predictors.fit_ranker`; its inputs are
    its feature groups over the proxies it was fitted on (measured here as in ``score``)."""

    def __init__(self, ranker: Mapping[str, Any]) -> None:
        super().__init__()
        self.ranker = dict(ranker)
        self.fitted = [f.removeprefix("log_") for f in ranker["features"] if f.startswith("log_")]
        self.proxies = tuple(dict.fromkeys([*REWARD_METRICS, *self.fitted]))

    def scores(self, candidates: Sequence[Candidate]) -> pd.Series:
        return predict_with(self.ranker, ranker_inputs(self.ranker, _table(candidates, self.proxies), self.fitted))

    def latest(self) -> float:
        return float(self.scores(self.measured[-1:]).iloc[0])

    def description(self) -> dict[str, Any]:
        return {"objective": "predictor", "ranker": self.ranker}


OBJECTIVES: Registry[Callable[[Mapping[str, Any], int], Objective]] = Registry("search objective", {
    "asvit": lambda spec, window: PaperObjective(window),
    "rank_aggregate": lambda spec, window: RankAggregateObjective(spec["proxies"]),
    "predictor": lambda spec, window: PredictorObjective(spec["ranker"]),
})
"""Objectives by name, each built from its description and ``search.reward_window``."""


def objective_spec(name: str, aggregate: Sequence[str], ranker: Path) -> dict[str, Any]:
    """The description of objective ``name``: only what it uses (``predictor.aggregate`` for the rank
    aggregation, the saved ranker ``ranker`` for the predictor), so other changes leave it equal:
    the objective's own :meth:`~Objective.description`."""
    inputs: dict[str, Any] = {"objective": name, "proxies": list(aggregate)}
    if name == "predictor":
        if not ranker.is_file():
            raise AsvitError(f"outcome.objectives: predictor needs the fitted ranker {ranker}; run the predictor stage")
        inputs["ranker"] = json.loads(ranker.read_text())
    return make_objective(inputs).description()


def make_objective(spec: Mapping[str, Any], reward_window: int = 20) -> Objective:
    """The objective an ``artifacts/objectives/<name>.json`` describes."""
    return OBJECTIVES.lookup(spec.get("objective"))(spec, reward_window)
