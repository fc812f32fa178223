"""The named search spaces of ``space.name``: the As-ViT space and the AutoFormer spaces, each built
from the ``space`` params (the embedded AutoFormer space takes its choice sets from them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..registry import Registry
from .autoformer import AUTOFORMER_SPACES, AutoFormerSpace

if TYPE_CHECKING:
    from ..config import SpaceParams

Space = str | AutoFormerSpace  # "asvit", or an AutoFormer space's choice sets


def _embedded(params: SpaceParams) -> AutoFormerSpace:
    e = params.autoformer_embedded
    return AutoFormerSpace(tuple(e.embed_dims), tuple(e.heads), tuple(e.mlp_ratios), tuple(e.depths),
                           patch_size=e.patch_size, head_dim=e.head_dim)


def _fixed(space: AutoFormerSpace) -> Callable[[SpaceParams], AutoFormerSpace]:
    return lambda params: space


SPACES: Registry[Callable[[SpaceParams], Space]] = Registry("space", {
    "asvit": lambda params: "asvit",
    "autoformer-embedded": _embedded,
    **{f"autoformer-{size}": _fixed(space) for size, space in AUTOFORMER_SPACES.items()},
})


def space_for(params: SpaceParams) -> Space:
    """The space ``params.name`` names: ``"asvit"``, or the choice sets of an AutoFormer space."""
    return SPACES.lookup(params.name)(params)
