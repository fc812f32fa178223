"""Training: re-tokenization phases and their MACs, exact resume, two-process DDP, bad params.

Also the worker of the two-process test: ``torchrun ... -m tests.test_train OUT`` trains the tiny
setup below under DDP and saves rank 0's result to OUT.
"""

from __future__ import annotations

import json
import math
import os
import runpy
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from asvit.config import ConfigError, Recipe, parse_params
from asvit.models import ASViT
from asvit.space import Topology
from asvit.train import (CheckpointError, ScheduleError, TrainError, asvit_macs, check_fit, dilation_for, distributed,
                         fit, load_model, measured_macs, phase_cost, phase_schedule, relative_macs, save_model,
                         select_members, stage_grids)
from asvit.train.retokenize import phase_at

from .conftest import PAPER_LARGE, PAPER_SEED

REPO = Path(__file__).resolve().parents[1]
TINY = "4,2,3|2,1,2|2,1,4|2,1,6|16"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest single-threaded (and do not fight over a busy machine's cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_data(image_size: int, train: int = 64, val: int = 16, classes: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(train + val, 3, image_size, image_size, generator=gen)
    labels = torch.randint(0, classes, (train + val,), generator=gen)
    return TensorDataset(images[:train], labels[:train]), TensorDataset(images[train:], labels[train:])


def tiny_model(seed: int = 0, drop_path: float = 0.0, classes: int = 4) -> ASViT:
    torch.manual_seed(seed)
    return ASViT(Topology.parse(TINY).scaled(width=8), num_classes=classes, drop_path_rate=drop_path)


def without_timing(history):
    return [{k: v for k, v in asdict(r).items() if k not in ("seconds", "images_per_s")} for r in history]


# --- phases ---------------------------------------------------------------------------------------

def test_dilation_follows_the_formula():
    assert [dilation_for(m, 4) for m in (4, 2, 1)] == [5, 2, 1]  # the paper's K1 = 4
    for kernel in range(4, 9):
        for m in (4, 2, 1):
            d = dilation_for(m, kernel)
            assert abs(d - (m * kernel - 1) / (kernel - 1)) <= 0.5
            assert dilation_for(1, kernel) == 1


def test_phase_schedule_splits_the_epochs():
    phases = phase_schedule(300, 8, [0.27, 0.44])
    assert [(p.stride, p.dilation, p.start, p.end) for p in phases] == [(16, 4, 0, 81), (8, 2, 81, 132),
                                                                        (4, 1, 132, 300)]
    assert [phase_at(phases, e).stride for e in (0, 80, 81, 131, 132, 299)] == [16, 16, 8, 8, 4, 4]
    assert [(p.stride, p.start, p.end) for p in phase_schedule(5, 4, None)] == [(4, 0, 5)]


def test_switching_phases_keeps_tokenizer_weights_and_changes_the_grid():
    model = tiny_model()
    conv = model.tokenizer.conv
    weight, bias = conv.weight, conv.bias
    before = {k: v.clone() for k, v in model.state_dict().items()}
    image = torch.randn(2, 3, 128, 128)
    topology = model.topology
    for phase in phase_schedule(10, topology.kernels[0], [0.3, 0.6]):
        model.set_tokenizer(phase.stride, phase.dilation)
        assert conv.weight is weight and conv.bias is bias
        assert (model.tokenizer.stride, model.tokenizer.dilation) == (phase.stride, phase.dilation)
        maps = model.forward_stages(image)
        assert maps[0].shape[-1] == 128 // phase.stride
        assert tuple(m.shape[-1] for m in maps) == stage_grids(topology, 128, phase.stride)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fit_runs_each_epoch_at_its_phase_and_keeps_the_parameters():
    train_set, val_set = tiny_data(128, train=32, val=8)
    model = tiny_model()
    params = list(model.parameters())
    strides = []
    result = fit(model, train_set, val_set, Recipe(epochs=4, batch_size=16, warmup_epochs=0,
                                                  phase_ends=[0.25, 0.5]),
                 progress=False, on_epoch=lambda history: strides.append(model.tokenizer.stride))
    assert [r.stride for r in result.history] == strides == [16, 8, 4, 4]
    assert [r.dilation for r in result.history] == [5, 2, 1, 1]
    assert list(model.parameters()) == params and all(p.is_leaf for p in params)
    assert model.tokenizer.stride == 4
    assert [r.macs for r in result.history] == [asvit_macs(model.topology, 128, s, 4) for s in strides]


# --- MACs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,width,size", [(TINY, 8, 128), (PAPER_SEED, 8, 160),
                                              ("7,8,2|3,4,5|4,2,6|3,1,3|64", 8, 256)])
def test_phase_macs_relative_to_full_tokenization_match_the_formula(text, width, size):
    topology = Topology.parse(text).scaled(width=width, depths=(1, 2, 1, 1))
    model = ASViT(topology, num_classes=10)
    full = measured_macs(model, size)
    for phase in phase_schedule(10, topology.kernels[0], [0.27, 0.44]):
        measured = measured_macs(model, size, phase.stride, phase.dilation)
        assert measured == asvit_macs(topology, size, phase.stride, 10)
        assert measured / full == pytest.approx(asvit_macs(topology, size, phase.stride, 10)
                                                / asvit_macs(topology, size, 4, 10), rel=1e-12)


def test_paper_models_phase_costs():
    seed, large = Topology.parse(PAPER_SEED), Topology.parse(PAPER_LARGE)
    assert asvit_macs(seed, 224) == pytest.approx(0.49e9, rel=0.01)
    assert asvit_macs(large, 224) == pytest.approx(22.4e9, rel=0.01)
    for topology in (seed, large):
        rel = relative_macs(topology, 224)
        assert rel[4] == 1 and 0 < rel[16] < rel[8] < 0.3
        cost = phase_cost(topology, 224, phase_schedule(300, topology.kernels[0], [0.27, 0.44]))
        assert cost == pytest.approx((81 * rel[16] + 51 * rel[8] + 168) / 300)


# --- checkpoints and resume -----------------------------------------------------------------------

class Interrupt(Exception):
    pass


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    train_set, val_set = tiny_data(128, train=32, val=8)
    recipe = Recipe(epochs=3, batch_size=8, phase_ends=[0.34, 0.67], mixup=0.8, cutmix=1.0, drop_path=0.1,
                    grad_clip=1.0)
    whole = tiny_model(drop_path=0.1)
    reference = fit(whole, train_set, val_set, recipe, progress=False, seed=3)

    def stop_after_first(history):
        if len(history) == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(tiny_model(drop_path=0.1), train_set, val_set, recipe, checkpoint_dir=tmp_path, progress=False,
            seed=3, on_epoch=stop_after_first)
    resumed_model = tiny_model(seed=99, drop_path=0.1)  # a different initialisation: all comes from the file
    resumed = fit(resumed_model, train_set, val_set, recipe, checkpoint_dir=tmp_path, progress=False, seed=3)
    assert resumed.resumed_epochs == 1
    assert without_timing(resumed.history) == without_timing(reference.history)
    final, expected = resumed_model.state_dict(), whole.state_dict()
    assert all(torch.equal(final[k], expected[k]) for k in expected)

    again = fit(tiny_model(seed=5, drop_path=0.1), train_set, val_set, recipe, checkpoint_dir=tmp_path,
                progress=False, seed=3)
    assert again.resumed_epochs == 3 and again.top1 == reference.top1

    changed = fit(tiny_model(drop_path=0.1), train_set, val_set, recipe.model_copy(update={"lr": 2e-3}),
                  checkpoint_dir=tmp_path, progress=False, seed=3)
    assert changed.resumed_epochs == 0


def test_validating_the_last_epoch_only_trains_the_same_weights():
    train_set, val_set = tiny_data(32, train=32, val=8)
    recipe = Recipe(epochs=3, batch_size=8, phase_ends=None)
    every, last = tiny_model(), tiny_model()
    reference = fit(every, train_set, val_set, recipe, progress=False, seed=1)
    result = fit(last, train_set, val_set, recipe, progress=False, seed=1, validate_every_epoch=False)
    assert all(math.isnan(r.val_top1) and math.isnan(r.val_top5) for r in result.history[:-1])
    assert (result.top1, result.top5) == (reference.top1, reference.top5)
    assert [r.loss for r in result.history] == [r.loss for r in reference.history]
    assert all(torch.equal(last.state_dict()[k], v) for k, v in every.state_dict().items())


@pytest.mark.parametrize("content", [b"truncated", None])
def test_a_corrupt_or_refused_checkpoint_stops_with_one_line_that_says_what_to_do(tmp_path, content):
    checkpoint = tmp_path / "asvit-g00" / "last.pt"
    checkpoint.parent.mkdir()
    if content is None:  # a pickle of a class that a weights-only load refuses
        torch.save({"fingerprint": Path("elsewhere")}, checkpoint)
    else:
        checkpoint.write_bytes(content)
    train_set, val_set = tiny_data(32, train=8, val=4)
    with pytest.raises(CheckpointError) as refused:
        fit(tiny_model(), train_set, val_set, Recipe(epochs=1, batch_size=4, warmup_epochs=0, phase_ends=None),
            checkpoint_dir=checkpoint.parent, progress=False)
    message = str(refused.value)
    assert message.startswith(f"{checkpoint}: ") and message.endswith(
        f"; delete {checkpoint.parent} to train this model from scratch")
    assert "\n" not in message and "weights_only" not in message


def test_trained_model_file_round_trip(tmp_path):
    model = tiny_model().eval()
    save_model(tmp_path / "m.pt", model, num_classes=4, name="m", top1=50.0)
    loaded = load_model(tmp_path / "m.pt")
    image = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded.model(image), model(image))
    assert loaded.topology == model.topology and loaded.meta == {"name": "m", "top1": 50.0}


# --- two processes --------------------------------------------------------------------------------

DDP_RECIPE = Recipe(epochs=2, batch_size=16, warmup_epochs=0, phase_ends=None, label_smoothing=0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(out: Path) -> None:
    """Run under torchrun: train the tiny setup data-parallel; rank 0 saves weights and history."""
    torch.set_num_threads(1)
    train_set, val_set = tiny_data(32)
    with distributed() as info:
        model = tiny_model()
        result = fit(model, train_set, val_set, DDP_RECIPE, progress=False, seed=1)
        if info.is_main:
            torch.save(model.state_dict(), out / "weights.pt")
            (out / "history.json").write_text(json.dumps({"world": info.world_size,
                                                          "history": without_timing(result.history)}))


@pytest.mark.e2e
def test_two_process_run_matches_single_process(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
               "127.0.0.1", "--master_port", str(free_port()), "-m", "tests.test_train", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "history.json").read_text())
    assert two["world"] == 2

    train_set, val_set = tiny_data(32)
    model = tiny_model()
    single = fit(model, train_set, val_set, DDP_RECIPE, progress=False, seed=1)
    expected = model.state_dict()
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    for name, value in expected.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-4, atol=1e-5)
    for got, want in zip(two["history"], without_timing(single.history)):
        assert got["images"] == want["images"] == 64
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
        assert got["val_top1"] == pytest.approx(want["val_top1"])
        assert got["lr"] == pytest.approx(want["lr"])


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("train,key", [
    ({"phase_ends": [0.5, 0.3]}, "train.phase_ends"),
    ({"phase_ends": [0.2]}, "train.phase_ends"),
    ({"phase_ends": [0.3, 1.2]}, "train.phase_ends"),
    ({"epochs": 2, "phase_ends": [0.3, 0.9]}, "train.phase_ends"),
    ({"epochs": 3, "warmup_epochs": 3}, "train.warmup_epochs"),
    ({"optimizer": "adamm"}, "train.optimizer"),
    ({"models": ["a", "a"]}, "train.models"),
    ({"batch_size": 0}, "train.batch_size"),
])
def test_bad_train_params_name_the_key(train, key):
    with pytest.raises(ConfigError, match=f"params.yaml: {key}:"):
        parse_params({"train": train}, "params.yaml")


def test_runs_that_cannot_work_are_refused_before_training():
    topology = Topology.parse(TINY).scaled(width=8)
    with pytest.raises(ScheduleError, match=r"train\.phase_ends: at tokenizer stride 16 a 64 px image"):
        check_fit(Recipe(phase_ends=[0.27, 0.44]), topology, 64, 100, key="train")
    check_fit(Recipe(phase_ends=None), topology, 64, 100, key="train")
    with pytest.raises(TrainError, match=r"train\.batch_size: 64 does not split evenly over 3"):
        check_fit(Recipe(phase_ends=None), topology, 64, 100, world_size=3, key="train")
    with pytest.raises(TrainError, match=r"train\.batch_size: Mixup/CutMix needs an even batch"):
        check_fit(Recipe(phase_ends=None, batch_size=6, mixup=0.8), topology, 64, 100, world_size=2, key="train")
    with pytest.raises(TrainError, match=r"train\.batch_size: 64 is larger than the 50 training images"):
        check_fit(Recipe(phase_ends=None), topology, 64, 50, key="train")
    train_set, val_set = tiny_data(64)
    with pytest.raises(ScheduleError, match=r"recipe\.phase_ends"):
        fit(tiny_model(), train_set, val_set, Recipe(phase_ends=[0.27, 0.44]), progress=False)


def test_unknown_family_member_names_the_key(tmp_path):
    family = tmp_path / "family.jsonl"
    family.write_text("".join(json.dumps({"name": f"asvit-g0{i}", "topology": Topology.parse(TINY).scaled(
        width=8 + i).scaled_string()}) + "\n" for i in range(2)))
    chosen = select_members(family, ["asvit-g01"])
    assert chosen == {"asvit-g01": Topology.parse(TINY).scaled(width=9)}
    with pytest.raises(TrainError, match=r"train\.models: unknown model 'asvit-g07'; .* has asvit-g00, asvit-g01"):
        select_members(family, ["asvit-g00", "asvit-g07"])


# --- the train and evaluate stages ----------------------------------------------------------------

def run_stage(name: str) -> None:
    runpy.run_path(str(REPO / "stages" / f"{name}.py"), run_name="__main__")


def test_train_and_evaluate_stages(tmp_path, monkeypatch, capsys):
    from asvit.data import prepare_classification

    monkeypatch.chdir(tmp_path)
    prepare_classification("generated", Path("data/cls"), image_size=32, seed=0, num_classes=4, train_size=48,
                           val_size=24)
    Path("artifacts").mkdir()
    Path("artifacts/family.jsonl").write_text("".join(json.dumps(
        {"name": f"asvit-g0{i}", "topology": Topology.parse(TINY).scaled(width=8 + 4 * i).scaled_string()}) + "\n"
        for i in range(2)))
    params = {"train": {"models": ["asvit-g07"], "epochs": 2, "batch_size": 16, "phase_ends": None},
              "evaluate": {"throughput_batch": 2, "throughput_iters": 1, "warmup_iters": 0},
              "export": {"images": 8}, "hardware": {"image_size": 32}}
    Path("params.yaml").write_text(json.dumps(params))
    with pytest.raises(SystemExit) as refused:
        run_stage("train")
    assert refused.value.code == 2 and not Path("models").exists()
    assert "train.models: unknown model 'asvit-g07'" in capsys.readouterr().err

    params["train"]["models"] = ["asvit-g01"]
    Path("params.yaml").write_text(json.dumps(params))
    run_stage("train")
    summary = json.loads(Path("metrics/train.json").read_text())["asvit-g01"]
    model = load_model("models/asvit-g01.pt")
    assert model.topology == Topology.parse(TINY).scaled(width=12) and model.meta["top1"] == summary["top1"]
    rows = Path("plots/train.csv").read_text().splitlines()
    assert rows[0].startswith("model,epoch,loss,val_top1") and len(rows) == 3
    assert Path("checkpoints/train/asvit-g01/last.pt").is_file()

    run_stage("export")
    exported = json.loads(Path("metrics/export.json").read_text())["asvit-g01"]
    assert exported["verified_images"] == 8 and exported["max_abs_diff"] <= 1e-4
    assert exported["top1_agreement"] == 100.0 and Path("exported/asvit-g01.onnx").is_file()
    run_stage("evaluate")
    report = json.loads(Path("metrics/evaluate.json").read_text())["asvit-g01"]
    assert report["top1"] == pytest.approx(summary["top1"]) and report["macs"] == summary["macs"]
    assert report["latency_ms"] > 0 and report["onnxruntime_latency_ms"] > 0
    assert Path("plots/evaluate.csv").read_text().splitlines()[1].startswith("asvit-g01,")

if __name__ == "__main__":
    ddp_worker(Path(sys.argv[1]))
