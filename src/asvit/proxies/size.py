"""Size proxies: parameter count, FLOPs and MACs (= FLOPs / 2) of one forward pass at batch 1
(:func:`asvit.models.counting.count_flops`)."""

from __future__ import annotations

from torch import nn

from ..models.counting import count_flops
from .base import ProxyInputs, register


@register("params", higher_is_better=True, stochastic=False)
def parameter_count(model: nn.Module, inputs: ProxyInputs) -> float:
    return float(sum(p.numel() for p in model.parameters()))


@register("flops", higher_is_better=True, stochastic=False)
def flops(model: nn.Module, inputs: ProxyInputs) -> float:
    return float(count_flops(model, inputs.image_size))


@register("macs", higher_is_better=True, stochastic=False)
def macs(model: nn.Module, inputs: ProxyInputs) -> float:
    return count_flops(model, inputs.image_size) / 2
