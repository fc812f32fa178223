"""Stage ``detect``: a torchvision detector (``detect.detector``, Mask R-CNN by default) over the As-ViT
family member ``detect.backbone`` (its ``train`` weights, or from scratch with ``detect.pretrained:
false``), trained on ``data/det`` and evaluated with COCOeval every epoch. Images are normalised
with the classification data's channel statistics (``data/cls/info.json``), as the backbone was
trained. Checkpoints every epoch under ``checkpoints/detect/`` and resumes; ``torchrun`` runs it
data-parallel (rank 0 writes)."""

from contextlib import nullcontext
from pathlib import Path

import torch

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info
from asvit.detect.backbone import build_detector, detection_backbone
from asvit.detect.data import open_split
from asvit.detect.examples import draw_examples
from asvit.detect.train import fit_detector
from asvit.errors import exit_on_user_error
from asvit.tracking import stage_run
from asvit.train import distributed
from asvit.train.checkpoint import atomic_save

FAMILY = Path("artifacts/family.jsonl")
MODELS = Path("models")
CLASSIFICATION = Path("data/cls")
DATA = Path("data/det")
OUT = Path("detectors")
CHECKPOINTS = Path("checkpoints/detect")
METRICS = Path("metrics/detect.json")
PLOT = Path("plots/detect.csv")
EXAMPLES = Path("plots/detect_examples.png")


def write_plot(history) -> None:
    """plots/detect.csv: one row per epoch, the loss terms and validation box and mask AP."""
    rows = [{"epoch": r.epoch, "loss": r.loss, **r.losses, "box_ap": r.box_ap, "mask_ap": r.mask_ap, "lr": r.lr}
            for r in history]
    write_csv(PLOT, rows, list(rows[0]))


@exit_on_user_error
def main() -> None:
    params = load_params()
    config = params.detect
    train_set, val_set = open_split(DATA, "train"), open_split(DATA, "val")
    body = detection_backbone(config.backbone, config.pretrained, FAMILY, MODELS)
    statistics = dataset_info(CLASSIFICATION)
    torch.manual_seed(config.seed)
    model = build_detector(config.detector, body, train_set.num_classes, config.out_channels, config.anchor_sizes,
                           min_size=config.min_size, max_size=config.max_size, image_mean=statistics["mean"],
                           image_std=statistics["std"])
    name = f"{config.backbone}-{config.detector}" + ("" if config.pretrained else "-scratch")
    with distributed() as job:
        tracking = stage_run("detect", {"detect": config.model_dump()}) if job.is_main else nullcontext()
        with tracking as run:

            def on_epoch(history):
                write_plot(history)
                run.log_metrics({"loss": history[-1].loss, "box_ap": history[-1].box_ap}, step=history[-1].epoch)

            result = fit_detector(model, train_set, val_set, config.recipe, checkpoint_dir=CHECKPOINTS / name,
                                  seed=config.seed, on_epoch=on_epoch, desc=name, workers=config.workers,
                                  eval_batch_size=config.eval_batch_size,
                                  backbone_lr_scale=config.backbone_lr_scale)
            if not job.is_main:
                return
            write_plot(result.history)
            path = OUT / f"{name}.pt"
            atomic_save({"state_dict": model.state_dict(), "detector": config.detector, "backbone": config.backbone,
                         "topology": body.topology.scaled_string(), "num_classes": train_set.num_classes,
                         "categories": train_set.category_ids}, path)
            draw_examples(model, val_set, EXAMPLES, config.examples)
            metrics = {"model": name, "box": result.metrics["bbox"], "mask": result.metrics.get("segm"),
                       "train_seconds": sum(r.seconds for r in result.history),
                       "train_images_per_s": result.history[-1].images_per_s}
            run.write_metrics(METRICS, metrics)
            for artifact in (path, EXAMPLES, PLOT):
                run.log_artifact(artifact)
    print(f"{name}: box AP {result.metrics['bbox']['AP']:.4f}"
          + (f", mask AP {result.metrics['segm']['AP']:.4f}" if "segm" in result.metrics else ""))


if __name__ == "__main__":
    main()
