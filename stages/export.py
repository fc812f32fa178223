"""Stage ``export``: every trained model of ``train.models`` written to ``exported/<name>.onnx`` (dynamic
batch, ``hardware.image_size`` images) and checked against PyTorch with ONNX Runtime on
``export.images`` validation images; the largest logit difference and the top-1 agreement go to
``metrics/export.json``, and a difference over ``export.tolerance`` stops the stage."""

import json
from pathlib import Path

from tqdm import tqdm

from asvit.config import load_params
from asvit.data import image_batch
from asvit.deploy.export import export_onnx, verify_export
from asvit.errors import AsvitError, exit_on_user_error
from asvit.tracking import stage_run
from asvit.train import load_model

DATA = Path("data/cls")
MODELS = Path("models")
OUT = Path("exported")
METRICS = Path("metrics/export.json")


@exit_on_user_error
def main() -> None:
    params = load_params()
    settings, side = params.export, params.hardware.image_size
    images = image_batch(DATA, settings.images, side, seed=0, split="val")
    logged = {"export": settings.model_dump(), "hardware": {"image_size": side},
              "train": {"models": params.train.models}}
    report = {}
    with stage_run("export", logged) as run:
        for name in tqdm(params.train.models, desc="export", unit="model"):
            model = load_model(MODELS / f"{name}.pt").model
            path = export_onnx(model, OUT / f"{name}.onnx", side)
            agreement = verify_export(path, model, images)
            report[name] = {"file": str(path), "bytes": path.stat().st_size, **agreement.as_dict()}
            if agreement.max_abs_diff > settings.tolerance:
                raise AsvitError(f"export: {name}: ONNX Runtime's logits differ from PyTorch's by up to "
                                 f"{agreement.max_abs_diff:.3g}, over export.tolerance ({settings.tolerance:g})")
        run.write_metrics(METRICS, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
