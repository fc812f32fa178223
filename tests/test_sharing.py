"""Sharing through a DVC remote and experiments, tried with real DVC commands on a tiny profile:
push, a fresh clone that pulls (default local remote and a real S3 server on loopback), applied and
queued experiments, MLflow over HTTP, the offline plot report, and nothing lost on bad params."""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from asvit.compare import experiment_rows

from .dvc_repo import dvc, git, make_repo, ran, run
from .servers import mlflow_server, s3_server

pytestmark = pytest.mark.slow
CLEAN = "Data and pipelines are up to date."
NO_STORE = {"MLFLOW_TRACKING_URI": None}  # runs go to the project's own store, as for a user


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A repository that ran the whole pipeline, committed its lock file, metrics and plots, and
    pushed to the default remote (a directory beside the clones)."""
    base = tmp_path_factory.mktemp("sharing")
    repo = make_repo(base / "origin")
    assert ran(dvc(repo, "repro", env=NO_STORE)) == ["validate", "data", "sample", "score", "groundtruth",
                                                     "kendall", "search", "grow", "train", "evaluate"]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline outputs")
    dvc(repo, "push")
    assert (base / "asvit-dvc-remote").is_dir()
    return repo


def fresh_clone(origin: Path, name: str) -> Path:
    """A git clone beside ``origin`` (so it shares the default remote), with nothing pulled."""
    clone = origin.parent / name
    git(origin.parent, "clone", "-q", str(origin), str(clone))
    return clone


def status(repo: Path) -> str:
    return dvc(repo, "status").strip()


def test_a_fresh_clone_pulls_and_recomputes_nothing(origin):
    start = time.perf_counter()
    clone = fresh_clone(origin, "pulled")
    dvc(clone, "pull")
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []
    print(f"clone + pull + repro on the default remote: {time.perf_counter() - start:.1f} s")
    for name in ("artifacts/scores.csv", "artifacts/groundtruth.csv", "artifacts/seed.json", "models/asvit-g00.pt"):
        assert (clone / name).read_bytes() == (origin / name).read_bytes()
    # the tables' settings travel with them: a rerun of score resumes instead of moving them aside
    out = dvc(clone, "repro", "-s", "-f", "score", env=NO_STORE)
    assert "moved to" not in out and "scored_now" not in out
    assert json.loads((clone / "metrics/score.json").read_text())["resumed"] == 4


def test_push_and_pull_through_s3_on_loopback(origin, tmp_path):
    with s3_server(tmp_path, "asvit") as endpoint:
        credentials = {"AWS_ACCESS_KEY_ID": "asvit", "AWS_SECRET_ACCESS_KEY": "asvit-secret"}
        sender = fresh_clone(origin, "s3-sender")
        dvc(sender, "pull")
        for repo in (sender, fresh_clone(origin, "s3-receiver")):
            dvc(repo, "remote", "add", "-d", "team", "s3://asvit/cache")
            dvc(repo, "remote", "modify", "team", "endpointurl", endpoint)
        dvc(sender, "push", env=credentials)
        start = time.perf_counter()
        receiver = origin.parent / "s3-receiver"
        dvc(receiver, "pull", env=credentials)
        assert status(receiver) == CLEAN
        assert ran(dvc(receiver, "repro", env=NO_STORE)) == []
        print(f"pull + repro from S3: {time.perf_counter() - start:.1f} s")


def set_param(repo: Path, group: str, key: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[group][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_an_applied_experiment_leaves_a_clean_status(origin):
    clone = fresh_clone(origin, "applied")
    dvc(clone, "pull")
    out = dvc(clone, "exp", "run", "-n", "faster-lr", "-S", "train.lr=0.003", env=NO_STORE)
    assert ran(out) == ["validate", "train", "evaluate"]
    git(clone, "reset", "-q", "--hard")
    dvc(clone, "checkout")
    assert status(clone) == CLEAN
    dvc(clone, "exp", "apply", "faster-lr")
    assert yaml.safe_load((clone / "params.yaml").read_text())["train"]["lr"] == 0.003
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []


def test_a_queued_experiment_runs_only_what_its_change_affects_and_logs_to_the_project_store(origin):
    clone = fresh_clone(origin, "queued")
    dvc(clone, "pull")
    dvc(clone, "exp", "run", "--queue", "-n", "queued-lr", "-S", "train.lr=0.004", env=NO_STORE)
    dvc(clone, "queue", "start", "-j", "1", env=NO_STORE)
    deadline = time.monotonic() + 300
    while re.search(r"\b(Queued|Running)\b", dvc(clone, "queue", "status")):
        assert time.monotonic() < deadline, dvc(clone, "queue", "status")
        time.sleep(2)
    assert "Success" in dvc(clone, "queue", "status")
    log = dvc(clone, "queue", "logs", "queued-lr")
    assert ran(log) == ["validate", "train", "evaluate"]  # validate: a check of params.yaml, nothing else

    client = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "asvit"]
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_experiment = 'queued-lr'")
    assert sorted(r.data.tags["stage"] for r in runs) == ["evaluate", "train"]
    baseline = git(clone, "rev-parse", "HEAD").strip()
    assert {r.data.tags["dvc_exp_baseline"] for r in runs} == {baseline}
    evaluate = next(r for r in runs if r.data.tags["stage"] == "evaluate")
    assert evaluate.data.params["train.models"] == "['asvit-g00']"
    assert [a.path for a in client.list_artifacts(evaluate.info.run_id)] == ["asvit-g00.pt"]

    table = run(clone, sys.executable, "-m", "asvit.cli", "compare", env=NO_STORE).stdout.splitlines()
    assert max(len(line) for line in table) <= 120
    assert table[0].split()[:2] == ["experiment", "train.lr"] and "tau L^E" in table[0]
    assert any(line.startswith("queued-lr ") and " 0.004 " in line for line in table)
    [commit] = [row.rev for row in experiment_rows(clone) if row.experiment == "queued-lr"]
    tagged = client.search_runs([experiment.experiment_id], "tags.dvc_experiment = 'queued-lr'")
    assert {r.data.tags.get("dvc_exp_commit") for r in tagged} == {commit} and commit != baseline


def test_a_stage_logs_to_an_mlflow_server_over_http(tmp_path):
    repo = make_repo(tmp_path / "repo")
    with mlflow_server(tmp_path) as url:
        run(repo, sys.executable, "stages/sample.py", env={"MLFLOW_TRACKING_URI": url})
        client = MlflowClient(tracking_uri=url)
        [experiment] = [e for e in client.search_experiments() if e.name == "asvit"]
        [sample] = client.search_runs([experiment.experiment_id], "tags.stage = 'sample'")
        assert sample.data.params["sample.count"] == "4"
        assert sample.data.tags["dvc_experiment"] == "workspace"
        assert [a.path for a in client.list_artifacts(sample.info.run_id)] == ["topologies.jsonl"]


def test_the_offline_report_holds_every_declared_plot_with_its_points(origin):
    run(origin, sys.executable, "-m", "asvit.cli", "report")
    page = (origin / "reports/plots.html").read_text()
    assert "<script" not in page and "src=" not in page
    declared = [next(iter(entry)) for entry in yaml.safe_load((origin / "dvc.yaml").read_text())["plots"]]
    rows = {name: list(csv.DictReader((origin / f"plots/{name}.csv").open()))
            for name in ("kendall", "search", "family", "train")}
    for plot_id in declared:
        section = page.split(f"<section id='{plot_id}'>")[1].split("</section>")[0]
        assert "<svg" in section, plot_id
        assert f"<summary>{len(rows[plot_id.split('_')[0]])} data points</summary>" in section, plot_id
        assert (origin / f"reports/plots/{plot_id}.svg").is_file()
    first = rows["kendall"][0]
    svg = (origin / "reports/plots/kendall_params.svg").read_text()
    assert f"validation top-1 (%): {float(first['accuracy']):g}" in svg


def test_a_repeated_search_with_the_same_settings_leaves_grow_cached(origin):
    clone = fresh_clone(origin, "searched")
    dvc(clone, "pull")
    assert not (clone / "checkpoints/search").exists()
    assert ran(dvc(clone, "repro", "-s", "-f", "search", env=NO_STORE)) == ["search"]
    assert (clone / "artifacts/seed.json").read_bytes() == (origin / "artifacts/seed.json").read_bytes()
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []


def test_bad_params_stop_the_pipeline_before_any_output_is_removed(origin):
    clone = fresh_clone(origin, "bad-params")
    dvc(clone, "pull")
    kept = {name: (clone / name).read_bytes() for name in
            ("metrics/train.json", "metrics/evaluate.json", "plots/train.csv", "models/asvit-g00.pt")}
    set_param(clone, "train", "lr", -1.0)
    result = run(clone, sys.executable, "-m", "dvc", "repro", check=False, env=NO_STORE)
    assert result.returncode != 0
    assert "params.yaml: train.lr: Input should be greater than 0" in result.stdout + result.stderr
    assert ran(result.stdout) == ["validate"]
    for name, content in kept.items():
        assert (clone / name).read_bytes() == content, name
