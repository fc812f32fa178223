"""FLOPs of one image through a network, counted with ``torch.utils.flop_counter.FlopCounterMode``
(2 per multiply-accumulate; MACs = FLOPs / 2)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .build import attention_kernel


def count_flops(model: nn.Module, image_size: int) -> int:
    """FLOPs (2 per multiply-accumulate) of one image through ``model``."""
    image = torch.zeros(1, 3, image_size, image_size)
    with attention_kernel(model.eval(), fused=False), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    return counter.get_total_flops()
