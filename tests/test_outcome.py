"""The design payoff (``outcome``): percentile, regret and seed noise against hand-made tables, the
picks read from the searches' seed files and ledgers, one training row per distinct architecture,
and the summary's verdict."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from asvit.models import DeiTArch
from asvit.outcome.picks import Pick, distinct_records, reference_picks, search_picks, supernet_pick
from asvit.outcome.standing import Z95, difference_interval, percentile, regret, seed_noise
from asvit.outcome.summary import outcome_summary, plot_rows
from asvit.space import AutoFormerArch, Topology

from .conftest import PAPER_SEED

POPULATION = [30.0, 32.0, 32.0, 35.0, 40.0]
A, B, C = (Topology.parse(t) for t in (PAPER_SEED, "4,2,3|4,1,2|4,1,4|4,1,6|32", "8,2,3|4,1,2|4,1,4|4,1,6|16"))
DEIT = DeiTArch(4, 16, 4, 1)


@pytest.mark.parametrize("value, beaten, behind_best", [
    (32.0, 40.0, 8.0),    # beats 30, ties the two 32s (half each): 2 of 5
    (41.0, 100.0, -1.0),  # beats everything: a negative regret
    (29.0, 0.0, 11.0),
    (40.0, 90.0, 0.0),    # ties the best
])
def test_percentile_and_regret_match_a_hand_made_table(value, beaten, behind_best):
    assert percentile(value, POPULATION) == pytest.approx(beaten)
    assert regret(value, POPULATION) == pytest.approx(behind_best)


def test_the_seed_noise_pools_each_architectures_variance_across_seeds():
    per_seed = pd.DataFrame([[30.0, 32.0], [35.0, 35.0], [40.0, 36.0]])  # variances 2, 0, 8
    assert seed_noise(per_seed) == pytest.approx(math.sqrt(10 / 3))
    assert math.isnan(seed_noise(per_seed[[0]]))  # one seed tells nothing about the noise
    assert difference_interval(2.0, 2) == pytest.approx(Z95 * 2.0)


def write_search(tmp_path, name, topology, seconds):
    (tmp_path / "seeds").mkdir(exist_ok=True)
    (tmp_path / "ledgers").mkdir(exist_ok=True)
    (tmp_path / "seeds" / f"{name}.json").write_text(json.dumps({"seed": topology.seed_string()}))
    (tmp_path / "ledgers" / f"{name}.json").write_text(json.dumps({"t1": {"length_distortion": seconds},
                                                                   "t2": {"ntk_cond": seconds}}))


def test_search_picks_cost_their_ledger_and_the_learned_ranker_its_labels(tmp_path):
    write_search(tmp_path, "asvit-reinforce", A, 1.5)
    write_search(tmp_path, "predictor-reinforce", B, 2.0)
    picks = search_picks(["asvit", "predictor"], ["reinforce"], tmp_path / "seeds", tmp_path / "ledgers", 100.0)
    assert [(p.name, p.kind, p.arch, p.find_seconds) for p in picks] == [
        ("asvit-reinforce", "search", A, 3.0), ("predictor-reinforce", "search", B, 104.0)]
    with pytest.raises(Exception, match="asvit-random.json: seed file not found"):
        search_picks(["asvit"], ["random"], tmp_path / "seeds", tmp_path / "ledgers", 0.0)


def test_the_supernet_pick_reads_either_space(tmp_path):
    path = tmp_path / "supernet_seed.json"
    path.write_text(json.dumps({"seed": PAPER_SEED, "method": "supernet-evolution"}))
    assert supernet_pick(path, "asvit", 5.0) == Pick("supernet", "supernet", A, 5.0)
    arch = AutoFormerArch(32, 2, (1, 2), (2.0, 3.0), patch_size=4, head_dim=16)
    path.write_text(json.dumps({**arch.to_record(), "method": "supernet-evolution", "params": 1}))
    assert supernet_pick(path, "autoformer", 5.0).arch == arch


def test_picks_of_one_architecture_share_one_training_row():
    picks = [Pick("asvit-reinforce", "search", A, 1.0), Pick("asvit-random", "search", B, 1.0),
             Pick("rank_aggregate-random", "search", B, 1.0), Pick("asvit_paper", "reference", A, 0.0)]
    records = distinct_records(picks)
    assert [r.arch for r in records] == [A, B] and [r.id for r in records] == [picks[0].id, picks[1].id]
    assert picks[0].id != picks[1].id and len(picks[0].id) == 12


def test_references_are_built_for_the_target():
    [paper, deit] = reference_picks(["asvit_paper", "deit"], 1_200_000, 32, 10)
    assert (paper.arch, paper.kind, paper.find_seconds) == (A, "reference", 0.0)
    assert str(deit.arch).startswith("deit:p4,")


def trained(rows):
    """A training table (indexed by id) from {id: (seed 0, seed 1, params)}."""
    return pd.DataFrame([{"id": rid, "val_top1": (s0 + s1) / 2, "val_top1_seed0": s0, "val_top1_seed1": s1,
                          "params": params} for rid, (s0, s1, params) in rows.items()]).set_index("id")


def test_the_summary_names_the_best_method_and_whether_it_wins_beyond_the_noise():
    sampled = trained({f"arch-{i}": (v - 1, v + 1, 1000) for i, v in enumerate(POPULATION)})  # sigma = sqrt(2)
    picks = [Pick("asvit-reinforce", "search", A, 10.0), Pick("predictor-reinforce", "search", B, 50.0),
             Pick("supernet", "supernet", C, 20.0), Pick("deit", "reference", DEIT, 0.0)]
    rows = trained({picks[0].id: (33.0, 35.0, 10), picks[1].id: (40.0, 42.0, 20), picks[2].id: (30.0, 30.0, 30),
                    picks[3].id: (35.0, 37.0, 40)})
    summary = outcome_summary(picks, rows, sampled, {p.name: 100 * i for i, p in enumerate(picks)}, 2, 250)
    best = summary["picks"]["predictor-reinforce"]
    assert best == {"kind": "search", "arch": str(B), "params": 20, "macs": 100, "top1": 41.0,
                    "top1_seeds": [40.0, 42.0], "interval95": pytest.approx(Z95 * math.sqrt(2) / math.sqrt(2)),
                    "percentile": 100.0, "regret": -1.0, "find_seconds": 50.0}
    assert summary["sampled"] == {"count": 5, "median_top1": 32.0, "best_top1": 40.0, "median_macs": 250}
    assert summary["seed_noise"] == pytest.approx(math.sqrt(2))
    assert summary["best_method"] == "predictor-reinforce"
    assert summary["margins"] == {"over_next_method": 7.0, "over_best_reference": 5.0}
    assert summary["difference_interval95"] == pytest.approx(Z95 * math.sqrt(2))  # 2.77 points
    assert summary["beyond_noise"] == {"over_next_method": True, "over_best_reference": True}
    plotted = plot_rows(summary, sampled, {f"arch-{i}": i for i in range(5)})
    assert [r["kind"] for r in plotted] == ["sampled"] * 5 + ["search", "search", "supernet", "reference"]
    assert plotted[5] == {"name": "asvit-reinforce", "kind": "search", "macs": 0, "top1": 34.0}

