"""The DVC pipeline end to end on the tiny profile (``origin`` in conftest): every stage's outputs
and MLflow runs appear, a parameter change re-runs only the stages that read it, and bad params stop
the pipeline before DVC removes any output."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from asvit.outcome.family import front_gap
from asvit.space import Topology

from .dvc_repo import CLEAN, NO_STORE, TINY, dvc, fresh_clone, ran, run, set_param, status

pytestmark = pytest.mark.e2e
OBJECTIVES = ("asvit", "rank_aggregate", "predictor")


def test_every_stage_writes_its_outputs_and_one_tagged_mlflow_run(origin):
    assert len((origin / "artifacts/topologies.jsonl").read_text().splitlines()) == 4
    assert len((origin / "artifacts/scores.csv").read_text().splitlines()) == 5
    assert "seconds_per_architecture" in json.loads((origin / "metrics/score.json").read_text())
    kendall = json.loads((origin / "metrics/kendall.json").read_text())
    assert set(kendall) == {*TINY["proxy"]["names"], "rank_aggregate", "predictor", "supernet", "ground_truth"}
    assert set(kendall["ground_truth"]) >= {"seeds", "ceiling", "spread", "seed_noise"}
    assert kendall["params"]["n"] == 4 and -1 <= kendall["params"]["kendall_tau"] <= 1
    assert kendall["supernet"]["n"] == 4 and kendall["supernet"]["seconds"] > 0
    assert kendall["rank_aggregate"]["seconds"] == pytest.approx(
        sum(kendall[name]["seconds"] for name in ("length_distortion", "ntk_cond", "flops")))
    plot = (origin / "plots/kendall.csv").read_text().splitlines()
    assert plot[0] == ",".join(["id", *TINY["proxy"]["names"], "rank_aggregate", "predictor", "supernet", "accuracy"])
    assert len(plot) == 5
    assert (origin / "artifacts/groundtruth.csv").read_text().splitlines()[0] == (
        "id,arch,val_top1,val_top5,params,val_top1_seed0,val_top1_seed1,val_top5_seed0,val_top5_seed1")
    assert set(json.loads((origin / "artifacts/seeds/asvit-reinforce.json").read_text())) == {
        "seed", "method", "objective", "proxies", "steps"}
    supernet_seed = json.loads((origin / "artifacts/supernet_seed.json").read_text())
    assert supernet_seed["method"] == "supernet-evolution" and "seed" in supernet_seed
    assert len((origin / "artifacts/supernet.csv").read_text().splitlines()) == 5
    assert (origin / "models/asvit-g00.pt").is_file()
    evaluated = json.loads((origin / "metrics/evaluate.json").read_text())
    assert set(evaluated) == {"asvit-g00"}
    assert evaluated["asvit-g00"]["latency_ms"] > 0 and evaluated["asvit-g00"]["onnxruntime_latency_ms"] > 0
    exported = json.loads((origin / "metrics/export.json").read_text())["asvit-g00"]
    assert exported["verified_images"] == 8 and exported["max_abs_diff"] <= 1e-4
    assert (origin / "exported/asvit-g00.onnx").stat().st_size == exported["bytes"]
    assert (origin / "plots/evaluate.csv").read_text().startswith("name,top1,macs,params,latency_ms,")
    detect = json.loads((origin / "metrics/detect.json").read_text())
    assert detect["model"] == "asvit-g00-maskrcnn" and set(detect["box"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert set(detect["mask"]) == set(detect["box"]) and (origin / "detectors/asvit-g00-maskrcnn.pt").is_file()
    assert (origin / "plots/detect_examples.png").read_bytes()[:4] == b"\x89PNG"
    assert (origin / "plots/detect.csv").read_text().splitlines()[0].startswith("epoch,loss,")

    client = MlflowClient(tracking_uri=f"sqlite:///{origin / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "asvit"]
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["stage"] for r in runs) == sorted(
        ["data", "sample", "score", "groundtruth", "supernet", "predictor", "objectives",
         "kendall", *(f"search@{o}-{m}" for o in OBJECTIVES for m in ("reinforce", "random")), "outcome",
         "grow", "train", "export", "evaluate", "detect_data", "detect"])
    assert all(r.data.tags["dvc_experiment"] == "workspace" and len(r.data.tags["git_revision"]) == 40
               for r in runs)
    score = next(r for r in runs if r.data.tags["stage"] == "score")
    assert score.data.params["proxy.repeats"] == "1"


def test_a_params_change_reruns_only_the_stages_that_read_it(origin):
    assert ran(dvc(origin, "repro", env=NO_STORE)) == []
    clone = fresh_clone(origin, "resampled")
    dvc(clone, "pull")
    set_param(clone, "kendall", "resamples", 60)
    assert ran(dvc(clone, "repro", env=NO_STORE)) == ["validate", "predictor", "kendall"]


def test_each_search_is_its_own_stage_and_a_new_ranker_reruns_only_the_searches_that_read_it(origin):
    lock = yaml.safe_load((origin / "dvc.lock").read_text())["stages"]
    searches = {f"search@{o}-{m}" for o in OBJECTIVES for m in ("reinforce", "random")}
    assert searches <= set(lock) and "search" not in lock
    clone = fresh_clone(origin, "objective")
    dvc(clone, "pull")
    set_param(clone, "predictor", "regressor", "gbr")  # a new ranker: the paper's objective does not read it
    assert set(ran(dvc(clone, "repro", env=NO_STORE))) == {
        "validate", "predictor", "objectives", "search@predictor-reinforce",
        "search@predictor-random", "kendall", "outcome"}
    assert json.loads((clone / "artifacts/objectives/predictor.json").read_text())["ranker"] == json.loads(
        (clone / "artifacts/predictor.json").read_text())
    assert json.loads((clone / "metrics/search/predictor-random.json").read_text())["objective"] == "predictor"
    assert status(clone) == CLEAN


def test_the_outcome_trains_every_pick_and_an_interrupted_outcome_resumes_to_the_same_table(origin):
    outcome = json.loads((origin / "metrics/outcome.json").read_text())
    searches = [f"{o}-{m}" for o in OBJECTIVES for m in ("reinforce", "random")]
    assert list(outcome["picks"]) == [*searches, "supernet", "asvit_paper", "deit", "resnet"]
    truth = [float(row["val_top1"]) for row in csv.DictReader((origin / "artifacts/groundtruth.csv").open())]
    for name, pick in outcome["picks"].items():
        assert pick["top1"] == pytest.approx(sum(pick["top1_seeds"]) / 2), name
        assert pick["regret"] == pytest.approx(max(truth) - pick["top1"]), name
        assert 0 <= pick["percentile"] <= 100 and pick["params"] > 0 and pick["macs"] > 0, name
    assert outcome["picks"]["asvit_paper"]["find_seconds"] == 0 < outcome["picks"]["supernet"]["find_seconds"]
    assert outcome["picks"]["predictor-random"]["find_seconds"] > outcome["picks"]["asvit-random"]["find_seconds"]
    plotted = list(csv.DictReader((origin / "plots/outcome.csv").open()))
    assert [row["kind"] for row in plotted] == ["sampled"] * 4 + ["search"] * 6 + ["supernet"] + ["reference"] * 3

    clone = fresh_clone(origin, "outcome-resumed")
    dvc(clone, "pull")
    table = clone / "artifacts/outcome.csv"
    whole = table.read_text()
    table.write_text("".join(whole.splitlines(keepends=True)[:2]))  # the header and one row: what a stop leaves
    assert ran(dvc(clone, "repro", "outcome", env=NO_STORE)) == ["outcome"]
    assert table.read_text() == whole
    assert json.loads((clone / "metrics/outcome.json").read_text())["resumed"] == 1
    assert status(clone) == CLEAN


def test_the_detection_control_and_the_family_payoff_are_opt_in_stages_that_rerun_nothing_else(origin):
    clone = fresh_clone(origin, "payoff")
    dvc(clone, "pull")
    set_param(clone, "detect", "controls", ["scratch"])  # not the trained backbone's detector again
    assert ran(dvc(clone, "repro", env=NO_STORE)) == ["validate", "detect_control@scratch"]
    trained = json.loads((clone / "metrics/detect.json").read_text())
    control = json.loads((clone / "metrics/detect_control/scratch.json").read_text())
    assert control["model"] == "asvit-g00-maskrcnn-scratch"
    assert control["trained_backbone_gain"]["box_ap"] == pytest.approx(trained["box"]["AP"] - control["box"]["AP"])
    assert (clone / "detector_controls/scratch/asvit-g00-maskrcnn-scratch.pt").is_file()

    set_param(clone, "grow", "targets", [2_000_000])  # past the seed: a second member
    dvc(clone, "repro", "grow", env=NO_STORE)
    members = [json.loads(line)["name"] for line in (clone / "artifacts/family.jsonl").read_text().splitlines()]
    set_param(clone, "train", "models", members[:2])
    set_param(clone, "outcome", "family", ["uniform", "deit"])
    assert {"train", "payoff@uniform", "payoff@deit"} <= set(ran(dvc(clone, "repro", env=NO_STORE)))
    grown = json.loads((clone / "metrics/train.json").read_text())
    for family in ("uniform", "deit"):
        payoff = json.loads((clone / f"metrics/payoff/{family}.json").read_text())
        assert list(payoff["members"]) == members[:2]
        for name, member in payoff["members"].items():
            assert member["grown"]["top1"] == grown[name]["top1"]
            assert member[family]["macs"] == pytest.approx(member["grown"]["macs"], rel=0.10)
        rows = list(csv.DictReader((clone / f"plots/payoff/{family}.csv").open()))
        fronts = {f: [(float(r["macs"]), float(r["top1"])) for r in rows if r["family"] == f]
                  for f in ("grown", family)}
        assert payoff["front_gap"] == pytest.approx(front_gap(fronts["grown"], fronts[family]))
    first = json.loads((clone / "metrics/payoff/uniform.json").read_text())["members"][members[0]]["uniform"]
    assert first["same_as_grown"] and first["top1"] == grown[members[0]]["top1"]  # the seed itself, not retrained
    assert status(clone) == CLEAN


def test_the_autoformer_space_runs_proxies_ground_truth_and_supernet_end_to_end(origin):
    clone = fresh_clone(origin, "autoformer")
    dvc(clone, "pull")
    set_param(clone, "space", "name", "autoformer-embedded")
    set_param(clone, "outcome", "objectives", ["asvit", "rank_aggregate"])  # the learned ranker scores As-ViT only
    assert set(ran(dvc(clone, "repro", "kendall", "outcome", env=NO_STORE))) == {  # the searches stay cached
        "validate", "sample", "score", "groundtruth", "supernet", "predictor", "kendall", "objectives", "outcome"}
    outcome = json.loads((clone / "metrics/outcome.json").read_text())
    assert list(outcome["picks"]) == ["supernet", "asvit_paper", "deit", "resnet"]
    searched = ("asvit", "rank_aggregate")
    assert set(outcome["left_out"]) == {f"{o}-{m}" for o in searched for m in ("reinforce", "random")}
    first = json.loads((clone / "artifacts/topologies.jsonl").read_text().splitlines()[0])
    assert (first["patch_size"], first["head_dim"]) == (4, 16)
    kendall = json.loads((clone / "metrics/kendall.json").read_text())
    assert kendall["supernet"]["n"] == 4 and kendall["flops"]["n"] == 4
    assert json.loads((clone / "artifacts/supernet_seed.json").read_text())["patch_size"] == 4
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["supernet"]["vitas"]["cyclic_sharing"] = True
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(dvc(clone, "repro", "kendall", env=NO_STORE)) == ["validate", "supernet", "kendall"]
    assert "cyclic_sharing=True" in (clone / "artifacts/supernet.csv.settings.json").read_text()


def test_the_family_can_grow_from_the_supernets_evolved_seed(origin):
    clone = fresh_clone(origin, "supernet-seed")
    dvc(clone, "pull")
    set_param(clone, "grow", "seed_file", "artifacts/supernet_seed.json")
    assert ran(dvc(clone, "repro", "grow", env=NO_STORE)) == ["validate", "grow"]
    evolved = json.loads((clone / "artifacts/supernet_seed.json").read_text())["seed"]
    first = json.loads((clone / "artifacts/family.jsonl").read_text().splitlines()[0])
    assert Topology.parse(first["topology"]).seed_string() == evolved


def test_latency_settings_rerun_the_stages_that_time_and_worker_counts_rerun_nothing(origin):
    clone = fresh_clone(origin, "hardware")
    dvc(clone, "pull")
    set_param(clone, "hardware", "threads", 2)
    changed = set(json.loads(dvc(clone, "status", "--json")))
    searches = {f"search@{o}-{m}" for o in OBJECTIVES for m in ("reinforce", "random")}
    assert changed == {"validate", "score", "grow", "evaluate", *searches}, changed
    set_param(clone, "hardware", "threads", 1)
    set_param(clone, "proxy", "workers", 2)
    set_param(clone, "groundtruth", "workers", 2)
    assert set(json.loads(dvc(clone, "status", "--json"))) == {"validate"}

    set_param(clone, "proxy", "workers", 1)
    set_param(clone, "proxy", "names", [*TINY["proxy"]["names"], "latency_ms"])
    assert "score" in ran(dvc(clone, "repro", "score", env=NO_STORE))
    rows = list(csv.DictReader((clone / "artifacts/scores.csv").open()))
    assert len(rows) == 4 and all(float(r["latency_ms"]) > 0 for r in rows)
    settings = json.loads((clone / "artifacts/scores.csv.settings.json").read_text())["settings"]
    assert settings["latency"] == {"device": "cpu", "threads": 1, "batch_size": 1, "image_size": 32}


def test_new_data_reruns_the_proxy_stages_that_read_its_images(origin):
    clone = fresh_clone(origin, "new-data")
    dvc(clone, "pull")
    before = list(csv.DictReader((clone / "artifacts/scores.csv").open()))
    set_param(clone, "data", "seed", 1)
    assert ran(dvc(clone, "repro", "score", env=NO_STORE)) == ["validate", "data", "score"]
    after = list(csv.DictReader((clone / "artifacts/scores.csv").open()))
    assert [r["params"] for r in after] == [r["params"] for r in before]
    assert all(a["ntk_cond"] != b["ntk_cond"] for a, b in zip(after, before, strict=True))
    changed = json.loads(dvc(clone, "status", "--json", "search@asvit-reinforce", "grow"))
    for stage in ("search@asvit-reinforce", "grow"):
        assert {"data/cls": "modified"} in [c.get("changed deps") for c in changed[stage]], changed


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

    set_param(clone, "train", "lr", 1e-3)
    set_param(clone, "detect", "backbone", "asvit-g01")  # not in the family: named before any training
    result = run(clone, sys.executable, "stages/detect.py", check=False)
    assert result.returncode == 2 and "detect.backbone: unknown model 'asvit-g01'" in result.stderr
    family = (clone / "artifacts/family.jsonl").read_text()
    (clone / "artifacts/family.jsonl").write_text(family + family.replace("asvit-g00", "asvit-g01"))
    result = run(clone, sys.executable, "stages/detect.py", check=False)
    assert result.returncode == 2
    assert "detect.backbone: asvit-g01 was not trained (models/asvit-g01.pt not found)" in result.stderr

    set_param(clone, "sample", "count", 0)  # a stage script run by hand checks too, before writing
    before = (clone / "artifacts/topologies.jsonl").read_text()
    result = run(clone, sys.executable, "stages/sample.py", check=False)
    assert result.returncode == 2
    assert "params.yaml: sample.count: Input should be greater than or equal to 1" in result.stderr
    assert (clone / "artifacts/topologies.jsonl").read_text() == before


def checksums(repo, folders=("artifacts", "models", "detectors", "plots", "metrics")) -> dict[str, bytes]:
    """Every output file's bytes, but the checks' own markers (which a refusing check removes)."""
    return {str(p.relative_to(repo)): p.read_bytes() for folder in folders for p in sorted((repo / folder).rglob("*"))
            if p.is_file() and p.name not in ("members.checked", "params.validated")}


REFUSED = [  # (group, key, value, the error, the stage that stops): judged against the family, or by the schema
    ("train", "models", ["asvit-g99"], "train.models: unknown model 'asvit-g99'", "members"),
    ("detect", "backbone", "asvit-g99", "detect.backbone: unknown model 'asvit-g99'", "members"),
    ("grow", "width_ratios", [float("nan")], "grow.width_ratios.0: Input should be a finite number", "validate"),
    ("kendall", "top_k", [0], "kendall.top_k.0: Input should be greater than or equal to 1", "validate"),
    ("kendall", "top_k", [5], "kendall.top_k: [5] exceed the 4 sampled architectures", "validate"),
    ("train", "lr", float("inf"), "train.lr: Input should be a finite number", "validate"),
]


def test_a_refused_value_costs_no_earlier_output(pulled):
    before = checksums(pulled)
    for group, key, value, message, stopped_by in REFUSED:
        original = yaml.safe_load((pulled / "params.yaml").read_text())[group][key]
        set_param(pulled, group, key, value)
        try:
            result = run(pulled, sys.executable, "-m", "dvc", "repro", check=False, env=NO_STORE)
        finally:
            set_param(pulled, group, key, original)
        output = result.stdout + result.stderr
        assert result.returncode != 0 and message in output, (key, output)
        assert ran(result.stdout)[-1] == stopped_by, (key, result.stdout)
        assert checksums(pulled) == before, key
    # only the checks' markers come back (rerun, or restored from DVC's run cache)
    assert set(ran(dvc(pulled, "repro", env=NO_STORE))) <= {"validate", "members"}
    assert status(pulled) == CLEAN and (pulled / "artifacts/members.checked").is_file()
    assert checksums(pulled) == before
