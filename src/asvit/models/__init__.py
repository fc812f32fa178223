"""Networks: the As-ViT network and the AutoFormer-space ViT, and a builder from records."""

from .asvit import ASViT
from .autoformer import AutoFormerViT
from .build import Architecture, attention_kernel, build_network
from .forward_attention import jvp_attention

__all__ = ["ASViT", "Architecture", "AutoFormerViT", "attention_kernel", "build_network", "jvp_attention"]
