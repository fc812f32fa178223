"""Rank agreement between a proxy and accuracy: Kendall tau-b and Spearman rho (scipy.stats) with
paired-bootstrap 95% confidence intervals, and top-k overlap.

A lower-is-better proxy (e.g. the NTK condition number kappa) is negated first, so a positive
correlation always means "the proxy ranks like accuracy".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AsvitError
from .records import json_lines


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class RankAgreement:
    """Correlations of one proxy with accuracy over ``n`` architectures (bad ones dropped)."""

    n: int
    kendall_tau: float
    kendall_ci: Interval
    spearman_rho: float
    spearman_ci: Interval
    top_k_overlap: dict[int, float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def oriented(scores: Sequence[float], higher_is_better: bool) -> np.ndarray:
    """Scores turned so that higher always predicts higher accuracy."""
    values = np.asarray(scores, dtype=float)
    return values if higher_is_better else -values


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.kendalltau(x, y).statistic)


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x, y).statistic)


def top_k_overlap(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """|top-k by x ∩ top-k by y| / k (stable order for ties)."""
    k = min(k, len(x))
    best_x = set(np.argsort(-x, kind="stable")[:k])
    best_y = set(np.argsort(-y, kind="stable")[:k])
    return len(best_x & best_y) / k


def _bootstrap_interval(x: np.ndarray, y: np.ndarray, statistic, resamples: int, seed: int) -> Interval:
    result = stats.bootstrap((x, y), statistic, paired=True, vectorized=False, n_resamples=resamples,
                             confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Interval(float(low), float(high))


def rank_agreement(scores: Sequence[float], accuracy: Sequence[float], higher_is_better: bool = True,
                   top_k: Sequence[int] = (5, 10), resamples: int = 1000, seed: int = 0) -> RankAgreement:
    """Kendall tau and Spearman rho of ``scores`` against ``accuracy`` with bootstrap 95% intervals.
    Pairs where either value is NaN are dropped; at least 3 must remain."""
    if resamples < 1:
        raise AsvitError(f"resamples = {resamples}: the bootstrap intervals need at least 1 resample")
    x, y = oriented(scores, higher_is_better), np.asarray(accuracy, dtype=float)
    if x.shape != y.shape:
        raise AsvitError(f"{len(x)} proxy scores but {len(y)} accuracies")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        raise AsvitError(f"only {len(x)} architectures have both a proxy score and an accuracy; need 3")
    with warnings.catch_warnings():  # tiny resamples can be constant: their statistic is NaN
        warnings.simplefilter("ignore")
        return RankAgreement(
            n=len(x),
            kendall_tau=kendall_tau(x, y),
            kendall_ci=_bootstrap_interval(x, y, kendall_tau, resamples, seed),
            spearman_rho=spearman_rho(x, y),
            spearman_ci=_bootstrap_interval(x, y, spearman_rho, resamples, seed),
            top_k_overlap={k: top_k_overlap(x, y, k) for k in top_k},
        )


@dataclass(frozen=True)
class TruthReliability:
    """How well the ground truth agrees with itself: ``ceiling`` is the agreement of the accuracies
    from one training seed with those from another (test-retest Kendall tau, the most any predictor
    of one seed's ranking can reach); ``spread`` is the standard deviation over architectures of the
    seed-mean accuracy and ``seed_noise`` the root mean square over architectures of the standard
    deviation over seeds, so spread / seed_noise says how many noise widths apart architectures are."""

    seeds: int
    ceiling: RankAgreement
    spread: float
    seed_noise: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def truth_reliability(per_seed: pd.DataFrame, top_k: Sequence[int] = (5, 10), resamples: int = 1000,
                      seed: int = 0) -> TruthReliability:
    """:class:`TruthReliability` of a table with one accuracy column per training seed (at least
    two); the ceiling compares the first two columns."""
    if per_seed.shape[1] < 2:
        raise AsvitError("the ground truth has one training seed; its test-retest tau needs groundtruth.seeds >= 2")
    values = per_seed.dropna()
    first, second = values.columns[:2]
    return TruthReliability(
        seeds=per_seed.shape[1],
        ceiling=rank_agreement(values[first], values[second], True, top_k, resamples, seed),
        spread=float(values.mean(axis=1).std(ddof=1)),
        seed_noise=float(np.sqrt((values.std(axis=1, ddof=1) ** 2).mean())),
    )


def read_seed_columns(path: Path | str, column: str) -> pd.DataFrame:
    """The per-seed columns ``<column>_seed0``, ``<column>_seed1``, ... of a ground-truth CSV, by id."""
    table = pd.read_csv(path, dtype={"id": str}).set_index("id")
    return table[[c for c in table.columns if c.startswith(f"{column}_seed")]]


def unique_ids(ids: pd.Series, lines: Sequence[int], path: Path) -> None:
    """Refuse a table in which an architecture id stands twice: which of its values is true is unknown."""
    repeated = ids[ids.duplicated(keep=False)]
    if not repeated.empty:
        where = "; ".join(f"{i} on lines {', '.join(str(lines[n]) for n in repeated.index[repeated == i])}"
                          for i in dict.fromkeys(repeated))
        raise AsvitError(f"{path}: architecture ids stand more than once: {where}")


def read_truth(path: Path | str, column: str) -> pd.Series:
    """Accuracy by architecture id from a CSV (``id`` plus columns) or a JSON-lines file whose
    records carry the column at the top level or inside an ``accuracy`` mapping. A repeated id or a
    value that is not a number (``71.2%``) is an error naming its lines; an empty value is missing."""
    path = Path(path)
    if path.suffix == ".csv":
        if not path.is_file():
            raise AsvitError(f"{path}: ground-truth file not found")
        table = pd.read_csv(path, dtype={"id": str, column: str}, keep_default_na=False)
        lines = list(range(2, len(table) + 2))  # line 1 is the header
    else:
        numbered = list(json_lines(path, "ground-truth file"))
        table = pd.DataFrame([{"id": str(record.get("id", number)), **record.get("accuracy", {}),
                               **{k: v for k, v in record.items() if not isinstance(v, (dict, list))}}
                              for number, record in numbered])
        lines = [number for number, _ in numbered]
    if "id" not in table or column not in table:
        available = ", ".join(c for c in table.columns if c != "id")
        raise AsvitError(f"{path}: no column {column!r}; available: {available}")
    table = table.reset_index(drop=True)
    unique_ids(table["id"], lines, path)
    raw = table[column].map(lambda v: None if v is None or (isinstance(v, str) and not v.strip()) else v)
    values = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & values.isna() & ~raw.astype(str).str.lower().isin(["nan"])
    if bad.any():
        where = ", ".join(f"line {lines[n]} ({raw[n]!r})" for n in bad[bad].index[:5])
        raise AsvitError(f"{path}: column {column!r} holds values that are not numbers: {where}")
    return pd.Series(values.to_numpy(float), index=table["id"], name=column)


def read_score_table(path: Path | str) -> pd.DataFrame:
    """Every column of a score table (``asvit score`` output) indexed by id; a repeated id is an error
    naming its lines."""
    path = Path(path)
    if not path.is_file():
        raise AsvitError(f"{path}: score table not found")
    table = pd.read_csv(path, dtype={"id": str})
    unique_ids(table["id"], list(range(2, len(table) + 2)), path)
    return table.set_index("id")


def read_scores(path: Path | str) -> pd.DataFrame:
    """The registered proxy columns of a score table, indexed by id."""
    from .proxies import PROXIES

    table = read_score_table(path)
    proxies = [c for c in table.columns if c in PROXIES]
    if not proxies:
        raise AsvitError(f"{path}: no proxy columns; expected some of {', '.join(PROXIES)}")
    return table[proxies]


def agreement_table(scores: pd.DataFrame, truth: pd.Series, top_k: Sequence[int] = (5, 10),
                    resamples: int = 1000, seed: int = 0) -> dict[str, RankAgreement]:
    """:func:`rank_agreement` of every column of ``scores`` against ``truth``, matched by id: a proxy
    in its registered direction, any other column (a predictor) higher-is-better."""
    from .proxies import PROXIES

    joined = scores.join(truth.rename("__truth__"), how="inner")
    if joined.empty:
        raise AsvitError("no architecture id is both in the scores and in the ground truth")
    return {name: rank_agreement(joined[name], joined["__truth__"],
                                 PROXIES[name].higher_is_better if name in PROXIES else True, top_k, resamples, seed)
            for name in scores.columns}


def format_agreements(table: dict[str, RankAgreement], reliability: TruthReliability | None = None) -> str:
    """A text table: proxy, n, Kendall tau with its 95% interval, Spearman rho with its interval;
    the ground truth's test-retest agreement (the ceiling) first when given."""
    lines = [f"{'proxy':<18} {'n':>4} {'Kendall tau':>11} {'95% CI':>16} {'Spearman':>9} {'95% CI':>16}"]
    rows = {**({"(seed vs seed)": reliability.ceiling} if reliability else {}), **table}
    for name, a in rows.items():
        lines.append(f"{name:<18} {a.n:>4} {a.kendall_tau:>11.3f} [{a.kendall_ci.low:>6.3f},{a.kendall_ci.high:>6.3f}] "
                     f"{a.spearman_rho:>9.3f} [{a.spearman_ci.low:>6.3f},{a.spearman_ci.high:>6.3f}]")
    return "\n".join(lines)
