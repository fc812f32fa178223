"""Stage ``kendall``: Kendall tau and Spearman rho (bootstrap 95% intervals) and top-k overlap of
every proxy and predictor (the rank aggregation of ``predictor.aggregate``, the learned ranker's
out-of-fold predictions and the supernet's inherited-weight accuracy) against the trained
accuracies, each with the seconds it cost, beside the ground truth's own test-retest tau (one
training seed against another: the ceiling); the scatter data and the tau-per-proxy bars for
``dvc plots show``."""

from pathlib import Path

import pandas as pd

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.correlation import (agreement_table, format_agreements, read_scores, read_seed_columns, read_truth,
                               truth_reliability)
from asvit.cost import SUPERNET, ranking_seconds
from asvit.errors import AsvitError, exit_on_user_error
from asvit.predictors import PREDICTOR, rank_aggregate
from asvit.table import mean_seconds, read_ledger
from asvit.tracking import stage_run

SCORES = Path("artifacts/scores.csv")
TRUTH = Path("artifacts/groundtruth.csv")
PREDICTIONS = Path("artifacts/predictions.csv")  # the learned ranker's out-of-fold predictions
INHERITED = Path("artifacts/supernet.csv")  # the supernet's inherited-weight accuracies
LEDGERS = {stage: Path(f"metrics/seconds/{stage}.json") for stage in ("score", "groundtruth", "supernet")}
SUPERNET_HISTORY = Path("plots/supernet.csv")  # the supernet's training epochs, with their seconds
METRICS = Path("metrics/kendall.json")
PLOT = Path("plots/kendall.csv")
TAUS = Path("plots/kendall_taus.csv")


def seconds_per_row(stage: str) -> dict[str, float]:
    """Mean seconds per row of each name in ``stage``'s ledger (every row, however many runs measured it)."""
    means = mean_seconds(read_ledger(LEDGERS[stage]))
    if not means:
        raise AsvitError(f"kendall: {LEDGERS[stage]} records no seconds; the {stage} stage writes it")
    return means


@exit_on_user_error
def main() -> None:
    params = load_params()
    config = params.kendall
    scores, truth = read_scores(SCORES), read_truth(TRUTH, config.truth_column)
    learned = pd.read_csv(PREDICTIONS, dtype={"id": str}).set_index("id")["cv_prediction"].rename(PREDICTOR)
    inherited = pd.read_csv(INHERITED, dtype={"id": str}).set_index("id")["inherited_top1"].rename(SUPERNET)
    scores = scores.join(rank_aggregate(scores, params.predictor.aggregate)).join(learned).join(inherited)
    seconds = ranking_seconds(
        len(scores), seconds_per_row("score"), params.predictor.aggregate,
        seconds_per_row("groundtruth")["train"] * len(truth),
        pd.read_csv(SUPERNET_HISTORY)["seconds"].sum() + seconds_per_row("supernet")["inherited"] * len(inherited))
    with stage_run("kendall", {"kendall": config.model_dump(), "predictor": params.predictor.model_dump()}) as run:
        table = agreement_table(scores, truth, config.top_k, config.resamples, config.seed)
        per_seed = read_seed_columns(TRUTH, config.truth_column)
        reliability = (truth_reliability(per_seed, config.top_k, config.resamples, config.seed)
                       if per_seed.shape[1] >= 2 else None)
        ceiling = reliability.ceiling.kendall_tau if reliability else None
        run.write_metrics(METRICS, {"ground_truth": reliability.to_dict() if reliability else {"seeds": 1},
                                    **{name: {**a.to_dict(), "ceiling_tau": ceiling, "seconds": seconds[name]}
                                       for name, a in table.items()}})
        write_csv(PLOT, scores.join(truth.rename("accuracy"), how="inner"), index_label="id")
        write_csv(TAUS, [{"predictor": name, "kendall_tau": a.kendall_tau, "low": a.kendall_ci.low,
                          "high": a.kendall_ci.high, "ceiling": ceiling, "seconds": seconds[name]}
                         for name, a in table.items()])
        run.log_artifact(PLOT)
    print(format_agreements(table, reliability))
    print("seconds to rank them: " + ", ".join(f"{name} {seconds[name]:.0f}" for name in table))
    if reliability:
        print(f"ground truth: {reliability.seeds} seeds, accuracy spread {reliability.spread:.2f}, "
              f"seed noise {reliability.seed_noise:.2f}")


if __name__ == "__main__":
    main()
