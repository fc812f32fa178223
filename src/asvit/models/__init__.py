"""Networks: the As-ViT network and the AutoFormer-space ViT, and a builder from records."""

from .asvit import ASViT
from .autoformer import AutoFormerViT
from .build import build_network, math_attention

__all__ = ["ASViT", "AutoFormerViT", "build_network", "math_attention"]
