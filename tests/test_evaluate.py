"""Classification evaluation: top-k accuracy against its definition, size and speed figures."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from asvit.evaluate import correct_top_k, evaluate_classifier, evaluate_top_k, throughput
from asvit.models import ASViT
from asvit.space import Topology
from asvit.train import CheckpointError, asvit_macs, load_model

from .conftest import PAPER_SEED


def reference_top_k(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """100 / N * #{i : fewer than k classes score strictly above the true class}, ties broken by
    sorting (the definition, one sample at a time)."""
    hits = 0
    for row, label in zip(logits.tolist(), labels.tolist()):
        order = sorted(range(len(row)), key=lambda c: -row[c])
        hits += label in order[:k]
    return 100.0 * hits / len(labels)


class Fixed(nn.Module):
    """A 'model' whose logits are the input itself."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize("classes", [3, 10])
def test_top_k_matches_the_definition(classes):
    logits, labels = torch.randn(101, classes), torch.randint(0, classes, (101,))
    dataset = TensorDataset(logits, labels)
    result = evaluate_top_k(Fixed(), dataset, ks=(1, 2, 5), batch_size=17)
    for k in (1, 2, 5):
        assert result[f"top{k}"] == pytest.approx(reference_top_k(logits, labels, k))
    if classes < 5:
        assert result["top5"] == 100.0
    assert correct_top_k(logits, labels, (1,)).item() == (logits.argmax(1) == labels).sum().item()


def test_evaluate_classifier_reports_accuracy_size_and_speed(tiny_topology):
    model = ASViT(tiny_topology, num_classes=10).train()
    images, labels = torch.randn(20, 3, 64, 64), torch.randint(0, 10, (20,))
    report = evaluate_classifier(model, TensorDataset(images, labels), 64, batch_size=8, throughput_batch=4,
                                 throughput_iters=2, warmup_iters=1)
    with torch.no_grad():
        predicted = model.eval()(images)
    assert report["top1"] == pytest.approx(reference_top_k(predicted, labels, 1))
    assert report["top5"] == pytest.approx(reference_top_k(predicted, labels, 5))
    assert report["params"] == sum(p.numel() for p in model.parameters())
    assert report["macs"] == asvit_macs(tiny_topology, 64, num_classes=10)
    assert report["images_per_s"] > 0
    assert set(report) == {"top1", "top5", "params", "macs", "images_per_s"}


def test_throughput_restores_training_mode():
    model = ASViT(Topology.parse(PAPER_SEED).scaled(width=8), num_classes=4).train()
    assert throughput(model, 32, batch_size=2, iters=2, warmup=0) > 0
    assert model.training


def test_bad_model_files_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt: file not found"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: is truncated or corrupt; restore it with `dvc checkout"):
        load_model(tmp_path / "junk.pt")
    torch.save({"state_dict": {}, "topology": "x", "num_classes": 2, "meta": Path("a")}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError) as refused:
        load_model(tmp_path / "foreign.pt")
    message = str(refused.value)
    assert "foreign.pt: was refused as unsafe: it holds objects that a weights-only load does not run" in message
    assert "weights_only=False" not in message and "\n" not in message


class RunsCode:
    """A pickled object that would run a shell command when unpickled without weights_only."""

    def __reduce__(self):
        return (os.system, ("echo ran > ran.txt",))


def test_a_file_that_would_run_code_is_refused_as_unsafe_not_called_corrupt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"state_dict": {}, "payload": RunsCode()}, tmp_path / "payload.pt")
    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"state_dict": {}, "payload": RunsCode()}))
    for name in ("payload.pt", "plain.pt"):  # torch's zip format, and a plain pickle
        with pytest.raises(CheckpointError, match=f"{name}: was refused as unsafe"):
            load_model(tmp_path / name)
    assert not (tmp_path / "ran.txt").exists()
    torch.save({"state_dict": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="partial.pt: not a trained-model file"):
        load_model(tmp_path / "partial.pt")
