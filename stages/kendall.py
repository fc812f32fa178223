"""Stage ``kendall``: Kendall tau and Spearman rho (bootstrap 95% intervals) and top-k overlap of
every proxy against the trained accuracies; the scatter data for ``dvc plots show``."""

from pathlib import Path

from asvit.config import load_params
from asvit.correlation import agreement_table, format_agreements, read_scores, read_truth
from asvit.errors import exit_on_user_error
from asvit.tracking import stage_run

SCORES = Path("artifacts/scores.csv")
TRUTH = Path("artifacts/groundtruth.csv")
METRICS = Path("metrics/kendall.json")
PLOT = Path("plots/kendall.csv")


@exit_on_user_error
def main() -> None:
    config = load_params().kendall
    scores, truth = read_scores(SCORES), read_truth(TRUTH, config.truth_column)
    with stage_run("kendall", {"kendall": config.model_dump()}) as run:
        table = agreement_table(scores, truth, config.top_k, config.resamples, config.seed)
        run.write_metrics(METRICS, {name: a.to_dict() for name, a in table.items()})
        PLOT.parent.mkdir(exist_ok=True)
        scores.join(truth.rename("accuracy"), how="inner").to_csv(PLOT, index_label="id")
        run.log_artifact(PLOT)
    print(format_agreements(table))


if __name__ == "__main__":
    main()
