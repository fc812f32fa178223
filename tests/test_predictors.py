"""The learned ranker: its features, cross-validation that never lets a fold see its own truth, and
a saved model (plain JSON numbers) that predicts exactly what the fitted scikit-learn model does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.model_selection import KFold

from asvit.errors import AsvitError
from asvit.features import architecture_features, diverse_subset, feature_table, layer_features
from asvit.predictors import (REGRESSORS, Candidate, RegressorSpec, candidate_tables, cross_validated_predictions,
                              curve_summary, fit_ranker, learning_curve, predict_with, rank_quantiles, ranker_inputs)
from asvit.space import AutoFormerArch, sample_topologies


@pytest.fixture
def table() -> pd.DataFrame:
    """40 sampled As-ViT topologies with made-up proxies; the truth is linear in two of them plus noise."""
    rng = np.random.default_rng(0)
    topologies = sample_topologies(40, 3)
    scores = pd.DataFrame({"arch": [str(t) for t in topologies], "ntk_cond": rng.uniform(10, 1000, 40),
                           "flops": rng.uniform(1e6, 1e8, 40)}, index=[f"a{i}" for i in range(40)])
    return scores


def truth_of(features: pd.DataFrame, noise: float = 0.1) -> pd.Series:
    rng = np.random.default_rng(1)
    return -features["log_ntk_cond"] + 0.5 * features["E1"] + noise * rng.standard_normal(len(features))


def test_features_are_the_log_proxies_and_the_decisions(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    assert list(features.columns[:2]) == ["log_ntk_cond", "log_flops"]
    assert features["log_flops"].iloc[0] == pytest.approx(np.log1p(table["flops"].iloc[0]))
    first = architecture_features(table["arch"].iloc[0])
    assert set(first) == {"H", "C", *(f"{k}{s}" for k in "KSEL" for s in range(1, 5))}
    arch = AutoFormerArch(192, 2, (3, 4), (3.5, 4.0))
    assert architecture_features(str(arch)) == {"embed_dim": 192, "depth": 2, "mean_heads": 3.5,
                                                "mean_mlp_ratio": 3.75}
    with pytest.raises(AsvitError, match="predictor: dss not in the score table"):
        feature_table(table, ["dss"])


def test_the_layer_features_of_a_known_autoformer_record():
    arch = AutoFormerArch(192, 4, (3, 4, 4, 2), (3.5, 4.0, 4.0, 3.5))
    assert layer_features(str(arch)) == {
        "layer_heads_at1": 3, "layer_heads_at2": 4, "layer_heads_at3": 4, "layer_heads_at4": 2,
        "layer_heads_n2": 1, "layer_heads_n3": 1, "layer_heads_n4": 2,
        "layer_heads_first": 3.5, "layer_heads_middle": 4, "layer_heads_last": 2,  # thirds: layers 1-2, 3, 4
        "layer_mlp_at1": 3.5, "layer_mlp_at2": 4.0, "layer_mlp_at3": 4.0, "layer_mlp_at4": 3.5,
        "layer_mlp_n3.5": 2, "layer_mlp_n4": 2, "layer_mlp_first": 3.75, "layer_mlp_middle": 4.0,
        "layer_mlp_last": 3.5}
    shallow = AutoFormerArch(192, 2, (3, 4), (3.5, 4.0))
    table = pd.DataFrame({"arch": [str(arch), str(shallow)]}, index=["deep", "shallow"])
    layers = feature_table(table, [], ["layers"])
    assert layers.loc["shallow", "layer_heads_at3"] == 0 and layers.loc["shallow", "layer_heads_n2"] == 0
    assert layers.loc["shallow", "layer_heads_last"] == 0  # a third with no layer


def test_the_layer_features_of_a_known_asvit_topology():
    # at 224 px: tokenizer stride 4 gives 56 x 56 tokens; each merge (K = 2) halves the grid
    features = layer_features("8,2,3,1|2,1,2,2|2,2,4,1|2,1,6,1|32,32")
    assert features["layer_depth"] == 5
    assert [features[f"layer_tokens{i}"] for i in range(1, 5)] == [56 ** 2, 28 ** 2, 14 ** 2, 7 ** 2]
    assert [features[f"layer_window{i}"] for i in range(1, 5)] == [28 ** 2, 28 ** 2, 7 ** 2, 7 ** 2]
    assert [features[f"layer_width{i}"] for i in range(1, 5)] == [32, 64, 128, 256]
    assert features["layer_attention2"] == 2 * 2 * 28 ** 2 * 28 ** 2 * 64


def test_k_center_picks_the_point_nearest_the_mean_then_the_farthest_ones():
    points = pd.DataFrame({"x": [0.0, 1.0, 10.0, 0.5, -10.0, 0.2], "y": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]},
                          index=list("abcdef"))
    # standardised (x / 5.9, y / 0.37) d is nearest the mean; f, alone at y = 1, lies 2.7 from it, e 1.8
    # and c 1.6; then e, 1.8 from d, is farther from both than c, 1.6 from d
    assert diverse_subset(points, 4) == ["d", "f", "e", "c"]
    assert diverse_subset(points.assign(constant=3.0), 4) == ["d", "f", "e", "c"]  # a constant column is no axis
    with pytest.raises(AsvitError, match="cannot pick 7 of 6"):
        diverse_subset(points, 7)


class Spy:
    """A regressor that remembers the truth of every row it was fitted on and predicts it back (0.5 for
    a row it never saw): whatever it predicts right, it saw. Every fit and prediction is recorded."""

    fitted: list[set] = []
    predicted: list[set] = []

    def __init__(self, seed: int) -> None:
        pass

    def fit(self, x, y):
        Spy.fitted.append({tuple(row) for row in x})
        self.seen = {tuple(row): target for row, target in zip(x, y)}
        return self

    def predict(self, x):
        Spy.predicted.append({tuple(row) for row in x})
        return np.array([self.seen.get(tuple(row), 0.5) for row in x])


SPY = RegressorSpec(Spy, lambda model: {}, lambda saved, x: x[:, 0])


def test_cross_validation_never_lets_a_fold_see_its_own_truth(table, monkeypatch):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features)
    truth.iloc[:4] = np.nan  # no truth: never fitted on, never predicted
    Spy.fitted, Spy.predicted = [], []
    monkeypatch.setitem(REGRESSORS, "spy", SPY)
    predicted = cross_validated_predictions({Candidate("spy"): features}, truth, folds=5)
    assert len(Spy.fitted) == 5
    for fitted, held_out in zip(Spy.fitted, Spy.predicted, strict=True):
        assert not fitted & held_out and len(fitted) + len(held_out) == 36
    assert set().union(*Spy.predicted) == {tuple(r) for r in features.iloc[4:].to_numpy(float)}
    assert predicted.iloc[:4].isna().all() and predicted.iloc[4:].notna().all()


def test_nested_selection_never_sees_the_fold_it_predicts(table, monkeypatch):
    features = feature_table(table, ["ntk_cond", "flops"])
    noise = pd.Series(np.random.default_rng(5).standard_normal(len(features)), index=features.index)
    Spy.fitted, Spy.predicted = [], []
    monkeypatch.setitem(REGRESSORS, "spy", SPY)
    tables = {Candidate("spy"): features, Candidate("ridge"): features}
    predicted = cross_validated_predictions(tables, noise, folds=5, seed=3)
    # a fit that saw a row of the outer fold it predicts would give that row back: the memorising
    # regressor would then rank pure noise perfectly
    assert abs(stats.kendalltau(predicted, noise).statistic) < 0.5
    rows = {tuple(r) for r in features.to_numpy(float)}
    outer = [{tuple(r) for r in features.to_numpy(float)[held]}
             for _, held in KFold(5, shuffle=True, random_state=3).split(features)]
    assert len(Spy.fitted) > 5  # inner selection fits as well as outer ones
    for fitted in Spy.fitted:  # each fit lies inside the training rows of one outer fold
        assert fitted < rows and any(not fitted & held for held in outer)


def test_auto_chooses_among_regressors_and_feature_groups_by_inner_cross_validation(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features)
    tables = candidate_tables(table, ["ntk_cond", "flops"], "auto")
    assert [c.name for c in tables] == [f"{r}:{g}" for r in ("ridge", "gbr", "forest")
                                        for g in ("proxies+summary", "proxies+summary+layers")]
    saved = fit_ranker(tables, truth, folds=5)
    assert set(saved["selection"]) == {c.name for c in tables}
    best = max(saved["selection"], key=saved["selection"].get)
    assert f"{saved['regressor']}:{'+'.join(saved['groups'])}" == best
    again = predict_with(saved, ranker_inputs(saved, table, ["ntk_cond", "flops"]))
    assert stats.kendalltau(again, truth).statistic > 0.6


def test_a_ranker_of_a_learnable_truth_ranks_well_out_of_fold(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features)
    for regressor in REGRESSORS:
        predicted = cross_validated_predictions({Candidate(regressor): features}, truth, folds=5)
        assert stats.kendalltau(predicted, truth).statistic > 0.6, regressor
    with pytest.raises(AsvitError, match="need at least 5"):
        cross_validated_predictions({Candidate("ridge"): features.iloc[:4]}, truth.iloc[:4], folds=5)


@pytest.mark.parametrize("regressor", list(REGRESSORS))
def test_the_saved_ranker_predicts_what_the_fitted_model_does(table, regressor):
    features = feature_table(table, ["ntk_cond", "flops"], ["proxies", "summary", "layers"])
    truth = truth_of(features, noise=1.0)
    saved = json.loads(json.dumps(fit_ranker({Candidate(regressor): features}, truth, seed=2)))  # through JSON
    model = REGRESSORS[regressor].make(2).fit(features.to_numpy(float), rank_quantiles(truth.to_numpy(float)))
    expected = model.predict(features.to_numpy(float))
    assert predict_with(saved, features).to_numpy() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    with pytest.raises(AsvitError, match="needs feature"):
        predict_with(saved, features.drop(columns=["E1"]))
    zero = features.drop(columns=["layer_window1"])  # an absent layer feature is zero
    assert predict_with(saved, zero).equals(predict_with(saved, features.assign(layer_window1=0.0)))


def test_the_ranker_fits_rank_quantiles_so_only_the_order_of_the_truth_matters(table):
    assert rank_quantiles(np.array([70.0, 10.0, 30.0, 30.0])).tolist() == [1.0, 0.25, 0.625, 0.625]
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features, noise=1.0)
    for regressor in REGRESSORS:
        tables = {Candidate(regressor): features}
        plain = predict_with(fit_ranker(tables, truth), features)
        stretched = predict_with(fit_ranker(tables, np.exp(truth / 5)), features)
        assert stretched.to_numpy() == pytest.approx(plain.to_numpy(), abs=1e-12), regressor
        assert 0 < plain.mean() < 1


def test_a_missing_feature_row_gets_no_prediction(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    saved = fit_ranker({Candidate("ridge"): features}, truth_of(features))
    features.iloc[0, 0] = np.nan
    assert np.isnan(predict_with(saved, features).iloc[0]) and predict_with(saved, features).iloc[1:].notna().all()


def test_the_predict_command_refuses_one_fold_and_repeated_truth_ids_in_one_line(table, tmp_path, capsys):
    from asvit.cli import main

    table.index.name = "id"
    table.to_csv(tmp_path / "scores.csv")
    truth = tmp_path / "truth.csv"
    truth.write_text("id,top1\n" + "".join(f"a{i},{i}\n" for i in range(40)))
    common = ["predict", "--scores", str(tmp_path / "scores.csv"), "--truth-column", "top1", "--out",
              str(tmp_path / "p.csv")]
    for extra, message in ((["--fit", str(truth), "--folds", "1"],
                            "folds = 1: cross-validation over 40 labelled architectures needs 2 to 40 folds"),
                           (["--fit", str(truth), "--folds", "41"], "folds = 41: cross-validation over 40"),
                           (["--fit", str(tmp_path / "again.csv")], "ids stand more than once: a0 on lines 2, 42")):
        (tmp_path / "again.csv").write_text(truth.read_text() + "a0,5\n")
        with pytest.raises(SystemExit) as stopped:
            main(common + extra)
        error = capsys.readouterr().err
        assert stopped.value.code == 2 and message in error and error.count("\n") == 1, error


def test_the_learning_curve_fits_on_n_labelled_architectures_and_judges_on_the_rest(table):
    truth = truth_of(feature_table(table, ["ntk_cond", "flops"]))
    curve = learning_curve(table, ["ntk_cond", "flops"], truth, "ridge", [8, 20], draws=3, seed=1)
    assert list(curve.columns) == ["labels", "selection", "draw", "ranker", "flops"]
    assert len(curve) == 2 * 2 * 3 and set(curve["selection"]) == {"random", "diverse"}
    again = learning_curve(table, ["ntk_cond", "flops"], truth, "ridge", [8, 20], draws=3, seed=1)
    assert curve.equals(again)  # the draws are seeded
    fitted_on_20 = curve[curve["labels"] == 20]
    assert (fitted_on_20["ranker"] > fitted_on_20["flops"] + 0.3).all()  # the truth is learnable, FLOPs is noise
    with pytest.raises(AsvitError, match=r"learning curve: \[40\] labelled architectures leave none"):
        learning_curve(table, ["ntk_cond", "flops"], truth, "ridge", [40], draws=2)


def test_the_curve_summary_pairs_each_draw_with_flops_on_the_same_held_out_set():
    curve = pd.DataFrame({"labels": [8, 8, 8, 16, 16, 16], "selection": ["random"] * 6, "draw": [0, 1, 2] * 2,
                          "ranker": [0.3, 0.1, 0.2, 0.5, 0.6, 0.7], "flops": [0.2, 0.2, 0.2, 0.2, 0.3, 0.4]})
    summary = curve_summary(curve)["random"]
    # at 8 the differences 0.1, -0.1, 0 have mean 0 and sd 0.1; at 16 they are all 0.3 (sd 0)
    assert summary["points"][8] == pytest.approx({"ranker": 0.2, "flops": 0.2, "difference": 0.0,
                                                  "interval95": 1.959963984540054 * 0.1 / np.sqrt(3)})
    assert summary["points"][16]["difference"] == pytest.approx(0.3) and summary["first_beats_flops_at"] == 16


def test_the_predict_command_draws_the_learning_curve(table, tmp_path, capsys):
    from asvit.cli import main

    table.index.name = "id"
    table.to_csv(tmp_path / "scores.csv")
    truth = truth_of(feature_table(table, ["ntk_cond", "flops"]))
    (tmp_path / "truth.csv").write_text("id,top1\n" + "".join(f"{i},{v}\n" for i, v in truth.items()))
    main(["predict", "--scores", str(tmp_path / "scores.csv"), "--fit", str(tmp_path / "truth.csv"),
          "--truth-column", "top1", "--out", str(tmp_path / "p.csv"), "--learning-curve", "8,16", "--draws", "2"])
    curve = pd.read_csv(tmp_path / "p.curve.csv")
    assert len(curve) == 2 * 2 * 2 and "FLOPs beyond the interval" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["predict", "--scores", str(tmp_path / "scores.csv"), "--fit", str(tmp_path / "truth.csv"),
              "--truth-column", "top1", "--out", str(tmp_path / "p.csv"), "--learning-curve", "1,8"])
    assert "a ranker needs at least 2 labelled architectures, got '1,8'" in capsys.readouterr().err
