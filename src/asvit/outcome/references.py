"""Hand-designed reference networks at a budget of MACs (multiply-accumulates of one image, counted by
``count_flops``): a DeiT-style ViT and a BasicBlock ResNet, each the architecture of a fixed rule
whose MACs come closest to the target, and the As-ViT paper's seed topology. ``REFERENCES`` names
them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import torch

from ..errors import AsvitError
from ..models import Architecture, DeiTArch, ResNetArch, build_network
from ..models.counting import count_flops
from ..registry import Registry
from ..space import Topology

TOLERANCE = 0.10  # the most a reference's MACs may differ from the target, relative to it
DEIT_DEPTHS = tuple(range(12, 1, -1))  # DeiT's 12 blocks down to 2, deepest first
DEIT_TINY_WIDTH = 192
DEIT_TINY_HEADS = 3
# Below DeiT-Ti's width, DeiT-Ti's 3 heads each 4 or more wide (steps of 3); from it up to DeiT-B's
# 768, DeiT's 64-wide heads (steps of 64).
DEIT_WIDTHS = (tuple(range(4 * DEIT_TINY_HEADS, DEIT_TINY_WIDTH, DEIT_TINY_HEADS))
               + tuple(range(DEIT_TINY_WIDTH, 769, 64)))
RESNET_LAYERS = ((2, 2, 2, 2), (1, 1, 1, 1))  # ResNet-18's, then one block per stage
MAX_RESNET_WIDTH = 512  # the largest c of channels (c, 2c, 4c, 8c)


def macs_of(arch: Architecture, image_size: int, num_classes: int) -> int:
    """MACs of one image through the network of ``arch``, counted on the meta device (shapes only: no
    memory, no initialisation, no random numbers drawn)."""
    with torch.device("meta"):
        return count_flops(build_network(arch, num_classes, image_size), image_size) // 2


def deit_patch_size(image_size: int) -> int:
    """The largest power of two that divides ``image_size`` and is at most an eighth of it, so the
    grid is at least 8 x 8 patches: 16 at 224 px as in DeiT, 4 at 32 px."""
    if image_size < 8:
        raise AsvitError(f"a DeiT reference needs images of at least 8 px, got {image_size}")
    return min(image_size & -image_size, 1 << (image_size // 8).bit_length() - 1)


def deit_heads(embed_dim: int) -> int:
    """Heads of width 64 as in DeiT from DeiT-Ti's width 192 up; below it DeiT-Ti's 3 heads, narrower:
    a network of a million MACs at 32 px is 12 to 30 wide, where 64-wide heads would leave none."""
    return embed_dim // 64 if embed_dim >= DEIT_TINY_WIDTH else DEIT_TINY_HEADS


def deit_at(target_macs: int, image_size: int, num_classes: int) -> DeiTArch:
    """The deepest DeiT (depth 12 down to 2) within 10% of ``target_macs``, at the width of
    ``DEIT_WIDTHS`` closest to the target at that depth; patch size from :func:`deit_patch_size`,
    heads from :func:`deit_heads`, MLP ratio 4."""
    patch = deit_patch_size(image_size)

    def at_depth(depth: int) -> tuple[DeiTArch, int]:
        def macs(i: int) -> int:
            block, rest = _deit_block_and_rest(patch, DEIT_WIDTHS[i], image_size, num_classes)
            return rest + depth * block

        i, reached = closest(macs, target_macs, 0, len(DEIT_WIDTHS) - 1)
        return DeiTArch(patch, DEIT_WIDTHS[i], depth, deit_heads(DEIT_WIDTHS[i])), reached

    return _first_within(map(at_depth, DEIT_DEPTHS), target_macs, image_size, "DeiT")


def resnet_at(target_macs: int, image_size: int, num_classes: int) -> ResNetArch:
    """A BasicBlock ResNet with channels (c, 2c, 4c, 8c), c the integer whose MACs are closest to
    ``target_macs``: ResNet-18's layers (2, 2, 2, 2) if that lands within 10%, else one block per
    stage (small budgets, where a step of c moves ResNet-18's MACs by more than 20%)."""

    def at_layers(layers: tuple[int, ...]) -> tuple[ResNetArch, int]:
        c, reached = closest(lambda c: macs_of(_resnet(layers, c), image_size, num_classes), target_macs,
                              1, MAX_RESNET_WIDTH)
        return _resnet(layers, c), reached

    return _first_within(map(at_layers, RESNET_LAYERS), target_macs, image_size, "ResNet")


PAPER_SEED = "8,2,3|4,1,2|4,1,4|4,1,6|32"  # As-ViT's published seed topology

REFERENCES: Registry[Callable[[int, int, int], Architecture]] = Registry("reference", {
    "asvit_paper": lambda target_macs, image_size, num_classes: Topology.parse(PAPER_SEED),
    "deit": deit_at,
    "resnet": resnet_at,
})
"""Hand-designed networks by name, each built for (target MACs, image side, classes): the As-ViT paper's
seed topology (its size is set by the stage-1 width it is trained at, not by the target) and the
DeiT and ResNet of the rules above."""


@cache
def _deit_block_and_rest(patch: int, width: int, image_size: int, num_classes: int) -> tuple[int, int]:
    """MACs of one block and of the rest (patch embedding, head) of a DeiT of this width: its blocks are
    identical, so depth d has rest + d x block, read off the counts at depths 1 and 2."""
    one, two = (macs_of(DeiTArch(patch, width, depth, deit_heads(width)), image_size, num_classes)
                for depth in (1, 2))
    return two - one, 2 * one - two


def _resnet(layers: tuple[int, ...], c: int) -> ResNetArch:
    return ResNetArch(layers, (c, 2 * c, 4 * c, 8 * c))


def closest(macs: Callable[[int], int], target: int, low: int, high: int) -> tuple[int, int]:
    """The k in ``low..high`` whose ``macs(k)`` (increasing in k) is closest to ``target``, the smaller
    on a tie, and its MACs: bisection for the first k at or above the target, then it or the one below."""
    macs, k, above = cache(macs), low, high
    while k < above:
        middle = (k + above) // 2
        if macs(middle) < target:
            k = middle + 1
        else:
            above = middle
    if k > low and target - macs(k - 1) <= abs(macs(k) - target):
        k -= 1
    return k, macs(k)


def _first_within(candidates: Iterable[tuple[Architecture, int]], target: int, image_size: int,
                  kind: str) -> Architecture:
    """The first (architecture, MACs) candidate within ``TOLERANCE`` of ``target``; if none is, an error
    naming the target and the nearest MACs reached."""
    nearest: tuple[Architecture, int] | None = None
    for arch, macs in candidates:
        if abs(macs - target) <= TOLERANCE * target:
            return arch
        if nearest is None or abs(macs - target) < abs(nearest[1] - target):
            nearest = arch, macs
    raise AsvitError(f"no {kind} reference within {TOLERANCE:.0%} of {target:,} MACs at {image_size} px: the "
                     f"nearest, {nearest[0]}, has {nearest[1]:,} MACs")
