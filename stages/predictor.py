"""Stage ``predictor``: the learned ranker (``predictor.regressor``) fitted on the ground truth. Writes
the fitted model as JSON numbers (with what ``auto`` chose and why), every sampled architecture's
prediction and its out-of-fold prediction (the one ``kendall`` judges, from a model that never saw
that architecture's truth), and the learning curve: held-out tau against the number of labelled
architectures (``predictor.curve``), chosen at random or spread by k-center, beside FLOPs."""

from pathlib import Path

from asvit.atomic import write_csv, write_json
from asvit.config import load_params
from asvit.correlation import rank_agreement, read_score_table, read_scores, read_truth
from asvit.errors import exit_on_user_error
from asvit.predictors import CURVE_COLUMNS, curve_summary, learned_ranking, learning_curve
from asvit.tracking import stage_run

SCORES = Path("artifacts/scores.csv")
TRUTH = Path("artifacts/groundtruth.csv")
MODEL = Path("artifacts/predictor.json")
PREDICTIONS = Path("artifacts/predictions.csv")
METRICS = Path("metrics/predictor.json")
CURVE = Path("plots/predictor_curve.csv")


@exit_on_user_error
def main() -> None:
    params = load_params()
    config, kendall = params.predictor, params.kendall
    truth = read_truth(TRUTH, kendall.truth_column)
    with stage_run("predictor", {"predictor": config.model_dump()}) as run:
        saved, predictions = learned_ranking(SCORES, truth, config.regressor, config.folds, config.seed)
        curve = learning_curve(read_score_table(SCORES), list(read_scores(SCORES).columns), truth, config.regressor,
                               config.curve, config.curve_draws, folds=config.folds, seed=config.seed)
        write_csv(CURVE, curve, CURVE_COLUMNS)
        write_json(MODEL, saved, indent=1)
        write_csv(PREDICTIONS, predictions, index_label="id")
        cv = rank_agreement(predictions["cv_prediction"], predictions["truth"], top_k=kendall.top_k,
                            resamples=kendall.resamples, seed=kendall.seed)
        run.write_metrics(METRICS, {"regressor": config.regressor, "chosen": saved["regressor"],
                                    "groups": saved["groups"], "selection": saved.get("selection", {}),
                                    "folds": config.folds, "features": saved["features"], "cv": cv.to_dict(),
                                    "curve": curve_summary(curve)})
        run.log_artifact(MODEL)
    print(f"{config.regressor} ranker ({saved['regressor']} on {'+'.join(saved['groups'])}): {config.folds}-fold "
          f"Kendall tau {cv.kendall_tau:.3f} "
          f"[{cv.kendall_ci.low:.3f}, {cv.kendall_ci.high:.3f}] over {cv.n} architectures")


if __name__ == "__main__":
    main()
