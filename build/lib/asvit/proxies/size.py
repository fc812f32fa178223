"""Size proxies: parameter count, FLOPs and MACs (= FLOPs / 2) of one forward pass at batch 1,
counted with ``torch.utils.flop_counter.FlopCounterMode``."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..models import attention_kernel
from .base import ProxyInputs, register


@register("params", higher_is_better=True, stochastic=False)
def parameter_count(model: nn.Module, inputs: ProxyInputs) -> float:
    return float(sum(p.numel() for p in model.parameters()))


def count_flops(model: nn.Module, image_size: int) -> int:
    """FLOPs (2 per multiply-accumulate) of one image through ``model``."""
    image = torch.zeros(1, 3, image_size, image_size)
    with attention_kernel(model.eval(), fused=False), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    return counter.get_total_flops()


@register("flops", higher_is_better=True, stochastic=False)
def flops(model: nn.Module, inputs: ProxyInputs) -> float:
    return float(count_flops(model, inputs.image_size))


@register("macs", higher_is_better=True, stochastic=False)
def macs(model: nn.Module, inputs: ProxyInputs) -> float:
    return count_flops(model, inputs.image_size) / 2
