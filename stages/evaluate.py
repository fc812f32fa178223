"""Stage ``evaluate``: the trained models of ``train.models`` (``models/<name>.pt``) on the ``data/cls``
validation split at the dataset's image size: top-1/top-5 accuracy, parameters, MACs and inference
throughput; and their forward latency on ``hardware.*``, in PyTorch and, for the ONNX files of
``export``, in ONNX Runtime on the CPU (median and interquartile range, milliseconds). The family's
top-1 against latency goes to ``plots/evaluate.csv``."""

import json
from pathlib import Path

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info, open_classification
from asvit.deploy import LatencySettings, measure_latency
from asvit.deploy.export import onnx_latency
from asvit.errors import exit_on_user_error
from asvit.evaluate import evaluate_classifier
from asvit.tracking import stage_run
from asvit.train import load_model

DATA = Path("data/cls")
MODELS = Path("models")
EXPORTED = Path("exported")
METRICS = Path("metrics/evaluate.json")
PLOT = Path("plots/evaluate.csv")
PLOT_COLUMNS = ("name", "top1", "macs", "params", "latency_ms", "latency_iqr_ms", "onnxruntime_latency_ms",
                "onnxruntime_latency_iqr_ms")


@exit_on_user_error
def main() -> None:
    params = load_params()
    settings = params.evaluate
    latency = LatencySettings.from_params(params.hardware)
    latency.torch_device()  # an unreachable device fails before any work
    files = {name: MODELS / f"{name}.pt" for name in params.train.models}
    trained = {name: load_model(path) for name, path in files.items()}
    image_size = dataset_info(DATA)["image_size"]
    val_set = open_classification(DATA, "val")
    logged = {"evaluate": settings.model_dump(), "hardware": params.hardware.model_dump(),
              "train": {"models": params.train.models}}
    with stage_run("evaluate", logged) as run:
        report = {}
        for name, t in trained.items():
            report[name] = evaluate_classifier(t.model, val_set, image_size, batch_size=settings.batch_size,
                                               throughput_batch=settings.throughput_batch,
                                               throughput_iters=settings.throughput_iters,
                                               warmup_iters=settings.warmup_iters)
            report[name].update(measure_latency(t.model, latency).as_dict())
            report[name].update(onnx_latency(EXPORTED / f"{name}.onnx", latency).as_dict("onnxruntime_latency"))
        run.write_metrics(METRICS, report)
        write_csv(PLOT, [{"name": name, **row} for name, row in report.items()], PLOT_COLUMNS)
        for path in files.values():
            run.log_artifact(path)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
