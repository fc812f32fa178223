"""Ground truth for the Kendall-tau study: every sampled topology trained with one fixed recipe on
the prepared dataset, its validation accuracy recorded.

Each finished topology is one appended row of the results table; the topology in progress keeps
an every-epoch checkpoint, so an interrupted run continues inside it (``asvit.train.fit``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from .config import Recipe
from .data import dataset_info, open_classification
from .errors import AsvitError
from .models import ASViT
from .records import ArchRecord
from .space import Topology
from .table import ResumableTable
from .train import check_fit, fit

COLUMNS = ["val_top1", "val_top5", "params", "train_seconds"]


def train_groundtruth(records: Sequence[ArchRecord], data_dir: Path, recipe: Recipe, width: int, out: Path,
                      state_dir: Path, seed: int = 0, progress: bool = True,
                      key: str = "groundtruth") -> dict[str, object]:
    """Train each As-ViT record at stage-1 width ``width`` and append its validation accuracy to
    ``out``; every topology is checked against the recipe and the data before any training."""
    info = dataset_info(data_dir)
    train_set, val_set = open_classification(data_dir, "train"), open_classification(data_dir, "val")
    topologies = {}
    for record in records:
        if not isinstance(record.arch, Topology):
            raise AsvitError(f"{key}: record {record.id!r} is not an As-ViT topology; the ground-truth "
                             "stage trains the As-ViT space (space.name: asvit)")
        topologies[record.id] = record.arch.scaled(width=width)
        check_fit(recipe, topologies[record.id], info["image_size"], len(train_set), key=f"{key}.recipe")
    table = ResumableTable(out, COLUMNS, {"recipe": recipe.model_dump(), "width": width, "seed": seed,
                                          "data": info})
    done = table.resume({r.id: str(r.arch) for r in records})
    todo = [r for r in records if r.id not in done]
    for record in tqdm(todo, desc="groundtruth", unit="arch", disable=not progress):
        torch.manual_seed(seed)
        model = ASViT(topologies[record.id], num_classes=info["num_classes"], drop_path_rate=recipe.drop_path)
        checkpoints = state_dir / record.id
        result = fit(model, train_set, val_set, recipe, checkpoint_dir=checkpoints, progress=False, seed=seed,
                     key=f"{key}.recipe", desc=record.id)
        table.append({"id": record.id, "arch": str(record.arch), "val_top1": result.top1,
                      "val_top5": result.top5, "params": sum(p.numel() for p in model.parameters()),
                      "train_seconds": result.train_seconds})
        shutil.rmtree(checkpoints)
    return {"architectures": len(records), "trained_now": len(todo), "resumed_from": len(done)}
