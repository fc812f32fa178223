"""Supernet training and its use: one subnet per step drawn from the seed and the step count, an
interrupted training resuming to identical weights, inherited-weight accuracy equal to that of the
extracted standalone network, the held-out split, the inherited-accuracy table, the setups of both
spaces and the seconds beside every tau."""

from __future__ import annotations

import csv
import random

import pytest
import torch

from asvit.config import Recipe, parse_params
from asvit.cost import ranking_seconds
from asvit.data import open_classification, prepare_classification
from asvit.errors import AsvitError
from asvit.evaluate.accuracy import evaluate_top_k
from asvit.records import ArchRecord
from asvit.space import ArchitectureError, AutoFormerArch, AutoFormerSpace, Topology, TopologyError
from asvit.supernet import (SampledSubnets, SuperAutoFormer, SupernetSpec, extract_asvit_subnet, extract_subnet,
                            heldout_split, inherited_accuracy, sample_subnet)
from asvit.supernet.baseline import score_inherited, subnet_params, train_supernet
from asvit.supernet.spaces import supernet_setup

SPACE = AutoFormerSpace((16, 24), (1, 2), (2.0, 3.0), (1, 2), patch_size=8, head_dim=8)
RECIPE = Recipe(epochs=2, batch_size=16, lr=1e-3, warmup_epochs=0, mixup=0.8, cutmix=1.0, phase_ends=None)
EMBEDDED = {"space": {"name": "autoformer-embedded", "autoformer_embedded": {
    "patch_size": 8, "head_dim": 8, "embed_dims": [16, 24], "heads": [1, 2], "mlp_ratios": [2.0, 3.0],
    "depths": [1, 2]}}, "outcome": {"objectives": ["asvit"]},
    "grow": {"seed_file": "artifacts/seeds/asvit-reinforce.json"}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    prepare_classification("generated", out, image_size=32, seed=0, num_classes=3, train_size=64, val_size=16)
    return out


@pytest.fixture
def split(data):
    return heldout_split(open_classification(data, "train"), 16)


def setup_for(overrides=EMBEDDED):
    return supernet_setup(parse_params(overrides), num_classes=3, image_size=32)


class Stop(Exception):
    pass


def test_the_subnet_of_a_step_is_a_function_of_the_seed_and_the_step():
    torch.manual_seed(0)
    supernet = SuperAutoFormer(SPACE, 3, 32)
    drawn = []
    model = SampledSubnets(supernet, lambda rng: drawn.append(sample_subnet(SPACE, rng)) or drawn[-1],
                           None, SupernetSpec("x", False, True, 8), seed=3).train()
    for _ in range(6):
        model(torch.zeros(2, 3, 32, 32))
    assert int(model.step) == 6 and "step" in model.state_dict()
    assert drawn == [sample_subnet(SPACE, random.Random(f"3:{t}")) for t in range(6)]
    assert len({s.arch for s in drawn}) > 1


def test_an_interrupted_supernet_training_resumes_to_identical_weights(split, tmp_path, monkeypatch):
    train_set, heldout_set = split
    full = setup_for()
    train_supernet(full, train_set, heldout_set, RECIPE, 0, tmp_path / "full", progress=False)

    stopped = setup_for()

    def stop(history):
        raise Stop

    with pytest.raises(Stop):
        train_supernet(stopped, train_set, heldout_set, RECIPE, 0, tmp_path / "cut", progress=False, on_epoch=stop)
    resumed = setup_for()
    result = train_supernet(resumed, train_set, heldout_set, RECIPE, 0, tmp_path / "cut", progress=False)
    assert result.resumed_epochs == 1 and len(result.history) == 2
    expected, got = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert torch.equal(got[name], expected[name]), name
    assert not torch.equal(expected["largest.head.weight"], setup_for().supernet.state_dict()["largest.head.weight"])


def test_inherited_accuracy_is_the_extracted_networks_accuracy(split):
    _, heldout_set = split
    for overrides, extract, arch in (
            (EMBEDDED, extract_subnet, AutoFormerArch(16, 2, (2, 1), (3.0, 2.0), patch_size=8, head_dim=8)),
            ({"groundtruth": {"width": 8}}, extract_asvit_subnet, Topology.parse("4,2,2|2,1,3|3,2,6|2,1,2|16").scaled(width=8))):
        setup = setup_for(overrides)
        standalone = evaluate_top_k(extract(setup.supernet, arch).eval(), heldout_set, sharded=False)
        assert inherited_accuracy(setup.supernet, arch, heldout_set) == standalone
        assert subnet_params(setup, arch) == sum(p.numel() for p in extract(setup.supernet, arch).parameters())


def test_the_heldout_split_is_the_last_images_and_leaves_some_to_train_on(data):
    train = open_classification(data, "train")
    fit_part, heldout = heldout_split(train, 16)
    assert len(fit_part) == 48 and list(heldout.indices) == list(range(48, 64))
    with pytest.raises(AsvitError, match="supernet.heldout: 64 held-out images leave none of the 64"):
        heldout_split(train, 64)
    with pytest.raises(AsvitError, match="supernet.heldout: hold out at least 1 image, got 0"):
        heldout_split(train, 0)


def test_the_inherited_table_resumes_and_refuses_an_architecture_outside_the_supernet(split, tmp_path):
    _, heldout_set = split
    setup = setup_for()
    archs = [AutoFormerArch(16, 1, (1,), (2.0,), patch_size=8, head_dim=8),
             AutoFormerArch(24, 2, (2, 2), (3.0, 2.0), patch_size=8, head_dim=8)]
    records = [ArchRecord(f"a{i}", a, {}) for i, a in enumerate(archs)]
    out = tmp_path / "supernet.csv"
    assert score_inherited(setup, records[:1], heldout_set, out, {"s": 1}, progress=False)["measured_now"] == 1
    summary = score_inherited(setup, records, heldout_set, out, {"s": 1}, progress=False)
    assert (summary["measured_now"], summary["resumed"]) == (1, 1)
    rows = list(csv.DictReader(out.open()))
    assert [float(r["inherited_top1"]) for r in rows] == [
        inherited_accuracy(setup.supernet, a, heldout_set)["top1"] for a in archs]
    too_deep = ArchRecord("deep", AutoFormerArch(16, 3, (1,) * 3, (2.0,) * 3, patch_size=8, head_dim=8), {})
    with pytest.raises(ArchitectureError, match="depth 3 exceeds"):
        score_inherited(setup, [*records, too_deep], heldout_set, out, {"s": 1}, progress=False)
    assert len(list(csv.DictReader(out.open()))) == 2  # refused before the table was touched


def test_the_initial_supernet_is_a_function_of_the_supernet_seed():
    for overrides in (EMBEDDED, {"groundtruth": {"width": 8}}):
        torch.manual_seed(1)
        first = setup_for(overrides).supernet.state_dict()
        torch.manual_seed(2)  # the global random state does not matter ...
        state = torch.get_rng_state()
        again = setup_for(overrides).supernet.state_dict()
        assert torch.equal(torch.get_rng_state(), state)  # ... and is left as it was
        assert all(torch.equal(first[name], again[name]) for name in first)
        other = setup_for({**overrides, "supernet": {"seed": 1}}).supernet.state_dict()
        assert not all(torch.equal(first[name], other[name]) for name in first)


def test_setups_follow_the_space_and_the_vitas_options():
    asvit = setup_for({"groundtruth": {"width": 8}})
    topology = asvit.draw(random.Random(0))
    assert isinstance(topology, Topology) and topology.width == 8
    assert asvit.network(Topology.parse("4,2,2|2,1,3|3,2,6|2,1,2|16")).width == 8
    with pytest.raises(TopologyError, match="groundtruth.width"):
        setup_for({"groundtruth": {"width": 12}})
    plain = setup_for({**EMBEDDED, "supernet": {"vitas": {"identity_shifting": False}}})
    placed = {plain.draw(random.Random(t)).blocks for t in range(50)}
    assert (1,) in placed  # a one-layer subnet may sit on the second block
    cyclic = setup_for({**EMBEDDED, "supernet": {"vitas": {"cyclic_sharing": True}}})
    assert cyclic.supernet.cyclic and "cyclic_sharing=True" in str(cyclic.spec)
    weak = parse_params({"supernet": {"vitas": {"weak_augmentation": True}}}).supernet.training_recipe()
    assert (weak.mixup, weak.cutmix, weak.label_smoothing) == (0.0, 0.0, 0.0)


def test_ranking_seconds_add_up_what_each_predictor_needs():
    seconds = ranking_seconds(10, {"length_distortion": 0.5, "ntk_cond": 2.0, "flops": 0.1}, ["ntk_cond", "flops"],
                              truth_seconds=300.0, supernet_seconds=120.0)
    assert seconds == pytest.approx({"length_distortion": 5.0, "ntk_cond": 20.0, "flops": 1.0,
                                     "rank_aggregate": 21.0, "predictor": 326.0, "supernet": 120.0})
