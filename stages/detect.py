"""Stage ``detect``: a torchvision detector (``detect.detector``, Mask R-CNN by default) over the As-ViT
family member ``detect.backbone`` with its ``train`` weights, trained on ``data/det`` and evaluated
with COCOeval every epoch. Images are normalised with the classification data's channel statistics
(``data/cls/info.json``), as the backbone was trained. Checkpoints every epoch under
``checkpoints/detect/`` and resumes; ``torchrun`` runs it data-parallel (rank 0 writes).

Stage ``detect_control@<control>`` (``python stages/detect.py <control>``, one per ``detect.controls``):
the same detector and recipe over another start of the backbone (``scratch``: a fresh initialisation),
whose box and mask AP the trained backbone's (``metrics/detect.json``) are set against: what the
backbone's training is worth to detection."""

import argparse
import json
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

import torch

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info
from asvit.detect.backbone import build_detector, detection_backbone
from asvit.detect.data import open_split
from asvit.detect.examples import draw_examples
from asvit.detect.train import fit_detector
from asvit.errors import AsvitError, exit_on_user_error
from asvit.tracking import stage_run
from asvit.train import distributed
from asvit.train.checkpoint import atomic_save

FAMILY = Path("artifacts/family.jsonl")
MODELS = Path("models")
CLASSIFICATION = Path("data/cls")
DATA = Path("data/det")
CHECKPOINTS = Path("checkpoints/detect")
TRAINED = Path("metrics/detect.json")  # the trained backbone's detector, which a control is set against


class Outputs(NamedTuple):
    """Where a detector's weights, per-epoch plot, metrics and (the trained backbone's only) examples go."""

    weights: Path
    plot: Path
    metrics: Path
    examples: Path | None

    @classmethod
    def of(cls, control: str | None) -> "Outputs":
        if control is None:
            return cls(Path("detectors"), Path("plots/detect.csv"), TRAINED, Path("plots/detect_examples.png"))
        return cls(Path(f"detector_controls/{control}"), Path(f"plots/detect_control/{control}.csv"),
                   Path(f"metrics/detect_control/{control}.json"), None)


def write_plot(path: Path, history) -> None:
    """One row per epoch: the loss terms and validation box and mask AP."""
    rows = [{"epoch": r.epoch, "loss": r.loss, **r.losses, "box_ap": r.box_ap, "mask_ap": r.mask_ap, "lr": r.lr}
            for r in history]
    write_csv(path, rows, list(rows[0]))


def gains(trained: dict, control: dict) -> dict[str, float]:
    """What the trained backbone adds over the control: AP_trained - AP_control, box and mask."""
    pairs = {"box_ap": (trained["box"], control["box"]), "mask_ap": (trained["mask"], control["mask"])}
    return {key: a["AP"] - b["AP"] for key, (a, b) in pairs.items() if a and b}


@exit_on_user_error
def main(control: str | None) -> None:
    params = load_params()
    config = params.detect
    out = Outputs.of(control)
    if control is not None and not TRAINED.is_file():
        raise AsvitError(f"{TRAINED} not found: the control is set against the trained backbone's detector; "
                         "run the detect stage first")
    train_set, val_set = open_split(DATA, "train"), open_split(DATA, "val")
    body = detection_backbone(config.backbone, FAMILY, MODELS, control)
    statistics = dataset_info(CLASSIFICATION)
    torch.manual_seed(config.seed)
    model = build_detector(config.detector, body, train_set.num_classes, config.out_channels, config.anchor_sizes,
                           min_size=config.min_size, max_size=config.max_size, image_mean=statistics["mean"],
                           image_std=statistics["std"])
    name = f"{config.backbone}-{config.detector}" + (f"-{control}" if control else "")
    stage = f"detect_control@{control}" if control else "detect"
    with distributed() as job:
        tracking = stage_run(stage, {"detect": config.model_dump()}) if job.is_main else nullcontext()
        with tracking as run:

            def on_epoch(history):
                write_plot(out.plot, history)
                run.log_metrics({"loss": history[-1].loss, "box_ap": history[-1].box_ap}, step=history[-1].epoch)

            result = fit_detector(model, train_set, val_set, config.recipe, checkpoint_dir=CHECKPOINTS / name,
                                  seed=config.seed, on_epoch=on_epoch, desc=name, workers=config.workers,
                                  eval_batch_size=config.eval_batch_size,
                                  backbone_lr_scale=config.backbone_lr_scale)
            if not job.is_main:
                return
            write_plot(out.plot, result.history)
            path = out.weights / f"{name}.pt"
            atomic_save({"state_dict": model.state_dict(), "detector": config.detector, "backbone": config.backbone,
                         "topology": body.topology.scaled_string(), "num_classes": train_set.num_classes,
                         "categories": train_set.category_ids}, path)
            metrics = {"model": name, "box": result.metrics["bbox"], "mask": result.metrics.get("segm"),
                       "train_seconds": sum(r.seconds for r in result.history),
                       "train_images_per_s": result.history[-1].images_per_s}
            if control is not None:
                metrics["trained_backbone_gain"] = gains(json.loads(TRAINED.read_text()), metrics)
            run.write_metrics(out.metrics, metrics)
            if out.examples is not None:
                draw_examples(model, val_set, out.examples, config.examples)
            for artifact in (path, out.plot, *([out.examples] if out.examples else [])):
                run.log_artifact(artifact)
    print(f"{name}: box AP {result.metrics['bbox']['AP']:.4f}"
          + (f", mask AP {result.metrics['segm']['AP']:.4f}" if "segm" in result.metrics else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("control", nargs="?", help="a detection control of detect.controls (none: the trained "
                        "backbone)")
    main(parser.parse_args().control)
