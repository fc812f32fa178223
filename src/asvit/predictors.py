"""Predictors of trained accuracy built from several proxies (docs/design.md section 6).

``rank_aggregate`` is AZ-NAS's non-linear rank aggregation: each proxy m ranks the N architectures
in its own direction (r_m = 1 for the worst, N for the best, ties averaged), and the score is
s = sum_m log(r_m / N). The logarithm punishes an architecture that one proxy ranks poorly far more
than it rewards one ranked well, so the winner must be good on every proxy.

The learned ranker is a scikit-learn regressor fitted on the ground-truth table: its inputs are
feature groups of :mod:`asvit.features` (by default the log proxies and the architecture's own
decisions), its target the truth's rank quantile q_i = rank(y_i) / n among the architectures it is
fitted on (:func:`rank_quantiles`; Kendall tau sees only the order, and ranks keep one outlying
accuracy from pulling the fit), so it predicts where an architecture would rank, from 0 (worst) to 1
(best). ``auto`` chooses the regressor and the feature groups by inner cross-validation
(:func:`select_candidate`). Its quality is the Kendall tau of K-fold out-of-fold predictions, the
choice nested inside each fold (:func:`cross_validated_predictions`), and the fitted model is saved
as plain numbers in JSON (:func:`fit_ranker`, :func:`predict_with`), never as a pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .errors import AsvitError
from .features import DEFAULT_GROUPS, LABELLINGS, LAYER, feature_table
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
AUTO = "auto"


@dataclass(frozen=True)
class RegressorSpec:
    """A scikit-learn regressor made from a seed, how a fitted one is saved as JSON numbers, and how
    the saved numbers predict (exactly what the fitted model does)."""

    make: Callable[[int], Any]
    save: Callable[[Any], dict[str, Any]]
    predict: Callable[[Mapping[str, Any], np.ndarray], np.ndarray]


def _save_ridge(model) -> dict[str, Any]:
    scaler, ridge = model[0], model[1]
    return {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "alpha": float(ridge.alpha_),
            "coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_)}


def _predict_ridge(saved: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """y = b + sum_j w_j (x_j - mu_j) / sigma_j."""
    return saved["intercept"] + ((x - np.asarray(saved["mean"])) / np.asarray(saved["scale"])) @ np.asarray(
        saved["coef"])


def _tree_arrays(tree) -> dict[str, list]:
    return {"left": tree.children_left.tolist(), "right": tree.children_right.tolist(),
            "feature": tree.feature.tolist(), "threshold": tree.threshold.tolist(),
            "value": tree.value[:, 0, 0].tolist()}


def _tree_value(tree: Mapping[str, list], row: np.ndarray) -> float:
    """The leaf value of ``row`` (float32, compared with the thresholds as sklearn does)."""
    node = 0
    while tree["left"][node] != -1:
        go_left = row[tree["feature"][node]] <= np.float32(tree["threshold"][node])
        node = tree["left"][node] if go_left else tree["right"][node]
    return tree["value"][node]


def _save_boosting(model) -> dict[str, Any]:
    return {"init": float(model.init_.constant_[0, 0]), "learning_rate": model.learning_rate,
            "trees": [_tree_arrays(t.tree_) for t in model.estimators_[:, 0]]}


def _predict_boosting(saved: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """The initial value plus the learning rate times the sum of the trees' leaf values."""
    return np.array([saved["init"] + saved["learning_rate"] * sum(_tree_value(t, row) for t in saved["trees"])
                     for row in x.astype(np.float32)])


def _save_forest(model) -> dict[str, Any]:
    return {"trees": [_tree_arrays(t.tree_) for t in model.estimators_]}


def _predict_forest(saved: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """The mean of the trees' leaf values."""
    trees = saved["trees"]
    return np.array([sum(_tree_value(t, row) for t in trees) / len(trees) for row in x.astype(np.float32)])


REGRESSORS: Registry[RegressorSpec] = Registry("regressor", {
    "ridge": RegressorSpec(lambda seed: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
                           _save_ridge, _predict_ridge),
    "gbr": RegressorSpec(lambda seed: GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05,
                                                                subsample=0.8, random_state=seed),
                         _save_boosting, _predict_boosting),
    "forest": RegressorSpec(lambda seed: RandomForestRegressor(n_estimators=100, min_samples_leaf=2, max_features=0.5,
                                                               random_state=seed),
                            _save_forest, _predict_forest),
})
"""scikit-learn regressors by name: standardised ridge regression with its penalty chosen by
leave-one-out from 1e-3 to 1e3, gradient-boosted depth-2 trees, or a random forest of 100 trees
(leaves of at least 2, half the features per split)."""

GROUP_SETS = (DEFAULT_GROUPS, (*DEFAULT_GROUPS, "layers"))  # the feature groups auto chooses among


@dataclass(frozen=True)
class Candidate:
    """A regressor and the feature groups it reads."""

    regressor: str
    groups: tuple[str, ...] = DEFAULT_GROUPS

    @property
    def name(self) -> str:
        return f"{self.regressor}:{'+'.join(self.groups)}"


def candidates(choice: str) -> list[Candidate]:
    """What ``predictor.regressor`` names: one regressor on the default groups, or (``auto``) every
    regressor on every group set of ``GROUP_SETS``, to be chosen by inner cross-validation."""
    if choice == AUTO:
        return [Candidate(regressor, groups) for regressor in REGRESSORS for groups in GROUP_SETS]
    REGRESSORS.lookup(choice)
    return [Candidate(choice)]


RANKERS: Registry[str] = Registry("regressor", {**{name: name for name in REGRESSORS}, AUTO: AUTO})
"""The values of ``predictor.regressor``: a regressor of ``REGRESSORS``, or auto."""


def rank_quantiles(values: np.ndarray) -> np.ndarray:
    """q_i = rank(v_i) / n, ranks from 1 (smallest) to n with ties averaged: the ranker's target."""
    return stats.rankdata(values) / len(values)


def _fit(regressor: str, x: np.ndarray, y: np.ndarray, seed: int):
    return REGRESSORS.lookup(regressor).make(seed).fit(x, rank_quantiles(y))


def _out_of_fold(regressor: str, x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    predicted = np.empty(len(y))
    for fitted, held_out in KFold(folds, shuffle=True, random_state=seed).split(x):
        predicted[held_out] = _fit(regressor, x[fitted], y[fitted], seed).predict(x[held_out])
    return predicted


def select_candidate(inputs: Mapping[Candidate, np.ndarray], y: np.ndarray, folds: int,
                     seed: int) -> tuple[Candidate, dict[str, float]]:
    """The candidate whose ``folds``-fold out-of-fold predictions on these rows alone have the largest
    Kendall tau with ``y`` (the first on a tie), and every candidate's tau; a single candidate is
    taken without cross-validation."""
    if len(inputs) == 1:
        return next(iter(inputs)), {}
    taus = {c: float(stats.kendalltau(_out_of_fold(c.regressor, x, y, min(folds, len(y)), seed), y).statistic)
            for c, x in inputs.items()}
    best = max(taus, key=lambda c: np.nan_to_num(taus[c], nan=-1.0))
    return best, {c.name: tau for c, tau in taus.items()}


def _labelled(tables: Mapping[Candidate, pd.DataFrame], truth: pd.Series) -> pd.Index:
    rows = truth.dropna().index
    for table in tables.values():
        rows = rows.intersection(table.dropna().index)
    return rows


def cross_validated_predictions(tables: Mapping[Candidate, pd.DataFrame], truth: pd.Series, folds: int = 5,
                                seed: int = 0) -> pd.Series:
    """Out-of-fold predictions: the architectures with a truth value are cut into ``folds`` shuffled
    folds (seed ``seed``) and each fold is predicted by the candidate chosen, and then fitted, on the
    other folds alone (nested cross-validation: the choice never sees the fold it predicts).
    ``tables`` holds each candidate's feature table by id."""
    rows = _labelled(tables, truth)
    if len(rows) < max(folds, 3):
        raise AsvitError(f"predictor: {len(rows)} architectures have features and a truth value; need at least "
                         f"{max(folds, 3)} for {folds}-fold cross-validation")
    inputs = {c: table.loc[rows].to_numpy(float) for c, table in tables.items()}
    y = truth.loc[rows].to_numpy(float)
    predicted = np.empty(len(rows))
    for fitted, held_out in KFold(folds, shuffle=True, random_state=seed).split(y):
        chosen, _ = select_candidate({c: x[fitted] for c, x in inputs.items()}, y[fitted], folds, seed)
        predicted[held_out] = _fit(chosen.regressor, inputs[chosen][fitted], y[fitted], seed).predict(
            inputs[chosen][held_out])
    first = next(iter(tables.values()))
    return pd.Series(predicted, index=rows, name=PREDICTOR).reindex(first.index)


def fit_ranker(tables: Mapping[Candidate, pd.DataFrame], truth: pd.Series, folds: int = 5,
               seed: int = 0) -> dict[str, Any]:
    """The candidate chosen by ``folds``-fold cross-validation on every labelled architecture, fitted on
    them all, as a JSON-ready mapping (:func:`predict_with`): its regressor, feature groups and
    feature names, the numbers of the fitted model, and every candidate's inner tau (``selection``)."""
    rows = _labelled(tables, truth)
    y = truth.loc[rows].to_numpy(float)
    chosen, taus = select_candidate({c: t.loc[rows].to_numpy(float) for c, t in tables.items()}, y, folds, seed)
    model = _fit(chosen.regressor, tables[chosen].loc[rows].to_numpy(float), y, seed)
    return {"regressor": chosen.regressor, "groups": list(chosen.groups), "features": list(tables[chosen].columns),
            "fitted_on": len(rows), **({"selection": taus} if taus else {}),
            **REGRESSORS.lookup(chosen.regressor).save(model)}


def ranker_inputs(saved: Mapping[str, Any], table: pd.DataFrame, proxies: Sequence[str]) -> pd.DataFrame:
    """The features a saved ranker reads, computed from a score table: its groups (the default for a
    ranker saved before groups were recorded) over ``proxies``."""
    return feature_table(table, proxies, saved.get("groups", DEFAULT_GROUPS))


def predict_with(saved: Mapping[str, Any], features: pd.DataFrame) -> pd.Series:
    """The predictions of a ranker saved by :func:`fit_ranker` (no pickle: plain numbers), NaN where a
    feature is missing. A ``layer_`` feature the table lacks is zero (no such layer or value)."""
    layer = [name for name in saved["features"] if name.startswith(LAYER) and name not in features.columns]
    features = features.assign(**dict.fromkeys(layer, 0.0))
    missing = [name for name in saved["features"] if name not in features.columns]
    if missing:
        raise AsvitError(f"the saved predictor needs feature(s) {', '.join(missing)}, which these scores lack")
    valid = features[saved["features"]].dropna()
    values = REGRESSORS.lookup(saved["regressor"]).predict(saved, valid.to_numpy(float))
    return pd.Series(values, index=valid.index, name=PREDICTOR).reindex(features.index)


def candidate_tables(table: pd.DataFrame, proxies: Sequence[str], choice: str) -> dict[Candidate, pd.DataFrame]:
    """Each candidate of ``choice`` (:func:`candidates`) and its feature table."""
    by_groups: dict[tuple[str, ...], pd.DataFrame] = {}
    tables = {}
    for candidate in candidates(choice):
        if candidate.groups not in by_groups:
            by_groups[candidate.groups] = feature_table(table, proxies, candidate.groups)
        tables[candidate] = by_groups[candidate.groups]
    return tables


def learned_ranking(scores: Path | str, truth: pd.Series, regressor: str = "ridge", folds: int = 5,
                    seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """The learned ranker over a score table (``asvit score`` output; every proxy column a feature)
    and a truth by id: the model chosen and fitted on every architecture with a truth value
    (:func:`fit_ranker`) and a table by id of ``arch``, ``truth``, ``prediction`` (that model, for every
    architecture) and ``cv_prediction`` (out of fold, only where there is a truth)."""
    from .correlation import read_score_table, read_scores

    proxies = list(read_scores(scores).columns)
    table = read_score_table(scores)
    tables = candidate_tables(table, proxies, regressor)
    truth = truth.reindex(table.index)
    labelled = int(truth.notna().sum())
    if not 2 <= folds <= labelled:
        raise AsvitError(f"folds = {folds}: cross-validation over {labelled} labelled architectures needs 2 to "
                         f"{labelled} folds")
    out_of_fold = cross_validated_predictions(tables, truth, folds, seed)
    saved = fit_ranker(tables, truth, folds, seed)
    features = ranker_inputs(saved, table, proxies)
    return saved, pd.DataFrame({"arch": table["arch"], "truth": truth, "prediction": predict_with(saved, features),
                                "cv_prediction": out_of_fold})


CURVE_COLUMNS = ("labels", "selection", "draw", "ranker", "flops")


def learning_curve(table: pd.DataFrame, proxies: Sequence[str], truth: pd.Series, choice: str,
                   sizes: Sequence[int], draws: int, selections: Sequence[str] = tuple(LABELLINGS), folds: int = 5,
                   seed: int = 0) -> pd.DataFrame:
    """How the ranker's held-out tau grows with the labelled architectures: for each number n of
    ``sizes``, each way of choosing them of ``selections`` (:data:`asvit.features.LABELLINGS`, over the
    architectures' standardised decisions) and each of ``draws`` draws, the ranker ``choice`` is fitted on
    n labelled architectures (the choice by ``min(folds, n)``-fold cross-validation among them) and
    judged on all the others: its Kendall tau and FLOPs' on the same held-out set (NaN without a
    ``flops`` column). One row per (n, selection, draw), columns ``CURVE_COLUMNS``."""
    tables = candidate_tables(table, proxies, choice)
    labelled = _labelled(tables, truth)
    too_many = [n for n in sizes if not 2 <= n < len(labelled)]
    if too_many:
        raise AsvitError(f"learning curve: {too_many} labelled architectures leave none to judge on, or too few to "
                         f"fit; the truth has {len(labelled)}")
    decisions = feature_table(table.loc[labelled], [], ("summary",))
    rows = []
    for n in sizes:
        for selection in selections:
            pick = LABELLINGS.lookup(selection)
            for draw in range(draws):
                fitted = pd.Index(pick(decisions, n, np.random.default_rng([seed, n, draw])))
                held = labelled.difference(fitted)
                subsets = {c: t.loc[fitted] for c, t in tables.items()}
                saved = fit_ranker(subsets, truth.loc[fitted], min(folds, n), seed)
                predicted = predict_with(saved, ranker_inputs(saved, table.loc[held], proxies))
                flops = (stats.kendalltau(table.loc[held, "flops"], truth.loc[held]).statistic
                         if "flops" in table.columns else np.nan)
                rows.append({"labels": n, "selection": selection, "draw": draw,
                             "ranker": float(stats.kendalltau(predicted, truth.loc[held]).statistic),
                             "flops": float(flops)})
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def curve_summary(curve: pd.DataFrame) -> dict[str, Any]:
    """Per selection and number of labels: the mean taus over the draws and the mean of the paired
    difference d = ranker - FLOPs with its 95% half-width z s_d / sqrt(draws); and per selection the
    fewest labels at which the ranker first beats FLOPs by more than that half-width (None if it never
    does; with more labels it may fall back within it)."""
    summary: dict[str, Any] = {}
    for selection, part in curve.groupby("selection", sort=False):
        points = {}
        for n, draws in part.groupby("labels"):
            difference = draws["ranker"] - draws["flops"]
            half = 1.959963984540054 * difference.std(ddof=1) / np.sqrt(len(draws)) if len(draws) > 1 else np.nan
            points[int(n)] = {"ranker": float(draws["ranker"].mean()), "flops": float(draws["flops"].mean()),
                              "difference": float(difference.mean()), "interval95": float(half)}
        beating = [n for n, p in points.items() if p["difference"] > p["interval95"]]
        summary[selection] = {"points": points, "first_beats_flops_at": min(beating) if beating else None}
    return summary


def format_curve(summary: Mapping[str, Any]) -> str:
    """One line per selection and number of labels: the mean taus and the paired difference with its
    95% half-width; then where the ranker first beats FLOPs."""
    lines = [f"{'selection':<10}{'labels':>8}{'ranker':>9}{'FLOPs':>9}{'difference':>18}"]
    for selection, entry in summary.items():
        for n, p in entry["points"].items():
            lines.append(f"{selection:<10}{n:>8}{p['ranker']:>9.3f}{p['flops']:>9.3f}"
                         f"{p['difference']:>+11.3f} +-{p['interval95']:.3f}")
        first = entry["first_beats_flops_at"]
        lines.append(f"{selection}: " + (f"first beats FLOPs beyond the interval at {first} labels" if first
                                         else "never beats FLOPs beyond the interval"))
    return "\n".join(lines)
