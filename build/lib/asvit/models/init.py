"""Weight initialisation shared by the networks."""

from timm.layers import trunc_normal_
from torch import nn


def init_weights(module: nn.Module) -> None:
    """Truncated normal (std 0.02) for Linear weights and zero biases; LayerNorm at (1, 0)."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
