import json
import random

import numpy as np
import pandas as pd
import pytest

from asvit.records import RecordError, sample_records
from asvit.space import (DECISIONS, SPACE_SIZE, ArchitectureError, AutoFormerArch, AutoFormerSpace, Topology,
                         TopologyError, mutate, sample_topologies)

from .conftest import PAPER_LARGE, PAPER_SEED


def test_space_size_is_the_papers():
    assert SPACE_SIZE == 4_556_250
    assert len(DECISIONS) == 13


@pytest.mark.parametrize("text", [PAPER_SEED, PAPER_LARGE, "4,4,2|2,2,6|3,2,3|2,1,5|64"])
def test_parse_format_round_trip(text):
    assert str(Topology.parse(text)) == text


def test_scaled_form_fields():
    large = Topology.parse(PAPER_LARGE)
    assert large.depths == (5, 2, 5, 2) and large.width == 180
    assert large.widths == (180, 360, 720, 1024)
    assert large.stage_heads == (4, 8, 16, 32)
    assert large.scaled(width=300).widths == (300, 600, 1024, 1024)  # every stage is capped
    assert large.scaled(width=1100).widths == (1024, 1024, 1024, 1024)
    assert large.seed_string() == PAPER_SEED
    assert Topology.parse(PAPER_SEED).scaled_string() == "8,2,3,1|4,1,2,1|4,1,4,1|4,1,6,1|32,32"


@pytest.mark.parametrize("text, message", [
    ("9,2,3|4,1,2|4,1,4|4,1,6|32", "field 1 (K1) is 9; allowed values: 4, 5, 6, 7, 8"),
    ("8,2,3|4,1,2|4,1,4|4,2,6|32", "field 11 (S4) is 2; allowed values: 1"),
    ("8,2,3|4,1,2|4,1,4|4,1,6|48", "field 13 (H) is 48; allowed values: 16, 32, 64"),
    ("8,2,x|4,1,2|4,1,4|4,1,6|32", "field 3 (E1) is 'x', not an integer"),
    ("8,2,3|4,1,2|4,1,4|4,1,6", "expected 5 groups"),
    ("8,2|4,1,2|4,1,4|4,1,6|32", "group 1 '8,2' has 2 fields; the seed form expects 3 (K1,S1,E1)"),
    ("8,2,3,5|4,1,2,2|4,1,4,5|4,1,6,2|32", "group 5 '32' has 1 fields; the scaled form expects 2 (H,C)"),
    ("8,2,3,0|4,1,2,2|4,1,4,5|4,1,6,2|32,180", "field 4 (L1) is 0; allowed values: any integer >= 1"),
    ("", "expected 5 groups"),
])
def test_malformed_strings_name_the_position(text, message):
    with pytest.raises(TopologyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Topology.parse(text)


def test_sampling_is_seeded_distinct_and_valid():
    first, again, other = sample_topologies(50, 1), sample_topologies(50, 1), sample_topologies(50, 2)
    assert first == again and first != other
    assert len({t.seed_string() for t in first}) == 50
    for topology in first:
        assert Topology.parse(str(topology)) == topology


def test_sampling_covers_every_choice():
    seen = [set() for _ in DECISIONS]
    for topology in sample_topologies(400, 0):
        for i, value in enumerate(topology.decisions):
            seen[i].add(value)
    assert [tuple(sorted(s)) for s in seen] == [d.choices for d in DECISIONS]


def test_mutation_changes_at_least_one_decision_and_keeps_scale():
    rng = random.Random(0)
    base = Topology.parse(PAPER_LARGE)
    for _ in range(100):
        child = mutate(base, rng, probability=0.0)
        changed = sum(a != b for a, b in zip(child.decisions, base.decisions))
        assert changed == 1
        assert child.depths == base.depths and child.width == base.width


def test_autoformer_record_validation():
    arch = AutoFormerArch.from_record({"embed_dim": 192, "depth": 2, "num_heads": [3, 4], "mlp_ratio": [3.5, 4]})
    assert arch.num_heads == (3, 4) and arch.mlp_ratio == (3.5, 4.0)
    with pytest.raises(ArchitectureError, match="num_heads has 1 entries but depth is 2"):
        AutoFormerArch.from_record({"embed_dim": 192, "depth": 2, "num_heads": [3], "mlp_ratio": [3.5, 4]})
    with pytest.raises(ArchitectureError, match="missing field"):
        AutoFormerArch.from_record({"embed_dim": 192})


def test_autoformer_records_carry_patch_and_head_width_only_off_autoformers_defaults():
    paper = AutoFormerArch.from_record({"embed_dim": 192, "depth": 1, "num_heads": [3], "mlp_ratio": [4]})
    assert (paper.patch_size, paper.head_dim) == (16, 64)
    assert paper.to_record() == {"embed_dim": 192, "depth": 1, "num_heads": [3], "mlp_ratio": [4.0]}
    small = AutoFormerArch(32, 1, (2,), (2.0,), patch_size=4, head_dim=16)
    assert small.to_record()["patch_size"] == 4 and small.to_record()["head_dim"] == 16
    assert AutoFormerArch.from_record(small.to_record()) == small
    with pytest.raises(ArchitectureError, match="patch_size must be positive"):
        AutoFormerArch(32, 1, (2,), (2.0,), patch_size=0)


def test_sampling_an_autoformer_space_draws_distinct_records_within_its_size():
    space = AutoFormerSpace((16, 24), (1, 2), (2.0,), (1, 2), patch_size=4, head_dim=8)
    assert space.size == 2 * (2 + 4)  # |E| * sum_d (|heads| |ratios|)^d
    records = sample_records(space, 12, seed=0)
    assert len({json.dumps({k: v for k, v in r.items() if k != "id"}) for r in records}) == 12
    assert all(r["patch_size"] == 4 and r["head_dim"] == 8 for r in records)
    with pytest.raises(RecordError, match="cannot draw 13 distinct architectures from an AutoFormer space of 12"):
        sample_records(space, 13, seed=0)


@pytest.mark.parametrize("space", ["asvit", AutoFormerSpace((16, 24, 32), (1, 2, 3), (2.0, 3.0, 4.0), (2, 3, 4))])
def test_diverse_labels_lie_farther_apart_than_uniform_draws(space):
    from asvit.features import architecture_features, sample_labelled
    from asvit.records import record_text

    def decisions(records) -> np.ndarray:
        return pd.DataFrame([architecture_features(record_text(r)) for r in records]).to_numpy(float)

    reference = decisions(sample_records(space, 160, seed=99))  # one scale for every set compared
    varying = reference.std(axis=0) > 0

    def closest_pair(records) -> float:  # what greedy k-center keeps large
        x = (decisions(records)[:, varying] - reference[:, varying].mean(axis=0)) / reference[:, varying].std(axis=0)
        return float(min(np.linalg.norm(a - b) for i, a in enumerate(x) for b in x[i + 1:]))

    diverse = sample_labelled(space, 16, seed=0, labels="diverse")
    assert [r["id"] for r in diverse] == [f"arch-{i:04d}" for i in range(16)]
    assert len({record_text(r) for r in diverse}) == 16
    assert diverse == sample_labelled(space, 16, seed=0, labels="diverse")
    assert sample_labelled(space, 16, seed=0) == sample_records(space, 16, seed=0)
    assert closest_pair(diverse) > max(closest_pair(sample_records(space, 16, seed)) for seed in range(3))


def test_one_line_cannot_ask_for_a_network_past_the_space_bounds(tmp_path):
    from asvit.records import read_records

    topologies = tmp_path / "topologies.jsonl"
    topologies.write_text(json.dumps({"id": "a", "topology": "8,2,3|4,1,2|4,1,4|4,1,6|32"}) + "\n"
                          + json.dumps({"id": "b", "topology": "8,2,3,1|4,1,2,100000|4,1,4,1|4,1,6,1|32,32"}) + "\n")
    with pytest.raises(RecordError, match=r"topologies.jsonl:2: L2 = 100000: a stage depth must be 1 to 64"):
        read_records(topologies, "asvit")
    assert Topology.parse("8,2,3,1|4,1,2,1|4,1,4,1|4,1,6,1|32,5000").widths == (1024,) * 4  # widths are capped
    archs = tmp_path / "archs.jsonl"
    archs.write_text(json.dumps({"id": "c", "embed_dim": 64, "depth": 100000, "num_heads": [1],
                                 "mlp_ratio": [2.0]}) + "\n")
    with pytest.raises(RecordError, match=r"archs.jsonl:1: depth = 100000 is above the largest allowed, 64"):
        read_records(archs, "autoformer")
    with pytest.raises(ArchitectureError, match=r"mlp_ratio must be above 0 and at most 16.0, got \[1000.0\]"):
        AutoFormerArch(64, 1, (1,), (1000.0,))
