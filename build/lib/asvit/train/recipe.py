"""The training recipe turned into timm objects: optimizer, per-step cosine schedule with warm-up,
loss (label smoothing or soft targets) and Mixup/CutMix."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from timm.data import Mixup
from timm.loss import create_classification_loss
from timm.optim import create_optimizer_v2, param_groups_weight_decay
from timm.scheduler import CosineLRScheduler
from torch import nn

from ..config import Recipe

__all__ = ["Recipe", "make_loss", "make_mixup", "make_optimizer", "make_scheduler", "optimizer_step"]


def make_optimizer(model: nn.Module, recipe: Recipe, lr_scales: Mapping[str, float] | None = None
                   ) -> torch.optim.Optimizer:
    """timm's optimizer (AdamW by default); biases and norm weights get no weight decay. ``lr_scales``
    maps a submodule name to a factor on its learning rate (timm's ``lr_scale``, which the schedule
    applies at every step): ``{"backbone.body": 0.1}`` fine-tunes a pretrained backbone gently."""
    groups = param_groups_weight_decay(model, recipe.weight_decay)
    for prefix, scale in (lr_scales or {}).items():
        scaled = {id(p) for p in model.get_submodule(prefix).parameters()}
        groups = [part for group in groups for part in (
            {**group, "params": [p for p in group["params"] if id(p) in scaled], "lr_scale": scale},
            {**group, "params": [p for p in group["params"] if id(p) not in scaled]})]
        groups = [group for group in groups if group["params"]]
    return create_optimizer_v2(groups, opt=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int) -> CosineLRScheduler:
    """Per-step schedule: linear warm-up from ``warmup_lr`` over ``warmup_epochs``, then
    lr_t = min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2 over all T = epochs * steps updates."""
    return CosineLRScheduler(optimizer, t_initial=recipe.epochs * steps_per_epoch, lr_min=recipe.min_lr,
                             warmup_t=recipe.warmup_epochs * steps_per_epoch, warmup_lr_init=recipe.warmup_lr,
                             t_in_epochs=False)


def make_mixup(recipe: Recipe, num_classes: int) -> Mixup | None:
    """timm Mixup/CutMix (which also smooths the labels), or None when both alphas are 0."""
    if recipe.mixup == 0 and recipe.cutmix == 0:
        return None
    return Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, prob=recipe.mixup_prob,
                 label_smoothing=recipe.label_smoothing, num_classes=num_classes)


def make_loss(recipe: Recipe) -> nn.Module:
    """Cross-entropy on Mixup's soft targets, or label-smoothed cross-entropy on class indices."""
    mixing = recipe.mixup > 0 or recipe.cutmix > 0
    return create_classification_loss(smoothing=recipe.label_smoothing, soft_targets=mixing)


def optimizer_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scheduler: CosineLRScheduler, recipe: Recipe, step: int) -> int:
    """Back-propagate ``loss``, clip the gradient norm to ``recipe.grad_clip`` (if set), step the
    optimizer and the per-step schedule; return the new step count."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    scheduler.step_update(num_updates=step + 1)
    return step + 1
