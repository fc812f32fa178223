"""Architectures of the hand-designed reference networks, a DeiT-style ViT and a BasicBlock ResNet,
with their one-line text form and their timm networks (built from the constructors, no weights).

The rules that size them to a budget of MACs live in :mod:`asvit.outcome.references`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from timm.models.resnet import BasicBlock, ResNet
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ..errors import AsvitError

STAGES = 4  # timm's ResNet has four stages
DEIT_TEXT = re.compile(r"deit:p(\d+),e(\d+),d(\d+),h(\d+),r(\d+(?:\.\d+)?)")
RESNET_TEXT = re.compile(r"resnet:l(\d+(?:-\d+)*),c(\d+(?:-\d+)*)")


@dataclass(frozen=True)
class DeiTArch:
    """A plain ViT as in DeiT: ``patch_size`` x ``patch_size`` patches, a class token, ``depth``
    identical blocks of width ``embed_dim`` with ``heads`` heads and MLP ratio ``mlp_ratio``."""

    patch_size: int
    embed_dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        if min(self.patch_size, self.embed_dim, self.depth, self.heads) < 1 or self.mlp_ratio <= 0:
            raise AsvitError(f"{self}: every field must be positive")
        if self.embed_dim % self.heads:
            raise AsvitError(f"{self}: the width {self.embed_dim} does not split over {self.heads} heads")

    def __str__(self) -> str:
        return f"deit:p{self.patch_size},e{self.embed_dim},d{self.depth},h{self.heads},r{self.mlp_ratio}"

    @classmethod
    def parse(cls, text: str) -> DeiTArch:
        """The architecture of ``str(arch)``, e.g. ``deit:p4,e48,d6,h3,r4.0``."""
        match = DEIT_TEXT.fullmatch(text)
        if match is None:
            raise AsvitError(f"{text!r} is not a DeiT architecture; expected e.g. 'deit:p4,e48,d6,h3,r4.0'")
        *ints, ratio = match.groups()
        return cls(*(int(v) for v in ints), float(ratio))


@dataclass(frozen=True)
class ResNetArch:
    """A ResNet of BasicBlocks: ``layers[i]`` blocks of width ``channels[i]`` in each of the four
    stages, after a stem (7x7 convolution, stride 2, and max pooling) of width ``channels[0]``; at
    layers (2, 2, 2, 2) and channels (64, 128, 256, 512) it is ResNet-18."""

    layers: tuple[int, ...]
    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.layers) != STAGES or len(self.channels) != STAGES:
            raise AsvitError(f"{self}: expected {STAGES} stages of layers and of channels")
        if min(self.layers + self.channels) < 1:
            raise AsvitError(f"{self}: every block count and width must be positive")

    def __str__(self) -> str:
        return f"resnet:l{'-'.join(map(str, self.layers))},c{'-'.join(map(str, self.channels))}"

    @classmethod
    def parse(cls, text: str) -> ResNetArch:
        """The architecture of ``str(arch)``, e.g. ``resnet:l1-1-1-1,c16-32-64-128``."""
        match = RESNET_TEXT.fullmatch(text)
        if match is None:
            raise AsvitError(f"{text!r} is not a ResNet architecture; expected e.g. 'resnet:l1-1-1-1,c16-32-64-128'")
        layers, channels = (tuple(int(v) for v in group.split("-")) for group in match.groups())
        return cls(layers, channels)


def deit_network(arch: DeiTArch, num_classes: int, image_size: int) -> VisionTransformer:
    """timm's VisionTransformer for ``arch`` at ``image_size`` px, classifying from the class token."""
    if image_size % arch.patch_size:
        raise AsvitError(f"{arch}: image side {image_size} is not a multiple of the patch size {arch.patch_size}")
    model = VisionTransformer(img_size=image_size, patch_size=arch.patch_size, embed_dim=arch.embed_dim,
                              depth=arch.depth, num_heads=arch.heads, mlp_ratio=arch.mlp_ratio,
                              num_classes=num_classes)
    model.arch = arch  # the training loop reads the architecture from the network
    return model


def resnet_network(arch: ResNetArch, num_classes: int) -> ResNet:
    """timm's ResNet of BasicBlocks for ``arch`` (any input size: it pools globally), with its stem
    ``channels[0]`` wide (see :func:`_stem_of_width`)."""
    model = ResNet(block=BasicBlock, layers=arch.layers, channels=arch.channels, num_classes=num_classes)
    _stem_of_width(model, arch.channels[0])
    model.arch = arch
    return model


def _stem_of_width(model: ResNet, width: int) -> None:
    """Make the 7x7 stem ``width`` wide, as ResNet-18's is as wide as its first stage: timm's plain stem
    is 64 wide whatever the channels (its ``stem_width`` sizes only the deep stems), which at 32 px
    alone costs 2.4M MACs. The first block then takes ``width`` channels and needs no projection;
    the new convolutions are initialised as timm initialises its own."""
    model.conv1 = nn.Conv2d(model.conv1.in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.feature_info[0]["num_chs"] = width
    first = model.layer1[0]
    first.conv1 = nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False)
    first.downsample = None
    for conv in (model.conv1, first.conv1):
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
