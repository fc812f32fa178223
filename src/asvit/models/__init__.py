"""Networks: the As-ViT network, the AutoFormer-space ViT and the reference DeiT and ResNet, and a
builder from records."""

from .asvit import ASViT
from .autoformer import AutoFormerViT
from .build import Architecture, attention_kernel, build_network
from .forward_attention import jvp_attention
from .reference import DeiTArch, ResNetArch

__all__ = ["ASViT", "Architecture", "AutoFormerViT", "DeiTArch", "ResNetArch", "attention_kernel", "build_network",
           "jvp_attention"]
