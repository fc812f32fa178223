"""Scratch copies of the project for tests that run real DVC commands: the pipeline files, a tiny
profile of params.yaml, a git repository with one commit, and DVC initialised with the project's
own config (default remote) and plot templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLEAN = "Data and pipelines are up to date."  # what `dvc status` prints when nothing would run
NO_STORE = {"MLFLOW_TRACKING_URI": None}  # stage runs log to the project's own store, as for a user
# Every stage of the default pipeline in seconds: 4 topologies, 1 epoch, a 3-step search, a supernet
# evolved over 2 generations of 4, no growth, a detector trained for one epoch on 8 generated images.
TINY = {"data": {"train_size": 64, "val_size": 32, "num_classes": 3},
        "sample": {"count": 4, "seed": 1},
        "proxy": {"image_size": 32, "repeats": 1, "batch_size": 4, "workers": 1,
                  "names": ["length_distortion", "ntk_cond", "params", "flops", "synflow", "dss"]},
        "groundtruth": {"width": 16, "workers": 1, "recipe": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0}},
        "supernet": {"heldout": 16, "recipe": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0},
                     "evolution": {"population": 4, "generations": 2, "parents": 2, "mutations": 1, "crossovers": 1}},
        "kendall": {"resamples": 50, "top_k": [2, 3]},
        "predictor": {"folds": 2, "curve": [2], "curve_draws": 2},
        "search": {"steps": 3},
        "grow": {"max_params": 3_000_000, "targets": [1], "image_size": 32,
                 "seed_file": "artifacts/seeds/asvit-reinforce.json"},  # a family that does not follow the ground truth
        "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0},
        "evaluate": {"batch_size": 32, "throughput_batch": 2, "throughput_iters": 1, "warmup_iters": 0},
        "export": {"images": 8},
        "hardware": {"image_size": 32},
        "detect": {"out_channels": 32, "min_size": 64, "max_size": 64, "anchor_sizes": [8, 16, 32, 64, 128],
                   "examples": 2, "eval_batch_size": 4,
                   "recipe": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0},
                   "data": {"image_size": 64, "train_size": 8, "val_size": 4, "num_categories": 3, "max_objects": 3}}}


def merge(params: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with ``overrides`` merged in, nested mappings key by key."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(params.get(key), dict):
            merge(params[key], value)
        else:
            params[key] = value
    return params


def run(repo: Path, *args: str, check: bool = True, env: Mapping[str, str | None] | None = None
        ) -> subprocess.CompletedProcess:
    """A command in ``repo`` with the test's Python environment first on PATH; ``env`` adds variables
    (None removes one)."""
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    result = subprocess.run(list(args), cwd=repo, env=full_env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def dvc(repo: Path, *args: str, env: Mapping[str, str | None] | None = None) -> str:
    """``dvc ARGS`` in ``repo`` (must succeed); its standard output."""
    return run(repo, sys.executable, "-m", "dvc", *args, env=env).stdout


def git(repo: Path, *args: str) -> str:
    return run(repo, "git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args).stdout


def make_repo(path: Path, overrides: Mapping[str, Any] = TINY) -> Path:
    """A git repository at ``path`` holding the pipeline with ``overrides`` applied to params.yaml,
    committed, with DVC initialised from the project's .dvc/config and .dvc/plots."""
    path.mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, path)
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(path, "init", "-q", "-b", "main")
    dvc(path, "init", "-q")
    shutil.copy(ROOT / ".dvc/config", path / ".dvc/config")
    shutil.copytree(ROOT / ".dvc/plots", path / ".dvc/plots")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "pipeline")
    return path


def ran(output: str) -> list[str]:
    """The stages a ``dvc repro`` / ``dvc exp run`` output says it ran."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def fresh_clone(origin: Path, name: str) -> Path:
    """A git clone beside ``origin`` (so it shares the default remote), with nothing pulled."""
    clone = origin.parent / name
    git(origin.parent, "clone", "-q", str(origin), str(clone))
    return clone


def status(repo: Path) -> str:
    return dvc(repo, "status").strip()


def set_param(repo: Path, group: str, key: str, value: Any) -> None:
    """Change one key of ``repo``'s params.yaml."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[group][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
