"""Shared fixtures: tiny networks and an isolated MLflow store for every test."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
import torch

# The tests run tiny networks, for which one thread is fastest; two threads on a busy 2-core machine
# spin against each other (30x slower measured). Subprocesses inherit the setting.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

from asvit.space import Topology

from .dvc_repo import dvc, fresh_clone, git, make_repo, ran

PAPER_SEED = "8,2,3|4,1,2|4,1,4|4,1,6|32"
PAPER_LARGE = "8,2,3,5|4,1,2,2|4,1,4,5|4,1,6,2|32,180"


def pytest_collection_modifyitems(items):
    """A test that asks for ``origin`` (the whole pipeline under real DVC) is end to end even where its
    module forgot the ``e2e`` marker, so ``make test`` (``-m "not e2e"``) never starts ``dvc repro``."""
    for item in items:
        if "origin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test logs to its own MLflow store and starts from the same torch seed."""
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)  # also for this process, where an earlier test may have set another
    torch.manual_seed(0)


@pytest.fixture
def tiny_topology() -> Topology:
    """The paper's seed at stage-1 width 8: fast enough for reference implementations."""
    return Topology.parse(PAPER_SEED).scaled(width=8)


@pytest.fixture(scope="session")
def origin(tmp_path_factory) -> Path:
    """A scratch repository that ran the whole pipeline on the tiny profile (logging to its own
    MLflow store, as for a user), committed its lock file, metrics and plots, and pushed to the
    default remote (a directory beside it and its clones)."""
    base = tmp_path_factory.mktemp("pipeline")
    repo = make_repo(base / "origin")
    out = dvc(repo, "repro", env={"MLFLOW_TRACKING_URI": None})
    searches = [f"search@{objective}-{method}" for objective in ("asvit", "rank_aggregate", "predictor")
                for method in ("reinforce", "random")]
    assert sorted(ran(out)) == sorted(["validate", "data", "sample", "score", "groundtruth", "supernet", "predictor",
                                       "objectives", "kendall", *searches, "outcome",
                                       "grow", "members", "train", "export", "evaluate", "detect_data",
                                       "detect"]), out
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline outputs")
    dvc(repo, "push")
    assert (base / "asvit-dvc-remote").is_dir()
    return repo


@pytest.fixture(scope="session")
def pulled(origin) -> Path:
    """A clone of ``origin`` that pulled every output. A test that changes it puts back what it changed."""
    clone = fresh_clone(origin, "pulled-shared")
    dvc(clone, "pull")
    return clone
