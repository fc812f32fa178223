"""Straightforward implementations of the official method, kept as the definitions that the fast
proxies are tested and benchmarked against: one backward pass per feature coordinate for L^E,
one backward pass per sample (through one batched forward pass) for the NTK."""

from __future__ import annotations

import torch
from torch import nn

from ..models import attention_kernel
from .expressivity import unit_circle, without_layernorm
from .trainability import PooledFeatures, condition_number, is_weight


def length_distortion_reference(model: nn.Module, image_size: int) -> float:
    """L^E from the full Jacobian J_f(x(t)) built row by row, then || J dx/dt ||_2 summed over t.
    Draws the same circle as the fast proxy for the same global seed."""
    model = without_layernorm(model).eval()
    curve, tangent = unit_circle(image_size)
    total = 0.0
    with attention_kernel(model, fused=False):
        for point, direction in zip(curve, tangent):
            x = point.unsqueeze(0).requires_grad_(True)
            features = model.pooled_features(x)[0]
            rows = [torch.autograd.grad(features[j], x, retain_graph=True)[0].flatten()
                    for j in range(features.numel())]
            jacobian = torch.stack(rows)
            total += (jacobian @ direction.flatten()).norm().item()
    return total


def ntk_gradients_reference(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """G: (B, P) as the official code builds it: one forward pass of the batch, then one backward
    pass of sum(f(x_i)) per sample through that graph."""
    wrapped = PooledFeatures(model.eval())
    weights = [p for n, p in wrapped.named_parameters() if is_weight(n)]
    features = wrapped(images)
    rows = []
    for i in range(len(images)):
        grads = torch.autograd.grad(features[i].sum(), weights, retain_graph=True, allow_unused=True,
                                    materialize_grads=True)
        rows.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(rows)


def ntk_condition_number_reference(model: nn.Module, images: torch.Tensor) -> float:
    gradients = ntk_gradients_reference(model, images)
    return condition_number(gradients @ gradients.T)
