"""Classification evaluation: top-1/top-5 accuracy, parameters, MACs at the evaluation size and
inference throughput."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from ..models.counting import count_flops
from .accuracy import correct_top_k, evaluate_top_k
from .throughput import throughput

__all__ = ["correct_top_k", "evaluate_classifier", "evaluate_top_k", "throughput"]


def evaluate_classifier(model: nn.Module, dataset: Dataset, image_size: int, *, batch_size: int = 256,
                        throughput_batch: int = 32, throughput_iters: int = 10, warmup_iters: int = 2,
                        device: torch.device | str | None = None) -> dict[str, float]:
    """``top1``, ``top5`` (percent), ``params``, ``macs`` (one image at ``image_size``, FLOPs / 2)
    and ``images_per_s`` of ``model`` in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    report = evaluate_top_k(model, dataset, batch_size=batch_size, device=device)
    report["params"] = float(sum(p.numel() for p in model.parameters()))
    report["macs"] = count_flops(model.cpu(), image_size) / 2
    model.to(device)
    report["images_per_s"] = throughput(model, image_size, throughput_batch, throughput_iters, warmup_iters,
                                        device)
    return report
