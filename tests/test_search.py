"""Seed search: REINFORCE against a known optimum, the reward and baseline against hand-computed
values, the cache, resume after an interruption, the baselines, parallel scoring, clear errors."""

from __future__ import annotations

import math
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from asvit.config import ConfigError, SearchParams, parse_params
from asvit.executor import Engine
from asvit.fingerprint import source_digest
from asvit.proxies.scoring import ScoreResult, ScoreSettings
from asvit.search.baselines import SearchFailed
from asvit.search.cache import ScoreCache, shared_cache_path
from asvit.search.objective import RankAggregateObjective
from asvit.search.policy import ReinforceSearch
from asvit.search.ranking import rank_select
from asvit.search.reward import REWARD_METRICS, EMABaseline, WindowedReward
from asvit.search.runner import run_search
from asvit.search.scorer import ProxyScorer
from asvit.space import DECISIONS, Topology
from asvit.table import total_seconds
from asvit.validation import live_registries

from .conftest import PAPER_SEED

ROOT = Path(__file__).resolve().parents[1]
TARGET = Topology.parse(PAPER_SEED)
EPS = 1e-6


def matches(topology: Topology) -> int:
    return sum(a == b for a, b in zip(topology.decisions, TARGET.decisions))


class FakeScorer:
    """L^E = number of decisions equal to TARGET's, kappa = 100 minus that, flops = the first kernel:
    the best topology under the paper's reward is TARGET. Counts measurements per topology and per
    (topology, proxy), each taking one second; ``fail_at`` raises on that call (an interruption)."""

    def __init__(self, fail_at: int | None = None, bad: Callable[[Topology], bool] = lambda t: False) -> None:
        self.calls = 0
        self.measured: dict[str, int] = {}
        self.proxies_measured: dict[tuple[str, str], int] = {}
        self.fail_at = fail_at
        self.bad = bad

    def __call__(self, topologies, names):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        for t in topologies:
            self.measured[str(t)] = self.measured.get(str(t), 0) + 1
            n = float(matches(t))
            values = {"length_distortion": n, "ntk_cond": math.nan if self.bad(t) else 100.0 - n,
                      "flops": float(t.kernels[0])}
            for name in names:
                self.proxies_measured[str(t), name] = self.proxies_measured.get((str(t), name), 0) + 1
            yield ScoreResult({name: values[name] for name in names}, seconds={name: 1.0 for name in names})


@pytest.mark.parametrize("seed", [0, 1])
def test_reinforce_converges_to_the_known_best_topology(seed):
    result = run_search(SearchParams(steps=300, seed=seed), FakeScorer(), {"fake": True}, progress=False)
    assert result.seed_topology == TARGET
    assert result.values == {"length_distortion": 13.0, "ntk_cond": 87.0}
    assert result.history[-1]["entropy"] < result.history[0]["entropy"] / 3


def test_reward_normalisation_matches_hand_computed_values():
    reward = WindowedReward(window=3)
    le, kappa = [1.0, 3.0, 2.0, 6.0], [10.0, 8.0, 9.0, 5.0]
    got = [reward.update({"length_distortion": a, "ntk_cond": b})[0] for a, b in zip(le, kappa)]
    # r_1: L^E (3-1)/range{1,3}=1, kappa (8-10)/range{10,8}=-1; r_2: -0.5 - 0.5; r_3 drops the
    # first values from the window of 3: L^E (6-2)/range{3,2,6}=1, kappa (5-9)/range{8,9,5}=-1.
    expected = [0.0, 2 / (2 + EPS) + 2 / (2 + EPS), -1 / (2 + EPS) - 1 / (2 + EPS), 4 / (4 + EPS) + 4 / (4 + EPS)]
    assert got == pytest.approx(expected, rel=1e-12)


def test_bad_values_take_the_worst_value_seen_in_their_direction():
    reward = WindowedReward(window=20)
    r0, used0 = reward.update({"length_distortion": math.nan, "ntk_cond": math.nan})
    assert r0 == 0.0 and all(math.isnan(v) for v in used0.values())  # nothing seen yet
    r1, _ = reward.update({"length_distortion": 2.0, "ntk_cond": 5.0})
    assert r1 == 0.0  # no previous known value: no change to reward
    reward.update({"length_distortion": 4.0, "ntk_cond": 3.0})
    r3, used3 = reward.update({"length_distortion": math.nan, "ntk_cond": math.nan})
    assert used3 == {"length_distortion": 2.0, "ntk_cond": 5.0}  # smallest L^E, largest kappa
    assert r3 == pytest.approx((2 - 4) / (2 + EPS) - (5 - 3) / (2 + EPS))


def test_bias_corrected_baseline_matches_hand_computed_values():
    baseline = EMABaseline(0.9)
    # n = 0.9 n + 0.1 r, d = 0.9 d + 0.1: b = 0/0.1, 0.2/0.19, 0.08/0.271
    assert [baseline.update(r) for r in (0.0, 2.0, -1.0)] == pytest.approx([0.0, 0.2 / 0.19, 0.08 / 0.271])


def test_policy_gradient_uses_the_baseline_updated_with_this_reward():
    method = ReinforceSearch(SearchParams(seed=3))
    method.baseline.update(0.5)
    topology = method.propose()
    actions = [d.choices.index(v) for d, v in zip(DECISIONS, topology.decisions)]
    probs = [torch.softmax(theta.detach(), 0) for theta in method.policy.logits]
    method.observe(topology, {}, reward=2.0)
    advantage = 2.0 - (0.9 * 0.1 * 0.5 + 0.1 * 2.0) / (0.9 * 0.1 + 0.1)
    for theta, p, a in zip(method.policy.logits, probs, actions):
        # d(-log pi(a) * advantage)/d theta_d = -(onehot(a_d) - softmax(theta_d)) * advantage
        expected = -(torch.nn.functional.one_hot(torch.tensor(a), len(p)).float() - p) * advantage
        torch.testing.assert_close(theta.grad, expected)


def test_no_topology_is_measured_twice_and_hits_are_counted():
    scorer = FakeScorer()
    result = run_search(SearchParams(steps=300), scorer, {"fake": True}, progress=False)
    assert max(scorer.measured.values()) == 1
    distinct = len({row["topology"] for row in result.history})
    assert result.cache_hits == 300 - distinct > 0


@pytest.mark.parametrize("method", ["reinforce", "evolution"])
def test_an_interrupted_search_resumes_and_ends_as_an_uninterrupted_one(tmp_path, method):
    params = SearchParams(steps=60, population=8, tournament=3)
    full = run_search(params, FakeScorer(), {"fake": True}, tmp_path / "full", progress=False, method=method)
    with pytest.raises(KeyboardInterrupt):
        run_search(params, FakeScorer(fail_at=25), {"fake": True}, tmp_path / "cut", progress=False, method=method,
                   cache_dir=tmp_path / "cache")
    resumed_scorer = FakeScorer()
    resumed = run_search(params, resumed_scorer, {"fake": True}, tmp_path / "cut", progress=False, method=method,
                         cache_dir=tmp_path / "cache")
    assert resumed.history == full.history
    assert (resumed.seed_topology, resumed.cache_hits) == (full.seed_topology, full.cache_hits)
    assert sum(resumed_scorer.measured.values()) < len({r["topology"] for r in full.history})  # cache reused


def test_changed_params_start_over_and_more_steps_continue(tmp_path):
    state = tmp_path / "state"
    run_search(SearchParams(steps=20, learning_rate=0.05), FakeScorer(), {"fake": True}, state, progress=False)
    changed = run_search(SearchParams(steps=30), FakeScorer(), {"fake": True}, state, progress=False)
    fresh = run_search(SearchParams(steps=30), FakeScorer(), {"fake": True}, progress=False)
    assert changed.history == fresh.history
    longer = run_search(SearchParams(steps=40), FakeScorer(), {"fake": True}, state, progress=False)
    assert longer.history == run_search(SearchParams(steps=40), FakeScorer(), {"fake": True},
                                        progress=False).history


def test_the_source_digest_follows_the_code(tmp_path, monkeypatch):
    module = tmp_path / "probe_module.py"
    module.write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = source_digest("probe_module")
    module.write_text("x = 2\n")
    assert source_digest("probe_module") != before


def test_a_cache_of_other_measurement_settings_is_not_reused(tmp_path):
    path = tmp_path / "cache.json"
    ScoreCache(path, {"image_size": 64}, REWARD_METRICS).scores([TARGET], FakeScorer())
    assert TARGET in ScoreCache(path, {"image_size": 64}, REWARD_METRICS)
    assert TARGET not in ScoreCache(path, {"image_size": 224}, REWARD_METRICS)
    assert TARGET not in ScoreCache(path, {"image_size": 64}, [*REWARD_METRICS, "flops"])  # flops never measured


def test_the_shared_cache_never_measures_a_topology_twice_across_searches(tmp_path):
    scorer, params = FakeScorer(), SearchParams(steps=40)
    paper = run_search(params, scorer, {"fake": True}, progress=False, method="random", cache_dir=tmp_path)
    aggregate = run_search(params, scorer, {"fake": True}, progress=False, method="random", cache_dir=tmp_path,
                           objective=RankAggregateObjective(["length_distortion", "flops"]))
    run_search(params, scorer, {"fake": True}, progress=False, method="reinforce", cache_dir=tmp_path)
    assert max(scorer.proxies_measured.values()) == 1
    assert aggregate.measured == len({r["topology"] for r in aggregate.history})  # flops was new to each
    assert {name for _, name in scorer.proxies_measured} == {*REWARD_METRICS, "flops"}
    rerun = FakeScorer()
    run_search(params, rerun, {"fake": True}, progress=False, method="random", cache_dir=tmp_path)
    assert rerun.calls == 0
    # each search's cost counts its own proxies of every topology it drew, whoever measured them
    assert total_seconds(paper.ledger) == 2 * len({r["topology"] for r in paper.history})
    assert total_seconds(aggregate.ledger) == 3 * len({r["topology"] for r in aggregate.history})
    assert [*tmp_path.iterdir()] == [shared_cache_path(tmp_path, {"fake": True})]


@pytest.mark.parametrize("method", ["random", "evolution"])
def test_baselines_return_the_rank_rule_winner_of_what_they_measured(method):
    result = run_search(SearchParams(steps=80, population=10, tournament=4), FakeScorer(),
                        {"fake": True}, progress=False, method=method)
    measured = {row["topology"]: row for row in result.history}
    best = list(measured)[rank_select(list(measured.values()))]
    assert result.seed_topology == Topology.parse(best)
    assert matches(result.seed_topology) == max(matches(Topology.parse(t)) for t in measured)


def test_evolution_improves_on_its_random_start():
    result = run_search(SearchParams(steps=150, population=20, tournament=5), FakeScorer(),
                        {"fake": True}, progress=False, method="evolution")
    start = max(matches(Topology.parse(r["topology"])) for r in result.history[:20])
    assert matches(result.seed_topology) > start


def test_a_search_of_only_bad_topologies_says_which_key_to_raise():
    everything_bad = FakeScorer(bad=lambda t: True)
    with pytest.raises(SearchFailed, match="search.steps"):
        run_search(SearchParams(steps=3), everything_bad, {"fake": True}, progress=False, method="random")


def test_the_pool_measures_what_one_process_measures():
    topology = Topology.parse(PAPER_SEED).scaled(width=8)
    settings = ScoreSettings(image_size=32, repeats=2, num_classes=10)
    with ProxyScorer(settings) as serial, ProxyScorer(settings, Engine.local(2)) as pool:
        one = list(serial([topology], REWARD_METRICS))[0].values
        [two, again] = [result.values for result in pool([topology, topology], REWARD_METRICS)]
    assert two == again
    assert two == pytest.approx(one, rel=1e-5)


@pytest.mark.parametrize("group, key, value", [
    ("outcome", "methods", ["annealing"]), ("search", "steps", 0), ("search", "learning_rate", 0),
    ("search", "baseline_momentum", 1.0), ("search", "tournament", 50), ("search", "mutation_rate", 2),
    ("proxy", "workers", 0), ("search", "episodes", 3),
])
def test_bad_search_params_name_the_key(group, key, value):
    with pytest.raises(ConfigError, match=rf"params\.yaml: {group}\.{key}: "):
        parse_params({group: {key: value}}, "params.yaml", live_registries())


def test_the_search_stage_rejects_bad_params_before_any_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text("search:\n  steps: 0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["search.py", "asvit", "reinforce"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "stages/search.py"), run_name="__main__")
    assert exit_info.value.code == 2
    assert "search.steps" in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists()
