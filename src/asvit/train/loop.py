"""The epoch loop: trains a classifier network with a :class:`~asvit.config.Recipe`, switching an
As-ViT network's stage-1 tokenizer between the re-tokenization phases, validating every epoch (or
the last only), checkpointing every epoch and resuming automatically; data-parallel (DDP) when a
process group is initialised.

A trainable network has the attributes ``arch`` (the architecture it was built from: its text is
part of the checkpoint fingerprint) and ``num_classes``; only As-ViT networks (a
:class:`~asvit.space.Topology` arch) re-tokenize."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from timm.data import Mixup
from timm.scheduler import CosineLRScheduler
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from ..config import Recipe
from ..errors import AsvitError
from ..evaluate.accuracy import evaluate_top_k
from ..models import ASViT
from ..models.counting import count_flops
from ..space import Topology
from .checkpoint import resume_training, save_training
from .distributed import all_gather, all_reduce_sum, current
from .recipe import make_loss, make_mixup, make_optimizer, make_scheduler, optimizer_step
from .retokenize import FINAL_STRIDE, Phase, asvit_macs, check_phases, phase_at, phase_schedule

CHECKPOINT = "last.pt"


class TrainError(AsvitError):
    """A recipe that does not fit the data or the number of processes."""


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation accuracy (percent) at the epoch's tokenization,
    tokenizer stride and dilation, learning rate at the end, training images (all processes),
    training seconds and images/s, and forward MACs of one image at the epoch's tokenization."""

    epoch: int
    loss: float
    val_top1: float
    val_top5: float
    stride: int
    dilation: int
    lr: float
    images: int
    seconds: float
    images_per_s: float
    macs: int


@dataclass(frozen=True)
class FitResult:
    """The per-epoch history and the final validation accuracy at full tokenization."""

    history: list[EpochRecord]
    top1: float
    top5: float
    resumed_epochs: int

    @property
    def train_macs(self) -> float:
        """Forward MACs spent on training images, sum over epochs of images * MACs(stride)."""
        return float(sum(r.images * r.macs for r in self.history))

    @property
    def train_macs_ratio(self) -> float:
        """Training MACs relative to the same epochs all at full tokenization (the last epoch's)."""
        return self.train_macs / (self.history[-1].macs * sum(r.images for r in self.history))

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.history)


def check_fit(recipe: Recipe, arch: object, image_size: int, train_size: int, world_size: int = 1,
              key: str = "recipe") -> int:
    """Validate a run of a network of ``arch`` before any work and return the batch per process;
    errors name ``key.field``."""
    if recipe.batch_size % world_size:
        raise TrainError(f"{key}.batch_size: {recipe.batch_size} does not split evenly over {world_size} "
                         "processes")
    local = recipe.batch_size // world_size
    if (recipe.mixup > 0 or recipe.cutmix > 0) and local % 2:
        raise TrainError(f"{key}.batch_size: Mixup/CutMix needs an even batch per process, got {local}")
    if -(-train_size // world_size) < local:
        raise TrainError(f"{key}.batch_size: {recipe.batch_size} is larger than the {train_size} training images")
    if isinstance(arch, Topology):
        check_phases(arch, image_size, phase_schedule(recipe.epochs, arch.kernels[0], recipe.phase_ends),
                     key=f"{key}.phase_ends")
    elif recipe.phase_ends is not None:
        raise TrainError(f"{key}.phase_ends: progressive re-tokenization needs an As-ViT network's tokenizer; "
                         "set it to null")
    elif recipe.drop_path > 0:
        raise TrainError(f"{key}.drop_path: only As-ViT networks have drop path; set it to 0")
    return local


def _phases(model: nn.Module, recipe: Recipe) -> list[Phase]:
    """The tokenization phases: the recipe's for an As-ViT network, one fixed phase at the patch size
    for any other."""
    if isinstance(model, ASViT):
        return phase_schedule(recipe.epochs, model.topology.kernels[0], recipe.phase_ends)
    return [Phase(getattr(model.arch, "patch_size", FINAL_STRIDE), 1, 0, recipe.epochs)]


def _macs(model: nn.Module, image_size: int, phase: Phase) -> int:
    """Forward MACs of one image: the As-ViT formula at the phase's stride, counted for others."""
    if isinstance(model, ASViT):
        return asvit_macs(model.topology, image_size, phase.stride, model.num_classes)
    training = model.training
    try:
        return count_flops(model, image_size) // 2
    finally:
        model.train(training)


def _fingerprint(recipe: Recipe, model: nn.Module, seed: int, train_size: int, val_size: int) -> str:
    """What a checkpoint must match to be resumed: recipe, seed, architecture, classes and data sizes."""
    arch = model.arch.scaled_string() if isinstance(model.arch, Topology) else str(model.arch)
    return json.dumps({"recipe": recipe.model_dump(), "seed": seed, "topology": arch,
                       "classes": model.num_classes, "data": [train_size, val_size]}, sort_keys=True)


class _Training(NamedTuple):
    """What one optimisation step uses besides the network and the batch."""

    optimizer: torch.optim.Optimizer
    scheduler: CosineLRScheduler
    criterion: nn.Module
    mixup: Mixup | None


def _train_epoch(net: nn.Module, loader: DataLoader, step: int, parts: _Training, recipe: Recipe,
                 device: torch.device, bar: tqdm) -> tuple[torch.Tensor, int]:
    """One pass over ``loader``; returns [summed loss, images] of this process and the step count."""
    optimizer, scheduler, criterion, mixup = parts
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    net.train()
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        targets = labels
        if mixup is not None:
            images, targets = mixup(images, labels)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.amp):
            loss = criterion(net(images), targets)
        step = optimizer_step(loss, net, optimizer, scheduler, recipe, step)
        totals += torch.stack([loss.detach().double() * len(labels), totals.new_tensor(len(labels))])
        bar.update(1)
    return totals, step


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, recipe: Recipe, *,
        checkpoint_dir: Path | str | None = None, progress: bool = True, seed: int = 0,
        device: torch.device | str | None = None,
        on_epoch: Callable[[list[EpochRecord]], None] | None = None,
        key: str = "recipe", desc: str = "train", eval_batch_size: int = 256, workers: int = 0,
        validate_every_epoch: bool = True) -> FitResult:
    """Train ``model`` on ``train_set`` (items: float image (3, S, S), int label) for ``recipe.epochs``
    and validate on ``val_set`` after every epoch (or, with ``validate_every_epoch=False``, after the
    last one only: the other epochs record NaN accuracies).

    - Re-tokenization (As-ViT networks): each epoch runs at its phase's tokenizer stride and dilation
      (the weights are kept); the model ends at full tokenization (stride 4).
    - Data order: epoch e shuffles with seed ``seed + e`` (DistributedSampler), so a global batch holds
      the same images for any number of processes; ``recipe.batch_size`` is the global batch.
    - Randomness (drop path, Mixup) is seeded with ``seed + rank`` at the start.
    - With ``checkpoint_dir`` the full state (model, optimizer, scheduler, random states of every
      process, history) is written atomically after every epoch, by rank 0 only, and a later call with
      the same settings continues from it; a finished run returns at once.
    - ``workers`` loader processes read the training data (0: in this process).
    - ``on_epoch(history)`` is called on rank 0 after each epoch's checkpoint with all epochs so far
      (resumed ones included). Errors name ``key.field``.
    """
    info = current()
    device = torch.device(device) if device is not None else info.device
    image_size = int(train_set[0][0].shape[-1])
    local_batch = check_fit(recipe, model.arch, image_size, len(train_set), info.world_size, key)
    num_classes = model.num_classes
    phases = _phases(model, recipe)
    retokenize = isinstance(model, ASViT)

    sampler = DistributedSampler(train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed)
    loader = DataLoader(train_set, batch_size=local_batch, sampler=sampler, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    parts = _Training(optimizer, make_scheduler(optimizer, recipe, len(loader)), make_loss(recipe),
                      make_mixup(recipe, num_classes))

    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    fingerprint = _fingerprint(recipe, model, seed, len(train_set), len(val_set))
    history = [EpochRecord(**r) for r in resume_training(path, fingerprint, info, model, optimizer,
                                                         parts.scheduler, seed)]
    resumed = len(history)
    if len(set(all_gather(resumed))) > 1:
        raise TrainError(f"{path}: the checkpoint is not the same for every process; put the checkpoint "
                         "directory on a file system that all nodes share")

    net = model
    if info.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step = resumed * len(loader)
    for epoch in range(resumed, recipe.epochs):
        phase = phase_at(phases, epoch)
        if retokenize:
            model.set_tokenizer(phase.stride, phase.dilation)
        sampler.set_epoch(epoch)
        with tqdm(total=len(loader), desc=f"{desc} {epoch + 1}/{recipe.epochs} stride {phase.stride}",
                  disable=not (progress and info.is_main), leave=False) as bar:
            start = time.perf_counter()
            totals, step = _train_epoch(net, loader, step, parts, recipe, device, bar)
            seconds = time.perf_counter() - start
        loss_sum, images = all_reduce_sum(totals).tolist()
        validate = validate_every_epoch or epoch == recipe.epochs - 1
        val = (evaluate_top_k(model, val_set, batch_size=eval_batch_size, device=device) if validate
               else {"top1": math.nan, "top5": math.nan})
        record = EpochRecord(epoch=epoch, loss=loss_sum / images, val_top1=val["top1"], val_top5=val["top5"],
                             stride=phase.stride, dilation=phase.dilation, lr=optimizer.param_groups[0]["lr"],
                             images=int(images), seconds=seconds, images_per_s=images / seconds,
                             macs=_macs(model, image_size, phase))
        history.append(record)
        save_training(path, fingerprint, info, model, optimizer, parts.scheduler, [asdict(r) for r in history])
        if progress and info.is_main:
            tqdm.write(f"{desc} epoch {epoch + 1}/{recipe.epochs}: stride {phase.stride}, loss {record.loss:.4f}, "
                       f"val top-1 {record.val_top1:.2f}%, {record.images_per_s:.0f} images/s")
        if info.is_main and on_epoch is not None:
            on_epoch(list(history))
    if retokenize:
        model.set_tokenizer(FINAL_STRIDE, 1)
    return FitResult(history, history[-1].val_top1, history[-1].val_top5, resumed)
