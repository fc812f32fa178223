"""Scaling rule: the rank rule and its tie-break on fixed tables, the candidates, both stop
conditions, resume, clear errors, and the search and grow stages end to end."""

from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from asvit.config import ConfigError, GrowParams, parse_params
from asvit.scaling import (ALL_BAD, NOTHING_FITS, TARGET_REACHED, GrowError, grow_candidates, grow_family,
                           read_seed_topology)
from asvit.proxies.scoring import ScoreResult
from asvit.search.ranking import rank_select
from asvit.space import Topology
from asvit.validation import live_registries

from .conftest import PAPER_SEED

ROOT = Path(__file__).resolve().parents[1]
SEED = Topology.parse(PAPER_SEED)


def row(kappa: float, le: float) -> dict[str, float]:
    return {"ntk_cond": kappa, "length_distortion": le}


def measured(kappa: float, le: float) -> ScoreResult:
    """What a scorer returns for ``row(kappa, le)``, each proxy taking a second."""
    return ScoreResult(row(kappa, le), seconds={"ntk_cond": 1.0, "length_distortion": 1.0})


def test_the_lowest_rank_sum_wins_with_dense_ranks():
    # kappa ranks (ascending, dense) 0,0,1,2; L^E ranks (descending) 1,2,0,0: sums 1,2,1,2 -> tie of rows
    # 0 and 2, spreads kappa (2-1)/2 > L^E (0.9-0.8)/0.9, so the smaller kappa (row 0) wins.
    table = [row(1.0, 0.8), row(1.0, 0.7), row(2.0, 0.9), row(3.0, 0.9)]
    assert rank_select(table) == 0
    assert rank_select([row(5.0, 0.1), row(1.0, 0.9), row(2.0, 0.5)]) == 1


def test_a_tie_goes_to_the_smaller_kappa_when_kappa_spreads_more():
    assert rank_select([row(2.0, 0.6), row(1.0, 0.5)]) == 1  # spreads: kappa 0.5, L^E 0.17


def test_a_tie_goes_to_the_larger_length_distortion_when_it_spreads_more():
    # spreads: kappa 0.1/1.1, L^E 0.8/0.9; the official code's argmin would take row 0
    assert rank_select([row(1.0, 0.1), row(1.1, 0.9)]) == 1


def test_a_tie_is_broken_over_all_tied_candidates_not_the_first_two():
    # three-way tie (sums 2,2,2); L^E spreads more (0.89 vs 0.67) and its best is the third row
    assert rank_select([row(1.0, 0.1), row(2.0, 0.2), row(3.0, 0.9)]) == 2


def test_the_spread_is_measured_over_the_tied_candidates_only():
    # rows 0 and 1 tie (sums 1,1); row 2 (sum 4) would make L^E spread most if it were counted
    assert rank_select([row(1.0, 0.5), row(2.0, 0.6), row(3.0, 0.01)]) == 0


def test_bad_candidates_take_no_part():
    assert rank_select([row(math.nan, 9.0), row(2.0, 0.1), row(1.0, math.nan)]) == 1
    assert rank_select([row(math.nan, 1.0)]) is None


def test_the_official_tie_break_takes_the_smaller_value_of_the_first_two_tied():
    # the same tables as above: official mode takes L^E's minimum, compares rows 0 and 1 only, and
    # measures the spread over all candidates (row 2 makes L^E spread most)
    assert rank_select([row(1.0, 0.1), row(1.1, 0.9)], tie_break="official") == 0
    assert rank_select([row(1.0, 0.1), row(2.0, 0.2), row(3.0, 0.9)], tie_break="official") == 0
    assert rank_select([row(1.0, 0.5), row(2.0, 0.6), row(3.0, 0.01)], tie_break="official") == 0
    assert rank_select([row(2.0, 0.6), row(1.0, 0.5)], tie_break="official") == 1  # kappa decides: as fixed
    assert rank_select([row(5.0, 0.1), row(1.0, 0.9), row(2.0, 0.5)], tie_break="official") == 1  # no tie


def official_selection(values: list[tuple[float, float]]) -> int:
    """A line-by-line transcription of the official grow step's choice (search/grow.py of
    VITA-Group/AsViT) over (kappa, L^E) pairs in candidate order: the index it returns."""
    reward2choice = {"ntk": [(k, i) for i, (k, _) in enumerate(values)],
                     "exp": [(e, i) for i, (_, e) in enumerate(values)]}
    rankings = {i: [] for i in range(len(values))}
    for name, descending in (("ntk", False), ("exp", True)):
        reward2choice[name] = sorted(reward2choice[name], key=lambda t: t[0], reverse=descending)
        for idx, (value, choice) in enumerate(reward2choice[name]):
            if idx == 0:
                rankings[choice].append(idx)
            elif value == reward2choice[name][idx - 1][0]:
                rankings[choice].append(rankings[reward2choice[name][idx - 1][1]][-1])
            else:
                rankings[choice].append(rankings[reward2choice[name][idx - 1][1]][-1] + 1)
    rankings_sum = sorted(rankings.items(), key=lambda t: sum(t[1]))
    if len(rankings_sum) > 1 and sum(rankings_sum[0][1]) == sum(rankings_sum[1][1]):
        ranges = []
        for name in ("ntk", "exp"):
            column = [v for v, _ in reward2choice[name]]
            ranges.append((name, (max(column) - min(column)) / max(column)))
        target = sorted(ranges, key=lambda t: t[1], reverse=True)[0][0]
        column = 0 if target == "ntk" else 1
        target_list = [values[rankings_sum[0][0]][column]]
        for idx in range(1, len(rankings_sum)):
            if sum(rankings_sum[idx - 1][1]) == sum(rankings_sum[idx][1]):
                target_list.append(values[rankings_sum[idx][0]][column])
            break
        return rankings_sum[int(np.argmin(target_list))][0]
    return rankings_sum[0][0]


@pytest.mark.parametrize("seed", range(300))
def test_the_official_mode_matches_the_official_selection_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 17))
    # few distinct values, so that equal values and rank-sum ties are common
    values = [(float(k), float(e)) for k, e in zip(rng.integers(1, 6, size) * 10.0, rng.integers(1, 6, size) / 10)]
    assert rank_select([row(k, e) for k, e in values], tie_break="official") == official_selection(values)


def test_grow_tie_break_is_validated():
    assert GrowParams(tie_break="official").tie_break == "official"
    with pytest.raises(ConfigError, match="grow.tie_break"):
        parse_params({"grow": {"tie_break": "paper"}}, registries=live_registries())


def test_candidates_add_one_block_per_stage_times_distinct_widths():
    small = grow_candidates((1, 1, 1, 1), 8, [0.05, 0.10, 0.15, 0.20])
    assert sorted({w for _, w in small}) == [8, 9, 10]  # round(8.4), round(8.8) = round(9.2), round(9.6)
    assert len(small) == 12 and small[:3] == [((2, 1, 1, 1), 8), ((2, 1, 1, 1), 9), ((2, 1, 1, 1), 10)]
    assert len(grow_candidates((1, 2, 3, 1), 20, [0.05, 0.10, 0.15, 0.20])) == 16


class Table:
    """Fake proxies at proxy width h: stage-2 depth and width raise L^E and lower kappa, so the rule
    always grows stage 2 at the widest width. Fake parameters: 1000 * blocks * real width."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, topologies, names):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        for t in topologies:
            yield measured(100.0 - 10 * t.depths[1] - t.width, 10.0 * t.depths[1] + t.width)

    @staticmethod
    def params(topology: Topology) -> int:
        return 1000 * sum(topology.depths) * topology.width

    @staticmethod
    def macs(topology: Topology) -> int:
        return 7 * Table.params(topology)


def grow(params: GrowParams, scorer=None, state_dir=None):
    return grow_family(SEED, params, scorer or Table(), {"fake": True}, 10, state_dir, progress=False,
                       counters=(Table.params, Table.macs), cache_dir=state_dir)


def shape(member) -> tuple[tuple[int, ...], int]:
    proxy = Topology.parse(member.proxy_topology)
    return proxy.depths, proxy.width


def test_growth_stops_once_a_member_reaches_the_target():
    result = grow(GrowParams(targets=[300_000], max_params=10**9))
    assert result.stop_reason == TARGET_REACHED
    # h: 8 -> round(9.6) = 10 -> 12 -> round(14.4) = 14; params 1000 * blocks * 4h
    assert [shape(m) for m in result.members] == [((1, 1, 1, 1), 8), ((1, 2, 1, 1), 10), ((1, 3, 1, 1), 12),
                                                  ((1, 4, 1, 1), 14)]
    assert [m.params for m in result.members] == [128_000, 200_000, 288_000, 392_000]
    assert [m.name for m in result.members] == ["asvit-g00", "asvit-g01", "asvit-g02", "asvit-g03"]
    last = result.members[-1]
    assert last.topology == SEED.scaled((1, 4, 1, 1), width=56).scaled_string() and last.macs == 7 * 392_000
    assert (last.length_distortion, last.ntk_cond) == (54.0, 46.0)


def test_growth_stops_when_no_candidate_fits():
    result = grow(GrowParams(targets=[300_000], max_params=300_000))
    assert result.stop_reason == NOTHING_FITS  # after (1,3,1,1) at h 12, every candidate has > 350k
    assert [shape(m) for m in result.members][-1] == ((1, 3, 1, 1), 12)


def test_candidates_over_the_parameter_limit_are_dropped():
    result = grow(GrowParams(targets=[150_000], max_params=190_000))
    assert shape(result.members[1]) == ((1, 2, 1, 1), 9)  # the winner at h 10 (200k) is over the limit
    assert result.stop_reason == TARGET_REACHED and len(result.members) == 2


def test_growth_stops_when_every_candidate_is_bad():
    def bad_after_start(topologies, names):
        for t in topologies:
            yield measured(math.nan if sum(t.depths) > 4 else 1.0, 1.0)

    result = grow(GrowParams(targets=[10**6], max_params=10**6), bad_after_start)
    assert result.stop_reason == ALL_BAD and len(result.members) == 1


def test_an_interrupted_growth_resumes_and_ends_the_same(tmp_path):
    params = GrowParams(targets=[300_000], max_params=10**9)
    full = grow(params)
    with pytest.raises(KeyboardInterrupt):
        grow(params, Table(fail_at=3), tmp_path)
    resumed_scorer = Table()
    resumed = grow(params, resumed_scorer, tmp_path)
    assert resumed.members == full.members
    assert resumed_scorer.calls == 2  # two steps were saved before the interruption
    assert grow(params, Table(fail_at=1), tmp_path).members == full.members  # done: nothing measured


def test_a_seed_over_the_parameter_limit_names_the_key():
    with pytest.raises(GrowError, match=r"grow\.max_params = 100000 is below the 128000 parameters"):
        grow(GrowParams(targets=[50_000], max_params=100_000))


@pytest.mark.parametrize("text, message", [
    (None, "seed file not found"), ("{", "not valid JSON"), ('{"steps": 3}', "expected a JSON object with a 'seed'"),
    ('{"seed": "8,2,3|4,1,2|4,1,4|4,1,6|33"}', "seed: .*field 13 \\(H\\)"),
])
def test_a_bad_seed_file_is_named(tmp_path, text, message):
    path = tmp_path / "seed.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(GrowError, match=rf"{path}: {message}"):
        read_seed_topology(path)


@pytest.mark.parametrize("key, value", [("targets", [2 * 10**8]), ("targets", [3e5, 2e5]),
                                        ("width_ratios", [0.1, -0.1]),
                                        ("image_size", 100), ("proxy_width", 0), ("depth", 2)])
def test_bad_grow_params_name_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"params\.yaml: grow\.{key}: "):
        parse_params({"grow": {key: value}}, "params.yaml")


def test_the_search_and_grow_stages_write_the_seed_and_the_family(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(
        "proxy:\n  image_size: 32\n  repeats: 1\n  num_classes: 10\n  inputs: noise\nsearch:\n  steps: 3\n"
        "grow:\n  proxy_width: 2\n  max_params: 400000\n  targets: [250000]\n  image_size: 32\n"
        "  seed_file: artifacts/seeds/asvit-reinforce.json\noutcome:\n  objectives: [asvit]\n")
    monkeypatch.chdir(tmp_path)
    # one MLflow store for all (conftest's MLFLOW_TRACKING_URI)
    for stage, arguments in (("objectives", []), ("search", ["asvit", "reinforce"]), ("grow", [])):
        monkeypatch.setattr(sys, "argv", [f"{stage}.py", *arguments])
        runpy.run_path(str(ROOT / f"stages/{stage}.py"), run_name="__main__")
    seed = Topology.parse(json.loads((tmp_path / "artifacts/seeds/asvit-reinforce.json").read_text())["seed"])
    header, *rows = (tmp_path / "plots/search/asvit-reinforce.csv").read_text().splitlines()
    assert header == "step,topology,reward,entropy,length_distortion,ntk_cond,bad" and len(rows) == 3
    family = [json.loads(line) for line in (tmp_path / "artifacts/family.jsonl").read_text().splitlines()]
    assert [m["name"] for m in family] == [f"asvit-g{i:02d}" for i in range(len(family))]
    assert Topology.parse(family[0]["topology"]) == seed.scaled(width=8)
    assert all(m["params"] <= 400_000 for m in family) and family[-1]["params"] >= 250_000
    assert len((tmp_path / "plots/family.csv").read_text().splitlines()) == len(family) + 1


def test_the_search_stage_refuses_an_objective_file_of_another_objective(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text("search:\n  steps: 3\n")
    (tmp_path / "artifacts/objectives").mkdir(parents=True)
    (tmp_path / "artifacts/objectives/rank_aggregate.json").write_text('{"objective": "asvit"}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["search.py", "rank_aggregate", "reinforce"])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ROOT / "stages/search.py"), run_name="__main__")
    assert stopped.value.code == 2
    assert ("outcome.objectives: artifacts/objectives/rank_aggregate.json does not describe 'rank_aggregate'; "
            "run the objective stage first (dvc repro search@rank_aggregate-reinforce)") in capsys.readouterr().err
    assert not (tmp_path / "artifacts/seeds").exists()
