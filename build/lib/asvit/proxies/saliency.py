"""Data-free saliency proxies on absolute weights and an all-ones input (higher is better).

synflow = sum_w | w * dR/dw | with R = sum of the outputs;
DSS (TF-TAS) = sum over attention linears of ||dR/dW||_* ||W||_* + sum over the other linear and
embedding layers of sum |dR/dW * W|.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from timm.layers import Attention
from torch import nn

from ..models import attention_kernel
from .base import ProxyInputs, finite, register


@contextmanager
def absolute_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Make every parameter non-negative; the original signs are restored on exit."""
    signs = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            signs[name] = torch.sign(p)
            p.abs_()
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.mul_(signs[name])


def ones_backward(model: nn.Module, image_size: int) -> None:
    """Fill ``.grad`` with dR/dw, R = sum of the outputs on an all-ones float64 image."""
    model.double().eval().zero_grad()
    with attention_kernel(model, fused=False):
        model(torch.ones(1, 3, image_size, image_size, dtype=torch.float64)).sum().backward()


@register("synflow", higher_is_better=True, stochastic=True)
def synflow(model: nn.Module, inputs: ProxyInputs) -> float:
    with absolute_weights(model):
        ones_backward(model, inputs.image_size)
        score = sum((p * p.grad).abs().sum() for p in model.parameters() if p.grad is not None)
    return finite(score, "synflow")


def _attention_linears(model: nn.Module) -> set[nn.Module]:
    return {m for a in model.modules() if isinstance(a, Attention) for m in a.modules()
            if isinstance(m, nn.Linear)}


@register("dss", higher_is_better=True, stochastic=True)
def dss(model: nn.Module, inputs: ProxyInputs) -> float:
    attention = _attention_linears(model)
    with absolute_weights(model):
        ones_backward(model, inputs.image_size)
        score = torch.zeros((), dtype=torch.float64)
        for module in model.modules():
            if not isinstance(module, (nn.Linear, nn.Conv2d)) or module.weight.grad is None:
                continue
            w, g = module.weight, module.weight.grad
            if module in attention:
                score += torch.linalg.matrix_norm(g, "nuc") * torch.linalg.matrix_norm(w, "nuc")
            else:
                score += (g * w).abs().sum()
    return finite(score, "DSS")
