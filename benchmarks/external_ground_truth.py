"""Rank correlation of every proxy with accuracies nobody here produced: the 200 AutoFormer-space
ViTs of ViT-Bench-101 in ``../shared/benchmarks/vitbench101_autoformer.jsonl``.

    python benchmarks/external_ground_truth.py [--image-size 224] [--repeats 1] [--limit N] [--workers W]
        [--fit 50] [--splits 10] [--curve 8,16,32,64,100] [--draws 10] [--curve-ranker ridge]

Scores are written to (and resumed from) ``benchmarks/results/vitbench101_scores.csv``. The first
tables give Kendall tau with its bootstrap 95% interval and Spearman rho of each proxy against each
accuracy column, with parameter count and FLOPs always beside the proxies. The last one judges the
predictors: the learned rankers fitted on ``--fit`` random architectures and evaluated on the rest,
and the training-free rank aggregation, each beside FLOPs and #params on the same held-out
architectures, mean Kendall tau over ``--splits`` random splits; ``auto`` chooses its regressor and
feature groups by 5-fold cross-validation on the fitted architectures alone, and what it chose is
counted. The learning curves give, per column, the held-out tau of ``--curve-ranker`` fitted on N
labelled architectures chosen at random or by greedy k-center over the decisions, beside FLOPs on the
same held-out sets (``--draws`` draws each), and the fewest labels at which it beats FLOPs by more
than the 95% interval of the paired difference. The headroom table bounds what any
linear ranker of the same features could reach: a pairwise logistic ranker (the smooth surrogate of
Kendall tau) fitted on every architecture and judged on them (in-sample, an optimistic bound) and
5-fold cross-validated (fitted on four fifths), beside FLOPs on the same folds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from asvit.correlation import agreement_table, format_agreements, read_scores, read_truth
from asvit.executor import Engine
from asvit.cli import parse_counts
from asvit.features import feature_table
from asvit.predictors import (AUTO, REGRESSORS, candidate_tables, curve_summary, fit_ranker, format_curve,
                              learning_curve, predict_with, rank_aggregate, ranker_inputs)
from asvit.proxies import PROXIES
from asvit.proxies.scoring import ScoreSettings, score_file
from asvit.records import read_records

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT.parent / "shared" / "benchmarks" / "vitbench101_autoformer.jsonl"
OUT = ROOT / "benchmarks" / "results" / "vitbench101_scores.csv"
AGGREGATE = ("length_distortion", "ntk_cond", "flops")  # the pipeline's default predictor.aggregate
TRUTH_COLUMNS = ("c100_base_acc", "c100_kd_acc", "flower_base_acc", "flower_kd_acc", "chaoyang_base_acc",
                 "chaoyang_kd_acc", "imagenet_super_acc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", type=Path, default=TRUTH)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N architectures")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--workers", type=int, default=1, help="processes measuring in parallel")
    parser.add_argument("--fit", type=int, default=50, help="architectures each learned ranker is fitted on")
    parser.add_argument("--splits", type=int, default=10, help="random fit / held-out splits averaged")
    parser.add_argument("--curve", type=parse_counts, default=[8, 16, 32, 64, 100],
                        help="labelled architectures of the learning curves")
    parser.add_argument("--draws", type=int, default=10, help="draws averaged at each point of a learning curve")
    parser.add_argument("--curve-ranker", default="ridge", help="the ranker of the learning curves")
    args = parser.parse_args()

    records = read_records(args.truth, "autoformer")[: args.limit]
    subset = args.out.with_suffix(".archs.jsonl")
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(args.truth.read_text().splitlines(keepends=True)[: len(records)]))
    settings = ScoreSettings(image_size=args.image_size, repeats=args.repeats)
    names = [name for name, proxy in PROXIES.items() if not proxy.timed]  # latency times this machine, not the networks
    score_file(subset, "autoformer", names, settings, args.out, engine=Engine.local(args.workers))

    scores = read_scores(args.out)
    print(f"\n{len(records)} architectures, proxies at {args.image_size}px, {args.repeats} repeat(s)")
    for column in TRUTH_COLUMNS:
        print(f"\n{column}")
        print(format_agreements(agreement_table(scores, read_truth(args.truth, column))))
    table = pd.read_csv(args.out, dtype={"id": str}).set_index("id")
    features = feature_table(table, list(scores.columns))
    held_out, chosen = {}, {}
    for column in TRUTH_COLUMNS:
        held_out[column], chosen[column] = held_out_taus(table, scores, read_truth(args.truth, column), args.fit,
                                                         args.splits)
    print(f"\nmean Kendall tau on the held-out architectures ({args.splits} random splits, learned rankers "
          f"fitted on {args.fit}):")
    print(format_held_out(pd.DataFrame(held_out).T))
    print("\nwhat auto chose (splits per choice):")
    for column, counts in chosen.items():
        print(f"{column:<20}" + ", ".join(f"{name} {count}" for name, count in counts.items()))
    for column in TRUTH_COLUMNS:
        truth = read_truth(args.truth, column)
        labelled = int(truth.reindex(table.index).notna().sum())
        sizes = [n for n in args.curve if n < labelled]  # at least one architecture left to judge on
        curve = learning_curve(table, list(scores.columns), truth, args.curve_ranker, sizes, args.draws)
        print(f"\nlearning curve of {args.curve_ranker} on {column} ({labelled} labelled; mean over {args.draws} "
              "draws):")
        print(format_curve(curve_summary(curve)))
    bounds = {column: headroom(features, read_truth(args.truth, column)) for column in TRUTH_COLUMNS}
    print("\nheadroom: the best linear pairwise ranker of the same features, in-sample and 5-fold, beside FLOPs:")
    print(format_held_out(pd.DataFrame(bounds).T))


def held_out_taus(table: pd.DataFrame, scores: pd.DataFrame, truth: pd.Series, fit: int,
                  splits: int) -> tuple[dict[str, float], dict[str, int]]:
    """Mean over ``splits`` random splits of the Kendall tau on the architectures outside a random
    ``fit`` of them: each learned ranker and ``auto`` (fitted on the ``fit``), the rank aggregation, FLOPs,
    #params; and how often ``auto`` chose each regressor and feature groups."""
    proxies = list(scores.columns)
    rows = truth.dropna().index.intersection(feature_table(table, proxies).dropna().index)
    taus: dict[str, list[float]] = {}
    chosen_by_auto: dict[str, int] = {}
    for split in range(splits):
        chosen = np.random.default_rng(split).permutation(len(rows))
        fitted, held = rows[chosen[:fit]], rows[chosen[fit:]]
        predicted = {}
        for name in [*REGRESSORS, AUTO]:
            tables = {c: t.loc[fitted] for c, t in candidate_tables(table, proxies, name).items()}
            saved = fit_ranker(tables, truth.loc[fitted], seed=split)
            predicted[name] = predict_with(saved, ranker_inputs(saved, table.loc[held], proxies))
        choice = f"{saved['regressor']}:{'+'.join(saved['groups'])}"
        chosen_by_auto[choice] = chosen_by_auto.get(choice, 0) + 1
        predicted["rank_aggregate"] = rank_aggregate(scores.loc[held], AGGREGATE)
        predicted["flops"], predicted["params"] = scores.loc[held, "flops"], scores.loc[held, "params"]
        for name, values in predicted.items():
            taus.setdefault(name, []).append(float(stats.kendalltau(values, truth.loc[held]).statistic))
    return {name: float(np.mean(values)) for name, values in taus.items()}, chosen_by_auto


def pairwise_ranker(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Weights w of a logistic model of P(y_i > y_j) = sigmoid(w . (x_i - x_j)) over every pair of
    rows with different truth: the linear score w . x that best orders the pairs, which is what
    Kendall tau counts."""
    i, j = np.triu_indices(len(truth), 1)
    keep = truth[i] != truth[j]
    differences = x[i[keep]] - x[j[keep]]
    above = (truth[i[keep]] > truth[j[keep]]).astype(int)
    model = LogisticRegression(fit_intercept=False, max_iter=2000)
    return model.fit(np.vstack([differences, -differences]), np.concatenate([above, 1 - above])).coef_[0]


def headroom(features: pd.DataFrame, truth: pd.Series, folds: int = 5) -> dict[str, float]:
    """Kendall tau of the pairwise ranker of the standardised ``features`` fitted on every
    architecture (in-sample) and ``folds``-fold cross-validated (mean tau over the held-out folds),
    and FLOPs' mean tau on the same folds."""
    rows = truth.dropna().index.intersection(features.dropna().index)
    x = StandardScaler().fit_transform(features.loc[rows].to_numpy(float))
    y, flops = truth.loc[rows].to_numpy(float), features.loc[rows, "log_flops"].to_numpy()
    in_sample = float(stats.kendalltau(x @ pairwise_ranker(x, y), y).statistic)
    cv, baseline = [], []
    for fitted, held in KFold(folds, shuffle=True, random_state=0).split(x):
        cv.append(stats.kendalltau(x[held] @ pairwise_ranker(x[fitted], y[fitted]), y[held]).statistic)
        baseline.append(stats.kendalltau(flops[held], y[held]).statistic)
    return {"in_sample": in_sample, "flops_all": float(stats.kendalltau(flops, y).statistic),
            f"{folds}_fold": float(np.mean(cv)), f"flops_{folds}_fold": float(np.mean(baseline))}


def format_held_out(taus: pd.DataFrame) -> str:
    """One row per accuracy column and their mean, one column per predictor."""
    taus = pd.concat([taus, taus.mean().to_frame("mean").T])
    lines = [f"{'column':<20}" + "".join(f"{name:>16}" for name in taus.columns)]
    for column, row in taus.iterrows():
        lines.append(f"{column:<20}" + "".join(f"{value:>16.3f}" for value in row))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
