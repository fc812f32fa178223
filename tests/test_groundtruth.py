"""The ground-truth stage: every topology trained with one recipe; an interrupted run resumes,
inside the topology in progress too, and ends with the table of an uninterrupted run."""

from __future__ import annotations

import csv

import pytest

import asvit.groundtruth as groundtruth
from asvit.config import Recipe
from asvit.data import prepare_classification
from asvit.errors import AsvitError
from asvit.executor import Engine
from asvit.models import AutoFormerViT
from asvit.records import ArchRecord
from asvit.space import AutoFormerArch, sample_topologies

RECIPE = Recipe(epochs=2, batch_size=16, lr=1e-3, warmup_epochs=0, phase_ends=None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    prepare_classification("generated", out, image_size=32, seed=0, num_classes=3, train_size=48, val_size=24)
    return out


@pytest.fixture
def records():
    return [ArchRecord(f"arch-{i}", t, {}) for i, t in enumerate(sample_topologies(3, 0))]


def table(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def run(records, data, out, state):
    return groundtruth.train_groundtruth(records, data, RECIPE, width=4, out=out, state_dir=state, progress=False,
                                         seeds=2)


class Stop(Exception):
    pass


def test_resume_after_a_stop_inside_a_topology_matches_an_uninterrupted_run(records, data, tmp_path, monkeypatch):
    full = tmp_path / "full.csv"
    summary = run(records, data, full, tmp_path / "state_full")
    assert {k: v for k, v in summary.items() if k != "train_seconds_per_topology"} == {
        "topologies": 3, "trained_now": 3, "resumed": 0}
    assert summary["train_seconds_per_topology"] > 0

    real_fit = groundtruth.fit
    calls = []

    def stopping_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # the second topology's second seed stops after its first epoch's checkpoint

            def stop(history):
                raise Stop

            kwargs["on_epoch"] = stop
        return real_fit(*args, **kwargs)

    out, state = tmp_path / "gt.csv", tmp_path / "state"
    monkeypatch.setattr(groundtruth, "fit", stopping_fit)
    with pytest.raises(Stop):
        run(records, data, out, state)
    assert len(table(out)) == 1
    assert {p.name for p in (state / "arch-1").iterdir()} == {"seed0", "seed1"}  # the finished seed is kept
    monkeypatch.setattr(groundtruth, "fit", real_fit)
    summary = run(records, data, out, state)
    assert summary["resumed"] == 1 and summary["trained_now"] == 2
    assert table(out) == table(full)
    assert not any(state.iterdir())


def test_worker_processes_train_what_one_process_trains(records, data, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    groundtruth.train_groundtruth(records[:2], data, RECIPE, 4, one, tmp_path / "s1", progress=False)
    groundtruth.train_groundtruth(records[:2], data, RECIPE, 4, two, tmp_path / "s2", progress=False,
                                  engine=Engine.local(2))
    assert table(two) == table(one)  # the same rows in the same order


def test_accuracies_are_recorded(records, data, tmp_path):
    out = tmp_path / "gt.csv"
    run(records[:1], data, out, tmp_path / "state")
    row = table(out)[0]
    assert row["id"] == "arch-0" and row["arch"] == str(records[0].arch)
    assert 0 <= float(row["val_top1"]) <= 100 and float(row["val_top1"]) <= float(row["val_top5"])
    for column in ("val_top1", "val_top5"):  # the mean of the two seeds' accuracies
        assert float(row[column]) == pytest.approx((float(row[f"{column}_seed0"]) + float(row[f"{column}_seed1"])) / 2)
    assert list(row) == ["id", "arch", *groundtruth.table_columns(2)]


def test_bad_input_fails_before_any_training(records, data, tmp_path):
    with pytest.raises(AsvitError, match="run the `data` stage"):
        run(records, tmp_path / "nothing", tmp_path / "gt.csv", tmp_path / "state")
    autoformer = ArchRecord("af", AutoFormerArch(32, 1, (1,), (2.0,), patch_size=5, head_dim=8), {})
    with pytest.raises(AsvitError, match="groundtruth: record 'af' has patch size 5, which does not divide the 32 px"):
        run([*records, autoformer], data, tmp_path / "gt.csv", tmp_path / "state")
    with pytest.raises(AsvitError, match="groundtruth.recipe.phase_ends: progressive re-tokenization needs"):
        groundtruth.train_groundtruth([ArchRecord("af", AutoFormerArch(32, 1, (1,), (2.0,), patch_size=4), {})],
                                      data, RECIPE.model_copy(update={"phase_ends": [0.2, 0.4], "epochs": 5}), 4,
                                      tmp_path / "gt.csv", tmp_path / "state", progress=False)
    big_batch = RECIPE.model_copy(update={"batch_size": 1000})
    with pytest.raises(AsvitError, match="groundtruth.recipe.batch_size"):
        groundtruth.train_groundtruth(records, data, big_batch, 4, tmp_path / "gt.csv", tmp_path / "state",
                                      progress=False)
    assert not (tmp_path / "gt.csv").exists()


def test_autoformer_space_networks_train_as_they_are(data, tmp_path):
    archs = [AutoFormerArch(16, 1, (1,), (2.0,), patch_size=8, head_dim=8),
             AutoFormerArch(24, 2, (2, 1), (2.0, 3.0), patch_size=8, head_dim=8)]
    out = tmp_path / "gt.csv"
    summary = groundtruth.train_groundtruth([ArchRecord(f"af-{i}", a, {}) for i, a in enumerate(archs)], data,
                                            RECIPE, 4, out, tmp_path / "state", progress=False)
    assert summary["trained_now"] == 2
    rows = table(out)
    assert [r["arch"] for r in rows] == [str(a) for a in archs]  # the width argument applies to As-ViT only
    assert [int(r["params"]) for r in rows] == [
        sum(p.numel() for p in AutoFormerViT(a, num_classes=3, image_size=32).parameters()) for a in archs]
