"""The learned ranker: its features, cross-validation that never lets a fold see its own truth, and
a saved model (plain JSON numbers) that predicts exactly what the fitted scikit-learn model does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from asvit.errors import AsvitError
from asvit.predictors import (REGRESSORS, architecture_features, cross_validated_predictions, feature_table, fit_ranker,
                              predict_with, rank_quantiles)
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


class Spy:
    """A regressor that records what it was fitted on and predicts the mean of its targets."""

    fitted: list[set] = []
    predicted: list[set] = []

    def __init__(self, seed: int) -> None:
        pass

    def fit(self, x, y):
        Spy.fitted.append({tuple(row) for row in x})
        self.mean = float(np.mean(y))
        return self

    def predict(self, x):
        Spy.predicted.append({tuple(row) for row in x})
        return np.full(len(x), self.mean)


def test_cross_validation_never_lets_a_fold_see_its_own_truth(table, monkeypatch):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features)
    truth.iloc[:4] = np.nan  # no truth: never fitted on, never predicted
    Spy.fitted, Spy.predicted = [], []
    monkeypatch.setitem(REGRESSORS, "spy", Spy)
    predicted = cross_validated_predictions(features, truth, "spy", folds=5)
    assert len(Spy.fitted) == 5
    for fitted, held_out in zip(Spy.fitted, Spy.predicted, strict=True):
        assert not fitted & held_out and len(fitted) + len(held_out) == 36
    assert set().union(*Spy.predicted) == {tuple(r) for r in features.iloc[4:].to_numpy(float)}
    assert predicted.iloc[:4].isna().all() and predicted.iloc[4:].notna().all()


def test_a_ranker_of_a_learnable_truth_ranks_well_out_of_fold(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features)
    for regressor in REGRESSORS:
        predicted = cross_validated_predictions(features, truth, regressor, folds=5)
        assert stats.kendalltau(predicted, truth).statistic > 0.6, regressor
    with pytest.raises(AsvitError, match="need at least 5"):
        cross_validated_predictions(features.iloc[:4], truth.iloc[:4], "ridge", folds=5)


@pytest.mark.parametrize("regressor", list(REGRESSORS))
def test_the_saved_ranker_predicts_what_the_fitted_model_does(table, regressor):
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features, noise=1.0)
    saved = json.loads(json.dumps(fit_ranker(features, truth, regressor, seed=2)))  # through JSON text
    model = REGRESSORS[regressor](2).fit(features.to_numpy(float), rank_quantiles(truth.to_numpy(float)))
    expected = model.predict(features.to_numpy(float))
    assert predict_with(saved, features).to_numpy() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    with pytest.raises(AsvitError, match="needs feature"):
        predict_with(saved, features.drop(columns=["E1"]))


def test_the_ranker_fits_rank_quantiles_so_only_the_order_of_the_truth_matters(table):
    assert rank_quantiles(np.array([70.0, 10.0, 30.0, 30.0])).tolist() == [1.0, 0.25, 0.625, 0.625]
    features = feature_table(table, ["ntk_cond", "flops"])
    truth = truth_of(features, noise=1.0)
    for regressor in REGRESSORS:
        plain = predict_with(fit_ranker(features, truth, regressor), features)
        stretched = predict_with(fit_ranker(features, np.exp(truth / 5), regressor), features)
        assert stretched.to_numpy() == pytest.approx(plain.to_numpy(), abs=1e-12), regressor
        assert 0 < plain.mean() < 1


def test_a_missing_feature_row_gets_no_prediction(table):
    features = feature_table(table, ["ntk_cond", "flops"])
    saved = fit_ranker(features, truth_of(features), "ridge")
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
