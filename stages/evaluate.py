"""Stage ``evaluate``: the trained models of ``train.models`` (``models/<name>.pt``) on the ``data/cls``
validation split at the dataset's image size: top-1/top-5 accuracy, parameters, MACs and inference
throughput."""

import json
from pathlib import Path

from asvit.config import load_params
from asvit.data import dataset_info, open_classification
from asvit.errors import exit_on_user_error
from asvit.evaluate import evaluate_classifier
from asvit.tracking import stage_run
from asvit.train import load_model

DATA = Path("data/cls")
MODELS = Path("models")
METRICS = Path("metrics/evaluate.json")


@exit_on_user_error
def main() -> None:
    params = load_params()
    settings = params.evaluate
    files = {name: MODELS / f"{name}.pt" for name in params.train.models}
    trained = {name: load_model(path) for name, path in files.items()}
    image_size = dataset_info(DATA)["image_size"]
    val_set = open_classification(DATA, "val")
    logged = {"evaluate": settings.model_dump(), "train": {"models": params.train.models}}
    with stage_run("evaluate", logged) as run:
        report = {name: evaluate_classifier(t.model, val_set, image_size, batch_size=settings.batch_size,
                                            throughput_batch=settings.throughput_batch,
                                            throughput_iters=settings.throughput_iters,
                                            warmup_iters=settings.warmup_iters)
                  for name, t in trained.items()}
        run.write_metrics(METRICS, report)
        for path in files.values():
            run.log_artifact(path)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
