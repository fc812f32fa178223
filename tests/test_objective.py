"""Search objectives (``outcome.objectives``): the rank-aggregation and learned-ranker rewards against
hand-computed values, bad topologies, the baselines' choice under each objective, REINFORCE on the
learned ranker, and the objective file the ``objective`` stage writes."""

from __future__ import annotations

import json
import math

import pytest

from asvit.config import ConfigError, SearchParams, parse_params
from asvit.errors import AsvitError
from asvit.search.objective import (PaperObjective, PredictorObjective, RankAggregateObjective, make_objective,
                                    objective_spec)
from asvit.search.runner import run_search
from asvit.space import Topology
from asvit.validation import live_registries

from .test_search import TARGET, FakeScorer, matches

A, B, C = (Topology.parse(s) for s in ("7,2,6|4,1,6|4,1,4|4,1,2|32", "4,2,4|2,1,2|2,2,6|2,1,4|16",
                                       "8,2,2|4,2,4|2,1,2|4,1,6|32"))

# y = 50 + 2 (log(1 + L^E) - mu) / sigma - 0.5 K1: one log proxy and one decision.
RANKER = {"regressor": "ridge", "features": ["log_length_distortion", "K1"], "fitted_on": 3,
          "mean": [0.1, 6.0], "scale": [0.5, 1.0], "alpha": 1.0, "coef": [2.0, -0.5], "intercept": 50.0}


def ranker_value(length_distortion: float, k1: int) -> float:
    return 50.0 + 2.0 * (math.log1p(length_distortion) - 0.1) / 0.5 - 0.5 * (k1 - 6.0)


def values(length_distortion: float, ntk_cond: float = 10.0) -> dict[str, float]:
    return {"length_distortion": length_distortion, "ntk_cond": ntk_cond}


def test_the_predictor_reward_is_the_ranker_prediction_and_a_bad_topology_gets_the_worst_so_far():
    objective = PredictorObjective(RANKER)
    assert objective.proxies == ("length_distortion", "ntk_cond")
    first, recorded = objective.reward(A, values(0.3))
    assert first == pytest.approx(ranker_value(0.3, 7)) and recorded == values(0.3)
    second, _ = objective.reward(B, values(0.9))
    assert second == pytest.approx(ranker_value(0.9, 4))
    bad, _ = objective.reward(C, values(math.nan))
    assert bad == pytest.approx(min(first, second))
    assert objective.best([(A, values(0.3)), (B, values(0.9)), (C, values(math.nan))]) == 1


def test_the_rank_aggregate_reward_ranks_each_topology_among_those_measured_so_far():
    objective = RankAggregateObjective(["length_distortion", "ntk_cond"])
    # L^E higher is better, kappa lower is better; ranks 1 (worst) .. N (best), s = sum log(r / N).
    assert objective.reward(A, values(0.5, 20.0))[0] == pytest.approx(0.0)
    assert objective.reward(B, values(0.2, 10.0))[0] == pytest.approx(math.log(1 / 2) + math.log(2 / 2))
    assert objective.reward(C, values(0.9, 30.0))[0] == pytest.approx(math.log(3 / 3) + math.log(1 / 3))
    worst = min(math.log(1 / 2), math.log(1 / 3))
    assert objective.reward(C, values(math.nan, 30.0))[0] <= worst
    assert objective.best([(A, values(0.5, 20.0)), (B, values(0.2, 10.0)), (C, values(0.9, 5.0))]) == 2
    assert objective.best([(A, values(math.nan))]) is None


@pytest.mark.parametrize("objective", [RankAggregateObjective(["length_distortion", "ntk_cond"]),
                                       PredictorObjective({**RANKER, "coef": [2.0, 0.0]})])
def test_random_search_returns_the_best_topology_under_its_objective(objective):
    result = run_search(SearchParams(steps=60), FakeScorer(), {"fake": True}, progress=False,
                        objective=objective, method="random")
    assert matches(result.seed_topology) == max(matches(Topology.parse(row["topology"])) for row in result.history)


def test_reinforce_on_the_learned_ranker_finds_the_topology_it_predicts_best():
    objective = PredictorObjective({**RANKER, "coef": [2.0, 0.0]})  # prediction rises with L^E = matches
    result = run_search(SearchParams(steps=300), FakeScorer(), {"fake": True}, progress=False, objective=objective)
    assert result.seed_topology == TARGET


def test_an_interrupted_rank_aggregate_search_resumes_exactly_and_only_under_its_objective(tmp_path):
    def aggregate():
        return RankAggregateObjective(["length_distortion", "ntk_cond"])

    params, fake = SearchParams(steps=40), {"fake": True}
    full = run_search(params, FakeScorer(), fake, progress=False, objective=aggregate())
    with pytest.raises(KeyboardInterrupt):
        run_search(params, FakeScorer(fail_at=25), fake, tmp_path, progress=False, objective=aggregate())
    resumed = run_search(params, FakeScorer(), fake, tmp_path, progress=False, objective=aggregate())
    assert resumed.history == full.history and resumed.seed_topology == full.seed_topology
    other = run_search(params, FakeScorer(), fake, tmp_path, progress=False, objective=PaperObjective())
    assert other.history == run_search(params, FakeScorer(), fake, progress=False).history


def test_the_objective_file_holds_only_what_the_objective_reads(tmp_path):
    ranker = tmp_path / "predictor.json"
    assert objective_spec("asvit", ["flops"], ranker) == {"objective": "asvit"}  # no ranker needed
    assert objective_spec("rank_aggregate", ["flops", "ntk_cond"], ranker) == {
        "objective": "rank_aggregate", "proxies": ["flops", "ntk_cond"]}
    with pytest.raises(AsvitError, match="outcome.objectives: predictor needs the fitted ranker .*predictor.json"):
        objective_spec("predictor", [], ranker)
    ranker.write_text(json.dumps(RANKER))
    spec = objective_spec("predictor", [], ranker)
    assert isinstance(make_objective(spec), PredictorObjective) and spec["ranker"] == RANKER
    assert isinstance(make_objective({"objective": "asvit"}), PaperObjective)
    with pytest.raises(AsvitError, match="unknown search objective 'best'"):
        make_objective({"objective": "best"})


def test_an_unknown_search_objective_is_named_with_its_key():
    with pytest.raises(ConfigError, match="outcome.objectives: .*unknown search objective 'flops'"):
        parse_params({"outcome": {"objectives": ["asvit", "flops"]}}, registries=live_registries())
