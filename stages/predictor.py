"""Stage ``predictor``: the learned ranker (``predictor.regressor``) fitted on the ground truth, with
the log proxies and the architectures' decisions as inputs. Writes the fitted model as JSON
numbers, every sampled architecture's prediction and its out-of-fold prediction (the one
``kendall`` judges, from a model that never saw that architecture's truth)."""

from pathlib import Path

from asvit.atomic import write_csv, write_json
from asvit.config import load_params
from asvit.correlation import rank_agreement, read_truth
from asvit.errors import exit_on_user_error
from asvit.predictors import learned_ranking
from asvit.tracking import stage_run

SCORES = Path("artifacts/scores.csv")
TRUTH = Path("artifacts/groundtruth.csv")
MODEL = Path("artifacts/predictor.json")
PREDICTIONS = Path("artifacts/predictions.csv")
METRICS = Path("metrics/predictor.json")


@exit_on_user_error
def main() -> None:
    params = load_params()
    config, kendall = params.predictor, params.kendall
    with stage_run("predictor", {"predictor": config.model_dump()}) as run:
        saved, predictions = learned_ranking(SCORES, read_truth(TRUTH, kendall.truth_column), config.regressor,
                                             config.folds, config.seed)
        write_json(MODEL, saved, indent=1)
        write_csv(PREDICTIONS, predictions, index_label="id")
        cv = rank_agreement(predictions["cv_prediction"], predictions["truth"], top_k=kendall.top_k,
                            resamples=kendall.resamples, seed=kendall.seed)
        run.write_metrics(METRICS, {"regressor": config.regressor, "folds": config.folds,
                                    "features": saved["features"], "cv": cv.to_dict()})
        run.log_artifact(MODEL)
    print(f"{config.regressor} ranker: {config.folds}-fold Kendall tau {cv.kendall_tau:.3f} "
          f"[{cv.kendall_ci.low:.3f}, {cv.kendall_ci.high:.3f}] over {cv.n} architectures")


if __name__ == "__main__":
    main()
