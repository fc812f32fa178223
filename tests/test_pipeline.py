"""The DVC pipeline end to end on a tiny profile, in a scratch copy of the repository: stages run,
outputs and MLflow runs appear, and a parameter change re-runs only the stages that read it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY = {"data": {"train_size": 64, "val_size": 32, "num_classes": 3},
        "sample": {"count": 4, "seed": 1},
        "proxy": {"image_size": 32, "repeats": 1, "batch_size": 4, "names": ["params", "length_distortion"]},
        "groundtruth": {"width": 4, "recipe": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0}},
        "kendall": {"resamples": 50}}


def dvc(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo)
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for group, values in TINY.items():
        for key, value in values.items():
            if isinstance(value, dict):
                params[group][key].update(value)
            else:
                params[group][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    return repo


def test_sample_and_score_run_cache_and_track(repo):
    out = dvc(repo, "repro", "score")
    assert "Running stage 'sample'" in out and "Running stage 'score'" in out
    assert len((repo / "artifacts/topologies.jsonl").read_text().splitlines()) == 4
    assert len((repo / "artifacts/scores.csv").read_text().splitlines()) == 5
    assert "seconds_per_architecture" in (repo / "metrics/score.json").read_text()

    runs = mlflow.search_runs(experiment_names=["asvit"])
    assert sorted(runs["tags.stage"]) == ["sample", "score"]
    assert set(runs["params.proxy.repeats"].dropna()) == {"1"}

    assert "didn't change" in dvc(repo, "repro", "score")

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["proxy"]["repeats"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    out = dvc(repo, "repro", "score")
    assert "Running stage 'score'" in out and "Running stage 'sample'" not in out


def test_kendall_measures_every_proxy_against_trained_accuracy(repo):
    out = dvc(repo, "repro", "kendall")
    for stage in ("data", "sample", "score", "groundtruth", "kendall"):
        assert f"Running stage '{stage}'" in out
    result = json.loads((repo / "metrics/kendall.json").read_text())
    assert set(result) == {"params", "length_distortion"}
    assert result["params"]["n"] == 4 and -1 <= result["params"]["kendall_tau"] <= 1
    plot = (repo / "plots/kendall.csv").read_text().splitlines()
    assert plot[0] == "id,params,length_distortion,accuracy" and len(plot) == 5
    assert len((repo / "artifacts/groundtruth.csv").read_text().splitlines()) == 5


def test_invalid_params_stop_the_stage_and_keep_outputs(repo):
    dvc(repo, "repro", "sample")
    before = (repo / "artifacts/topologies.jsonl").read_text()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["sample"]["count"] = 0
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, "stages/sample.py"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 2
    assert "params.yaml: sample.count: Input should be greater than or equal to 1" in result.stderr
    assert (repo / "artifacts/topologies.jsonl").read_text() == before
