"""Predictors of trained accuracy built from several proxies (docs/design.md section 6).

``rank_aggregate`` is AZ-NAS's non-linear rank aggregation: each proxy m ranks the N architectures
in its own direction (r_m = 1 for the worst, N for the best, ties averaged), and the score is
s = sum_m log(r_m / N). The logarithm punishes an architecture that one proxy ranks poorly far more
than it rewards one ranked well, so the winner must be good on every proxy.

The learned ranker is a scikit-learn regressor fitted on the ground-truth table: its inputs are the
log proxies and the architecture's own decisions (:func:`feature_table`), its target the truth's
rank quantile q_i = rank(y_i) / n among the architectures it is fitted on (:func:`rank_quantiles`;
Kendall tau sees only the order, and ranks keep one outlying accuracy from pulling the fit), so it
predicts where an architecture would rank, from 0 (worst) to 1 (best). Its quality is the Kendall
tau of K-fold out-of-fold predictions (:func:`cross_validated_predictions`), and the fitted model is
saved as plain numbers in JSON (:func:`fit_ranker`, :func:`predict_with`), never as a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .errors import AsvitError
from .registry import Registry

RANK_AGGREGATE = "rank_aggregate"


def rank_aggregate(scores: pd.DataFrame, names: Sequence[str], key: str = "predictor.aggregate") -> pd.Series:
    """s = sum_m log(r_m / N) over the proxies ``names`` of ``scores`` (one row per architecture);
    NaN for a row where any of them is NaN (a bad topology), which takes no part in the ranks.
    A proxy missing from the table is named with ``key``."""
    from .proxies import PROXIES

    missing = [name for name in names if name not in scores.columns]
    if missing:
        raise AsvitError(f"{key}: {', '.join(missing)} not in the score table (columns: "
                         f"{', '.join(scores.columns)}); add it to proxy.names")
    valid = scores[list(names)].dropna()
    total = pd.Series(0.0, index=valid.index)
    for name in names:
        oriented = valid[name] if PROXIES[name].higher_is_better else -valid[name]
        total += np.log(oriented.rank(method="average") / len(valid))
    return total.reindex(scores.index).rename(RANK_AGGREGATE)


# --- the learned ranker ---------------------------------------------------------------------------

PREDICTOR = "predictor"


def architecture_features(arch: str) -> dict[str, float]:
    """An architecture's own decisions as numbers, from its text in a score table: for As-ViT the
    kernels K, splits S, expansions E and depths L of each stage, heads H and width C; for the
    AutoFormer space (a JSON record) embedding width, depth, mean heads and mean MLP ratio."""
    from .space import AutoFormerArch, Topology

    if arch.lstrip().startswith("{"):
        record = AutoFormerArch.from_record(json.loads(arch))
        return {"embed_dim": record.embed_dim, "depth": record.depth,
                "mean_heads": float(np.mean(record.num_heads)), "mean_mlp_ratio": float(np.mean(record.mlp_ratio))}
    topology = Topology.parse(arch)
    features: dict[str, float] = {"H": topology.heads, "C": topology.width}
    for letter, values in (("K", topology.kernels), ("S", topology.splits), ("E", topology.expansions),
                           ("L", topology.depths)):
        features.update({f"{letter}{stage + 1}": value for stage, value in enumerate(values)})
    return features


def feature_table(table: pd.DataFrame, proxies: Sequence[str]) -> pd.DataFrame:
    """The ranker's inputs for a score table (``arch`` plus proxy columns, indexed by id): the signed
    log sign(x) log(1 + |x|) of every proxy of ``proxies``, then the architecture's decisions."""
    missing = [name for name in proxies if name not in table.columns]
    if missing:
        raise AsvitError(f"predictor: {', '.join(missing)} not in the score table; add it to proxy.names")
    logs = table[list(proxies)].apply(lambda x: np.sign(x) * np.log1p(np.abs(x))).add_prefix("log_")
    decisions = pd.DataFrame([architecture_features(a) for a in table["arch"]], index=table.index)
    return logs.join(decisions)


def _ridge(seed: int):
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))


def _gradient_boosting(seed: int):
    return GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05, subsample=0.8,
                                     random_state=seed)


REGRESSORS: Registry[Callable[[int], Any]] = Registry("regressor", {"ridge": _ridge, "gbr": _gradient_boosting})
"""scikit-learn regressors by name, each made from a seed: standardised ridge regression with its
penalty chosen by leave-one-out from 1e-3 to 1e3 (the default), or gradient-boosted depth-2 trees."""


def rank_quantiles(values: np.ndarray) -> np.ndarray:
    """q_i = rank(v_i) / n, ranks from 1 (smallest) to n with ties averaged: the ranker's target."""
    return stats.rankdata(values) / len(values)


def cross_validated_predictions(features: pd.DataFrame, truth: pd.Series, regressor: str, folds: int = 5,
                                seed: int = 0) -> pd.Series:
    """Out-of-fold predictions: the architectures with a truth value are cut into ``folds`` shuffled
    folds (seed ``seed``) and each fold is predicted by a regressor fitted on the other folds alone."""
    rows = truth.dropna().index.intersection(features.dropna().index)
    if len(rows) < max(folds, 3):
        raise AsvitError(f"predictor: {len(rows)} architectures have features and a truth value; need at least "
                         f"{max(folds, 3)} for {folds}-fold cross-validation")
    x, y = features.loc[rows].to_numpy(float), truth.loc[rows].to_numpy(float)
    predicted = np.empty(len(rows))
    for fit_rows, held_out in KFold(folds, shuffle=True, random_state=seed).split(x):
        model = REGRESSORS.lookup(regressor)(seed).fit(x[fit_rows], rank_quantiles(y[fit_rows]))
        predicted[held_out] = model.predict(x[held_out])
    return pd.Series(predicted, index=rows, name=PREDICTOR).reindex(features.index)


def fit_ranker(features: pd.DataFrame, truth: pd.Series, regressor: str, seed: int = 0) -> dict[str, Any]:
    """A regressor fitted on every architecture with features and a truth value, as a JSON-ready
    mapping (:func:`predict_with`): coefficients for ridge, the trees' arrays for gradient boosting."""
    rows = truth.dropna().index.intersection(features.dropna().index)
    model = REGRESSORS.lookup(regressor)(seed).fit(features.loc[rows].to_numpy(float),
                                            rank_quantiles(truth.loc[rows].to_numpy(float)))
    saved: dict[str, Any] = {"regressor": regressor, "features": list(features.columns), "fitted_on": len(rows)}
    if regressor == "ridge":
        scaler, ridge = model[0], model[1]
        return {**saved, "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "alpha": float(ridge.alpha_),
                "coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_)}
    trees = [{"left": t.tree_.children_left.tolist(), "right": t.tree_.children_right.tolist(),
              "feature": t.tree_.feature.tolist(), "threshold": t.tree_.threshold.tolist(),
              "value": t.tree_.value[:, 0, 0].tolist()} for t in model.estimators_[:, 0]]
    return {**saved, "init": float(model.init_.constant_[0, 0]), "learning_rate": model.learning_rate, "trees": trees}


def _tree_value(tree: Mapping[str, list], row: np.ndarray) -> float:
    node = 0
    while tree["left"][node] != -1:
        go_left = row[tree["feature"][node]] <= np.float32(tree["threshold"][node])
        node = tree["left"][node] if go_left else tree["right"][node]
    return tree["value"][node]


def predict_with(saved: Mapping[str, Any], features: pd.DataFrame) -> pd.Series:
    """The predictions of a ranker saved by :func:`fit_ranker` (no pickle: plain numbers), NaN where a
    feature is missing. Ridge: y = b + sum_j w_j (x_j - mu_j) / sigma_j; boosting: the initial value
    plus the learning rate times the sum of the trees' leaf values (compared in float32, as sklearn)."""
    missing = [name for name in saved["features"] if name not in features.columns]
    if missing:
        raise AsvitError(f"the saved predictor needs feature(s) {', '.join(missing)}, which these scores lack")
    valid = features[saved["features"]].dropna()
    x = valid.to_numpy(float)
    if saved["regressor"] == "ridge":
        values = saved["intercept"] + ((x - np.asarray(saved["mean"])) / np.asarray(saved["scale"])) @ np.asarray(
            saved["coef"])
    else:
        x32 = x.astype(np.float32)
        values = np.array([saved["init"] + saved["learning_rate"] * sum(_tree_value(t, row) for t in saved["trees"])
                           for row in x32])
    return pd.Series(values, index=valid.index, name=PREDICTOR).reindex(features.index)


def learned_ranking(scores: Path | str, truth: pd.Series, regressor: str = "ridge", folds: int = 5,
                    seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """The learned ranker over a score table (``asvit score`` output; every proxy column a feature)
    and a truth by id: the model fitted on every architecture with a truth value (:func:`fit_ranker`)
    and a table by id of ``arch``, ``truth``, ``prediction`` (that model, for every architecture) and
    ``cv_prediction`` (out of fold, only where there is a truth)."""
    from .correlation import read_score_table, read_scores

    proxies = list(read_scores(scores).columns)
    table = read_score_table(scores)
    features = feature_table(table, proxies)
    truth = truth.reindex(features.index)
    labelled = int(truth.notna().sum())
    if not 2 <= folds <= labelled:
        raise AsvitError(f"folds = {folds}: cross-validation over {labelled} labelled architectures needs 2 to "
                         f"{labelled} folds")
    out_of_fold = cross_validated_predictions(features, truth, regressor, folds, seed)
    saved = fit_ranker(features, truth, regressor, seed)
    return saved, pd.DataFrame({"arch": table["arch"], "truth": truth, "prediction": predict_with(saved, features),
                                "cv_prediction": out_of_fold})
