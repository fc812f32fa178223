"""Stage ``train``: train the family members named in ``train.models`` on ``data/cls`` with the
``train`` recipe (progressive re-tokenization by default). Each model checkpoints every epoch under
``checkpoints/train/<name>/`` and an interrupted run continues from there.

Multi-process: ``torchrun --nproc_per_node N stages/train.py`` (DDP; NCCL on GPUs, gloo on CPUs);
only rank 0 writes files and logs to MLflow.
"""

import json
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info, open_classification
from asvit.errors import exit_on_user_error
from asvit.models import ASViT
from asvit.tracking import stage_run
from asvit.train import check_fit, distributed, fit, save_model, select_members

FAMILY = Path("artifacts/family.jsonl")
DATA = Path("data/cls")
MODELS = Path("models")
CHECKPOINTS = Path("checkpoints/train")
PLOT = Path("plots/train.csv")
METRICS = Path("metrics/train.json")
PLOT_COLUMNS = ["model", "epoch", "loss", "val_top1", "val_top5", "stride", "dilation", "lr", "images_per_s"]


@exit_on_user_error
def main() -> None:
    params = load_params()
    train = params.train
    recipe = train.recipe()
    members = select_members(FAMILY, train.models)
    info = dataset_info(DATA)
    train_set, val_set = open_classification(DATA, "train"), open_classification(DATA, "val")
    with distributed() as job:
        for topology in members.values():
            check_fit(recipe, topology, info["image_size"], len(train_set), job.world_size, key="train")
        tracking = stage_run("train", {"train": train.model_dump()}) if job.is_main else nullcontext()
        finished: list[dict] = []
        summary: dict[str, dict] = {}
        with tracking as run:
            for name, topology in members.items():
                torch.manual_seed(train.seed)
                model = ASViT(topology, num_classes=info["num_classes"], drop_path_rate=recipe.drop_path)

                def on_epoch(history, name=name):
                    write_csv(PLOT, finished + [{"model": name, **asdict(r)} for r in history], PLOT_COLUMNS)
                    last = history[-1]
                    run.log_metrics({f"{name}.loss": last.loss, f"{name}.val_top1": last.val_top1,
                                     f"{name}.images_per_s": last.images_per_s}, step=last.epoch)

                result = fit(model, train_set, val_set, recipe, checkpoint_dir=CHECKPOINTS / name, seed=train.seed,
                             on_epoch=on_epoch, key="train", desc=name, workers=train.workers)
                if not job.is_main:
                    continue
                finished += [{"model": name, **asdict(r)} for r in result.history]
                write_csv(PLOT, finished, PLOT_COLUMNS)
                summary[name] = {"top1": result.top1, "top5": result.top5,
                                 "params": sum(p.numel() for p in model.parameters()),
                                 "macs": result.history[-1].macs, "train_seconds": result.train_seconds,
                                 "train_macs_ratio": result.train_macs_ratio}
                path = MODELS / f"{name}.pt"
                save_model(path, model, info["num_classes"], name=name, image_size=info["image_size"],
                           top1=result.top1, top5=result.top5, seed=train.seed, recipe=recipe.model_dump())
                run.log_artifact(path)
            if job.is_main:
                run.write_metrics(METRICS, summary)
                print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
