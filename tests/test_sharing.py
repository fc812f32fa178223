"""Sharing through a DVC remote and experiments, tried with real DVC commands on a tiny profile:
push, a fresh clone that pulls (default local remote and a real S3 server on loopback), queued and
applied experiments, MLflow over HTTP and the offline plot report. ``origin`` (conftest)
ran the pipeline and pushed to the default remote."""

from __future__ import annotations

import csv
import json
import re
import sys
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from asvit.compare import experiment_rows

from .dvc_repo import CLEAN, NO_STORE, dvc, fresh_clone, git, make_repo, ran, run, status
from .servers import mlflow_server, s3_server

pytestmark = pytest.mark.e2e


def test_a_fresh_clone_pulls_and_recomputes_nothing_and_an_identical_search_keeps_grow_cached(origin):
    start = time.perf_counter()
    clone = fresh_clone(origin, "pulled")
    dvc(clone, "pull")
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []
    print(f"clone + pull + repro on the default remote: {time.perf_counter() - start:.1f} s")
    for name in ("artifacts/scores.csv", "artifacts/groundtruth.csv", "artifacts/seeds/asvit-reinforce.json",
                 "artifacts/outcome.csv", "models/asvit-g00.pt"):
        assert (clone / name).read_bytes() == (origin / name).read_bytes()
    # the tables' settings travel with them: a rerun of score resumes instead of moving them aside
    out = dvc(clone, "repro", "-s", "-f", "score", env=NO_STORE)
    assert "moved to" not in out and "scored_now" not in out
    assert json.loads((clone / "metrics/score.json").read_text())["resumed"] == 4
    # a repeated search (from scratch: resume state is not pulled) writes the same seed: grow stays cached
    assert not (clone / "checkpoints/search").exists()
    assert ran(dvc(clone, "repro", "-s", "-f", "search@asvit-reinforce", env=NO_STORE)) == ["search@asvit-reinforce"]
    seed = "artifacts/seeds/asvit-reinforce.json"
    assert (clone / seed).read_bytes() == (origin / seed).read_bytes()
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []


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


def test_a_queued_experiment_runs_only_what_its_change_affects_logs_to_the_project_store_and_applies(origin):
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
    # only the stages below train: validate checks params.yaml, detect starts from the trained backbone
    assert ran(log) == ["validate", "train", "export", "evaluate", "detect"]

    client = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "asvit"]
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_experiment = 'queued-lr'")
    assert sorted(r.data.tags["stage"] for r in runs) == ["detect", "evaluate", "export", "train"]
    baseline = git(clone, "rev-parse", "HEAD").strip()
    assert {r.data.tags["dvc_exp_baseline"] for r in runs} == {baseline}
    evaluate = next(r for r in runs if r.data.tags["stage"] == "evaluate")
    assert evaluate.data.params["train.models"] == "['asvit-g00']"
    assert [a.path for a in client.list_artifacts(evaluate.info.run_id)] == ["asvit-g00.pt"]

    table = run(clone, sys.executable, "-m", "asvit.cli", "compare", env=NO_STORE).stdout.splitlines()
    assert max(len(line) for line in table) <= 120, table
    assert table[0].split()[:2] == ["experiment", "train.lr"] and "tau L^E" in table[0]
    assert any(line.startswith("queued-lr ") and " 0.004 " in line for line in table)
    [commit] = [row.rev for row in experiment_rows(clone) if row.experiment == "queued-lr"]
    tagged = client.search_runs([experiment.experiment_id], "tags.dvc_experiment = 'queued-lr'")
    assert {r.data.tags.get("dvc_exp_commit") for r in tagged} == {commit} and commit != baseline

    dvc(clone, "exp", "apply", "queued-lr")  # its params and outputs in the workspace
    assert yaml.safe_load((clone / "params.yaml").read_text())["train"]["lr"] == 0.004
    assert status(clone) == CLEAN
    assert ran(dvc(clone, "repro", env=NO_STORE)) == []


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
    declared = {plot_id: list(spec["y"]) for entry in yaml.safe_load((origin / "dvc.yaml").read_text())["plots"]
                for plot_id, spec in entry.items()}
    rows = {path: list(csv.DictReader((origin / path).open())) for paths in declared.values() for path in paths
            if (origin / path).is_file()}  # the opt-in stages' files (outcome.family, detect.controls) are absent
    assert {"payoff_fronts", "detect_box_ap"} <= set(declared) and "plots/payoff/deit.csv" not in rows
    for plot_id, paths in declared.items():
        section = page.split(f"<section id='{plot_id}'>")[1].split("</section>")[0]
        if not any(path in rows for path in paths):
            assert "No data: the file or the field of this plot is not in the outputs." in section, plot_id
            continue
        assert "<svg" in section, plot_id
        points = sum(len(rows[path]) for path in paths if path in rows)
        assert f"<summary>{points} data points</summary>" in section, plot_id
        assert (origin / f"reports/plots/{plot_id}.svg").is_file()
    first = rows["plots/kendall.csv"][0]
    svg = (origin / "reports/plots/kendall_params.svg").read_text()
    assert f"validation top-1 (%): {float(first['accuracy']):g}" in svg
