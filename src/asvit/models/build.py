"""Build a network from an architecture of either space or of a reference network, and choose its
attention kernel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from timm.layers import Attention
from torch import nn

from ..space import AutoFormerArch, Topology
from .asvit import ASViT
from .autoformer import AutoFormerViT
from .reference import DeiTArch, ResNetArch, deit_network, resnet_network

Architecture = Topology | AutoFormerArch | DeiTArch | ResNetArch

_BUILDERS: dict[type, Callable[[Architecture, int, int, float], nn.Module]] = {
    Topology: lambda arch, classes, size, drop_path: ASViT(arch, num_classes=classes, drop_path_rate=drop_path),
    AutoFormerArch: lambda arch, classes, size, drop_path: AutoFormerViT(arch, num_classes=classes, image_size=size),
    DeiTArch: lambda arch, classes, size, drop_path: deit_network(arch, classes, size),
    ResNetArch: lambda arch, classes, size, drop_path: resnet_network(arch, classes),
}


def build_network(arch: Architecture, num_classes: int = 1000, image_size: int = 224,
                  drop_path_rate: float = 0.0) -> nn.Module:
    """A freshly initialised network for ``arch`` (the As-ViT network takes any input size; only it
    has drop path, which ``asvit.train.check_fit`` checks before training)."""
    return _BUILDERS[type(arch)](arch, num_classes, image_size, drop_path_rate)


@contextmanager
def attention_kernel(model: nn.Module, *, fused: bool) -> Iterator[nn.Module]:
    """Run every attention of ``model`` through ``F.scaled_dot_product_attention`` (``fused``) or as
    plain softmax(q k^T) v, which has a forward-mode derivative on the CPU; restores the previous
    setting on exit."""
    modules = [m for m in model.modules() if isinstance(m, Attention)]
    previous = [m.fused_attn for m in modules]
    for m in modules:
        m.fused_attn = fused
    try:
        yield model
    finally:
        for m, was_fused in zip(modules, previous):
            m.fused_attn = was_fused
