"""``asvit compare`` on rows read from ``dvc exp show --json`` output (no DVC run): the params and
metrics that differ between the experiments, the key metrics first, within the width limit."""

from __future__ import annotations

import copy

from asvit.compare import KEY_METRICS, comparison, render, rows_from_json

KEY_LABELS = [*KEY_METRICS, "top-1 asvit-g00"]
PARAMS = {"predictor": {"regressor": "ridge", "folds": 5}, "train": {"lr": 0.002}}
METRICS = {
    "metrics/predictor.json": {"regressor": "ridge", "cv": {"n": 32, "kendall_tau": 0.6398}},
    "metrics/kendall.json": {name: {"kendall_tau": tau} for name, tau in
                             [("length_distortion", 0.2603), ("ntk_cond", 0.0585), ("params", 0.1312),
                              ("flops", 0.2846), ("predictor", 0.6398)]},
    "metrics/grow.json": {"members": 5, "largest_member_params": 12341058},
    "metrics/evaluate.json": {"asvit-g00": {"top1": 32.74}},
}


def state(rev: str, params: dict, metrics: dict, name: str | None = None, experiments: list | None = None) -> dict:
    """One revision as ``dvc exp show --json`` writes it (``ExpState.dumpd``)."""
    return {"rev": rev, "name": name, "error": None, "experiments": experiments,
            "data": {"rev": rev, "timestamp": None, "deps": {}, "outs": {}, "meta": {},
                     "params": {"params.yaml": {"data": params}},
                     "metrics": {path: {"data": values} for path, values in metrics.items()}}}


def exp_show(**changes: dict) -> list[dict]:
    """The workspace and the baseline ``main`` with one experiment ``gbr-ranker``: the regressor set to
    gbr, which changes the learned ranker's tau; ``changes`` patch the experiment's metrics files."""
    params = copy.deepcopy(PARAMS)
    params["predictor"]["regressor"] = "gbr"
    metrics = copy.deepcopy(METRICS)
    metrics["metrics/predictor.json"].update(regressor="gbr", cv={"n": 32, "kendall_tau": 0.5812})
    metrics["metrics/kendall.json"]["predictor"]["kendall_tau"] = 0.5812
    for path, values in changes.items():
        metrics[path].update(values)
    experiment = state("e" * 40, params, metrics, name="gbr-ranker")
    return [state("workspace", PARAMS, METRICS),
            state("b" * 40, PARAMS, METRICS, name="main",
                  experiments=[{"revs": [experiment], "executor": None, "name": "gbr-ranker"}])]


def test_rows_are_read_from_exp_show_json():
    rows = rows_from_json(exp_show())
    assert [(r.label, r.experiment, r.baseline) for r in rows] == [
        ("workspace", None, "workspace"), ("main", None, "b" * 40), ("gbr-ranker", "gbr-ranker", "b" * 40)]
    assert rows[2].params["predictor.regressor"] == "gbr"
    assert rows[2].metrics["metrics/predictor.json:cv.kendall_tau"] == 0.5812


def test_the_metrics_an_experiment_changed_follow_the_key_metrics():
    header, cells, left_out = comparison(rows_from_json(exp_show()), width=200)
    assert header == ["experiment", "predictor.regressor", *KEY_LABELS, "predictor:cv.kendall_tau",
                      "kendall:predictor.kendall_tau"]
    assert cells[2][-2:] == ["0.5812", "0.5812"] and cells[1][-2:] == ["0.6398", "0.6398"]
    assert left_out == []


def test_key_metrics_equal_in_every_row_give_way_to_the_metrics_that_differ():
    rows = rows_from_json(exp_show(**{"metrics/grow.json": {"members": 6}}))
    header, cells, left_out = comparison(rows, width=120)
    assert max(len(line) for line in render(header, cells).splitlines()) <= 120
    assert header[:3] == ["experiment", "predictor.regressor", "members"]  # a key metric that differs comes first
    assert cells[2][2] == "6"
    assert "predictor:cv.kendall_tau" in header  # the ranker's tau, which the experiment changed
    assert left_out and set(left_out) <= set(KEY_LABELS)  # only key metrics equal in every row gave way


def test_text_metrics_and_metrics_equal_in_every_row_are_not_shown():
    header, _, left_out = comparison(rows_from_json(exp_show()), width=400)
    shown = header + left_out
    assert "predictor:regressor" not in shown  # the regressor's name: its param already differs
    assert not any(label.startswith("predictor:cv.n") for label in shown)


def test_differing_params_keep_their_order():
    shown = exp_show()
    shown[1]["experiments"][0]["revs"][0]["data"]["params"]["params.yaml"]["data"]["train"]["lr"] = 0.004
    header, _, _ = comparison(rows_from_json(shown), width=400)
    assert header[:3] == ["experiment", "predictor.regressor", "train.lr"]


def test_each_design_methods_pick_is_a_key_metric():
    picks = {"metrics/outcome.json": {"picks": {"asvit-reinforce": {"top1": 33.5, "percentile": 56.2},
                                                "predictor-reinforce": {"top1": 37.6, "percentile": 96.9}}}}
    metrics = {**METRICS, **picks}
    header, cells, _ = comparison(rows_from_json([state("workspace", PARAMS, metrics)]), width=400)
    assert header[-2:] == ["pick asvit-reinforce", "pick predictor-reinforce"]
    assert cells[0][-2:] == ["33.5", "37.6"]
