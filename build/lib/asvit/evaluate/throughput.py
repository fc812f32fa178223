"""Inference throughput: images per second of forward passes at batch B, after warm-up passes."""

from __future__ import annotations

import time

import torch
from torch import nn


@torch.inference_mode()
def throughput(model: nn.Module, image_size: int, batch_size: int = 32, iters: int = 10, warmup: int = 2,
               device: torch.device | str | None = None) -> float:
    """B * iters / (seconds of ``iters`` timed forward passes) on random images; the model's training
    mode is restored."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    images = torch.randn(batch_size, 3, image_size, image_size, device=device)
    training = model.training
    model.eval()
    for _ in range(warmup):
        model(images)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        model(images)
    _synchronize(device)
    seconds = time.perf_counter() - start
    model.train(training)
    return batch_size * iters / seconds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
