"""Top-k classification accuracy over a dataset, optionally sharded over the processes of a
distributed job (each takes every world_size-th sample; the counts are summed, nothing is padded)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset


def correct_top_k(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """For each k, how many labels are among the k highest logits (k is capped at the class count)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


@torch.inference_mode()
def evaluate_top_k(model: nn.Module, dataset: Dataset, ks: tuple[int, ...] = (1, 5), batch_size: int = 256,
                   device: torch.device | str | None = None, sharded: bool = True) -> dict[str, float]:
    """Top-k accuracy in percent, ``{"top1": ..., "top5": ...}``: 100 / N * sum_i [y_i in top_k(f(x_i))].

    With ``sharded`` and an initialised process group every process scores its share and the counts
    are summed, so every process gets the same result. The model's training mode is restored."""
    sharded = sharded and dist.is_available() and dist.is_initialized()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    shard = Subset(dataset, range(dist.get_rank(), len(dataset), dist.get_world_size())) if sharded else dataset
    counts = torch.zeros(len(ks) + 1, dtype=torch.float64, device=device)
    training = model.training
    model.eval()
    for images, labels in DataLoader(shard, batch_size=batch_size):
        images, labels = images.to(device), labels.to(device)
        counts[:-1] += correct_top_k(model(images), labels, ks)
        counts[-1] += len(labels)
    model.train(training)
    if sharded:
        dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    return {f"top{k}": 100.0 * float(counts[i] / counts[-1]) for i, k in enumerate(ks)}
