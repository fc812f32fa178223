"""Training and evaluation of a torchvision detector on COCO-format splits, with the machinery of
``asvit.train``: timm optimizer and per-step cosine schedule, a checkpoint written atomically every
epoch and resumed automatically (ending with the same weights as an uninterrupted run), DDP when a
process group is initialised (the global batch split over the processes, rank 0 writing), and a
progress bar. Each epoch ends with COCOeval box AP (and mask AP) on the validation split.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..config import Recipe
from ..train.checkpoint import resume_training, save_training
from ..train.distributed import all_gather, all_reduce_sum, current
from ..train.recipe import make_optimizer, make_scheduler, optimizer_step
from .dataset import CocoDetection
from .metrics import coco_metrics, coco_results

CHECKPOINT = "last.pt"
BACKBONE = "backbone.body"  # the As-ViT network inside every detector of asvit.detect.backbone


@dataclass(frozen=True)
class DetectionEpoch:
    """One epoch: the mean of each loss term and of their sum over the training images, the
    validation COCO metrics (:func:`~asvit.detect.metrics.coco_metrics`), learning rate at the end,
    images, seconds, images/s."""

    epoch: int
    loss: float
    losses: dict[str, float]
    metrics: dict[str, dict[str, float | None]]
    lr: float
    images: int
    seconds: float
    images_per_s: float

    @property
    def box_ap(self) -> float:
        return self.metrics["bbox"]["AP"]

    @property
    def mask_ap(self) -> float | None:
        return self.metrics.get("segm", {}).get("AP")


@dataclass(frozen=True)
class DetectionResult:
    """The per-epoch history (resumed epochs included) and how many epochs came from the checkpoint."""

    history: list[DetectionEpoch]
    resumed_epochs: int

    @property
    def metrics(self) -> dict[str, dict[str, float | None]]:
        """The validation metrics after the last epoch."""
        return self.history[-1].metrics


def collate(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """Images of different sizes stay a list, as torchvision's detectors take them."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


@torch.no_grad()
def predict(model: nn.Module, dataset: CocoDetection, batch_size: int = 8, device: torch.device | str = "cpu",
            progress: bool = False) -> list[dict[str, Any]]:
    """COCO result records of ``model`` (eval mode) on every image of ``dataset``, category ids restored."""
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    results = []
    for images, targets in tqdm(loader, desc="predict", unit="batch", leave=False, disable=not progress):
        outputs = model([image.to(device) for image in images])
        for target, output in zip(targets, outputs, strict=True):
            output = {**output, "labels": torch.tensor([dataset.category_ids[int(i) - 1] for i in output["labels"]],
                                                       dtype=torch.int64)}
            results += coco_results(int(target["image_id"]), output)
    model.train(was_training)
    return results


def evaluate_detector(model: nn.Module, dataset: CocoDetection, batch_size: int = 8,
                      device: torch.device | str = "cpu") -> dict[str, dict[str, float | None]]:
    """COCOeval box metrics of ``model`` on ``dataset``, and mask metrics for a detector with a mask head."""
    roi_heads = getattr(model, "roi_heads", None)
    masks = roi_heads is not None and roi_heads.has_mask()
    return coco_metrics(dataset.coco, predict(model, dataset, batch_size, device), masks=masks)


def _fingerprint(recipe: Recipe, backbone_lr_scale: float, model: nn.Module, seed: int, train_set: CocoDetection,
                 val_set: CocoDetection) -> str:
    """What a checkpoint must match to be resumed: recipe, seed, the network's parameter shapes, data sizes."""
    shapes = {name: list(p.shape) for name, p in model.state_dict().items()}
    return json.dumps({"recipe": recipe.model_dump(), "backbone_lr_scale": backbone_lr_scale, "seed": seed,
                       "shapes": shapes, "data": [len(train_set), len(val_set), train_set.num_classes]},
                      sort_keys=True)


def fit_detector(model: nn.Module, train_set: CocoDetection, val_set: CocoDetection, recipe: Recipe, *,
                 checkpoint_dir: Path | str | None = None, seed: int = 0, progress: bool = True,
                 on_epoch: Callable[[list[DetectionEpoch]], None] | None = None, desc: str = "detect",
                 eval_batch_size: int = 8, workers: int = 0, backbone_lr_scale: float = 1.0) -> DetectionResult:
    """Train ``model`` (a torchvision detector) for ``recipe.epochs`` on ``train_set``, evaluating
    on ``val_set`` after every epoch; epoch e shuffles with ``seed + e``; the As-ViT body's learning
    rate is ``backbone_lr_scale`` times the recipe's. With ``checkpoint_dir`` the
    full state is saved after every epoch and a later call with the same settings continues from it
    (a finished run returns at once). ``on_epoch(history)`` runs on rank 0 after each checkpoint."""
    info = current()
    device = info.device
    local_batch = recipe.batch_size // info.world_size
    sampler = DistributedSampler(train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed)
    loader = DataLoader(train_set, batch_size=local_batch, sampler=sampler, drop_last=True, collate_fn=collate,
                        num_workers=workers, persistent_workers=workers > 0)
    model.to(device)
    optimizer = make_optimizer(model, recipe, {BACKBONE: backbone_lr_scale})
    scheduler = make_scheduler(optimizer, recipe, len(loader))
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    fingerprint = _fingerprint(recipe, backbone_lr_scale, model, seed, train_set, val_set)
    history = [DetectionEpoch(**r) for r in resume_training(path, fingerprint, info, model, optimizer, scheduler,
                                                            seed)]
    resumed = len(history)
    net = DistributedDataParallel(model) if info.world_size > 1 else model
    step = resumed * len(loader)
    for epoch in range(resumed, recipe.epochs):
        sampler.set_epoch(epoch)
        net.train()
        sums: dict[str, torch.Tensor] = {}
        start = time.perf_counter()
        for images, targets in tqdm(loader, desc=f"{desc} {epoch + 1}/{recipe.epochs}", leave=False,
                                    disable=not (progress and info.is_main)):
            images = [image.to(device) for image in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            losses = net(images, targets)
            loss = sum(losses.values())
            step = optimizer_step(loss, net, optimizer, scheduler, recipe, step)
            for name, value in {"loss": loss, **losses}.items():
                sums[name] = sums.get(name, 0.0) + value.detach().double() * len(images)
        seconds = time.perf_counter() - start
        names = sorted(sums)
        totals = all_reduce_sum(torch.stack([sums[n] for n in names] + [torch.tensor(len(loader) * local_batch,
                                                                                     dtype=torch.float64)]))
        images_seen = float(totals[-1])
        means = {n: float(v) / images_seen for n, v in zip(names, totals[:-1], strict=True)}
        metrics = all_gather(evaluate_detector(model, val_set, eval_batch_size, device) if info.is_main else None)[0]
        record = DetectionEpoch(epoch=epoch, loss=means.pop("loss"), losses=means, metrics=metrics,
                                lr=optimizer.param_groups[0]["lr"], images=int(images_seen), seconds=seconds,
                                images_per_s=images_seen / seconds)
        history.append(record)
        save_training(path, fingerprint, info, model, optimizer, scheduler, [asdict(r) for r in history])
        if progress and info.is_main:
            tqdm.write(f"{desc} epoch {epoch + 1}/{recipe.epochs}: loss {record.loss:.4f}, box AP {record.box_ap:.4f}"
                       + (f", mask AP {record.mask_ap:.4f}" if record.mask_ap is not None else ""))
        if info.is_main and on_epoch is not None:
            on_epoch(list(history))
    return DetectionResult(history, resumed)
