"""AutoFormer's weight-entangled one-shot supernet over an :class:`AutoFormerSpace`, with ViTAS's
cyclic channel sharing and identity shifting as options.

Weight entanglement: the supernet owns only the weights of the space's largest network, and every
subnet uses their leading slices (first E embedding channels, first int(E r) MLP units); the q/k/v
Linear is sliced per head inside each of q, k and v, so a smaller head count is a prefix of a
larger one. Training draws one subnet uniformly per step (:func:`sample_subnet`).

ViTAS cyclic channel sharing (``cyclic=True``): embedding width w does not take the first w channels
but the window of w channels that starts at its offset o_w and wraps round the W channels of the
largest width (:func:`cyclic_offsets`). Identity shifting: see :func:`sample_subnet`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn
from torch.func import functional_call

from ..models.autoformer import AutoFormerViT
from ..space.autoformer import ArchitectureError, AutoFormerArch, AutoFormerSpace, sample_autoformer


def largest_arch(space: AutoFormerSpace) -> AutoFormerArch:
    """The space's largest network: widest embedding, deepest, most heads and widest MLP everywhere."""
    depth = max(space.depths)
    return AutoFormerArch(embed_dim=max(space.embed_dims), depth=depth, num_heads=(max(space.heads),) * depth,
                          mlp_ratio=(max(space.mlp_ratios),) * depth, patch_size=space.patch_size,
                          head_dim=space.head_dim)


@dataclass(frozen=True)
class Subnet:
    """A subnet of the supernet: its architecture and, per layer, the index of the supernet block
    whose weights it uses."""

    arch: AutoFormerArch
    blocks: tuple[int, ...]

    @classmethod
    def canonical(cls, arch: AutoFormerArch) -> Subnet:
        """``arch`` on the first ``depth`` blocks: every identity (skipped) layer shifted to the end."""
        return cls(arch, tuple(range(arch.depth)))


def sample_subnet(space: AutoFormerSpace, rng: random.Random, identity_shifting: bool = True) -> Subnet:
    """The subnet of one training step, its architecture drawn by :func:`~asvit.space.sample_autoformer`.

    A depth-d subnet of a D-deep supernet has D - d identity layers. Without ``identity_shifting``
    they sit at uniformly drawn positions and every other layer uses the block at its own position,
    so one network is trained on many block sequences; with it (ViTAS; also AutoFormer's depth
    convention) every arrangement maps to the canonical form, blocks 0 .. d - 1
    (:meth:`Subnet.canonical`), and shares its weights.
    """
    arch = sample_autoformer(space, rng)
    if identity_shifting:
        return Subnet.canonical(arch)
    return Subnet(arch, tuple(sorted(rng.sample(range(max(space.depths)), arch.depth))))


def cyclic_offsets(widths: Sequence[int], total: int) -> dict[int, int]:
    """ViTAS cyclic channel sharing: the first channel o_w of each candidate width w.

    Sorted ascending, width w_j starts where w_{j-1}'s window ended, o_j = (w_1 + ... + w_{j-1}) mod W:
    the windows tile the ring of W channels end to end, so over the candidate widths every channel
    is used floor(sum_j w_j / W) or that plus one times (a plain leading slice uses channel 0 by
    every width and the last channels only by the widest).
    """
    offsets, start = {}, 0
    for width in sorted(set(widths)):
        if width > total:
            raise ArchitectureError(f"embedding width {width} exceeds the supernet's {total} channels")
        offsets[width] = start % total
        start += width
    return offsets


@lru_cache(maxsize=256)
def _skeleton(arch: AutoFormerArch, num_classes: int, image_size: int, in_chans: int) -> AutoFormerViT:
    """An :class:`AutoFormerViT` of ``arch`` on the meta device: the structure that
    ``functional_call`` runs on the supernet's slices."""
    with torch.device("meta"):
        return AutoFormerViT(arch, num_classes, image_size, in_chans)


class SuperAutoFormer(nn.Module):
    """The supernet: ``largest`` is an :class:`AutoFormerViT` of :func:`largest_arch` and holds every
    weight; ``forward(x, subnet)`` runs a subnet (a :class:`Subnet`, or an architecture on its
    canonical blocks) on its slices of those weights through ``torch.func.functional_call``, so
    gradients reach the shared weights. ``cyclic`` switches on ViTAS's cyclic channel sharing."""

    def __init__(self, space: AutoFormerSpace, num_classes: int, image_size: int = 224, in_chans: int = 3,
                 cyclic: bool = False) -> None:
        super().__init__()
        self.space = space
        self.num_classes = num_classes
        self.image_size = image_size
        self.in_chans = in_chans
        self.cyclic = cyclic
        self.largest_arch = largest_arch(space)
        self.largest = AutoFormerViT(self.largest_arch, num_classes, image_size, in_chans)
        self.offsets = cyclic_offsets(space.embed_dims, self.largest_arch.embed_dim)

    def check(self, arch: AutoFormerArch) -> None:
        """Raise :class:`ArchitectureError` unless ``arch`` fits within the largest network."""
        top = self.largest_arch
        for name in ("patch_size", "head_dim"):
            if getattr(arch, name) != getattr(top, name):
                raise ArchitectureError(f"{name} {getattr(arch, name)} differs from the supernet's "
                                        f"{getattr(top, name)}")
        if arch.embed_dim > top.embed_dim:
            raise ArchitectureError(f"embed_dim {arch.embed_dim} exceeds the supernet's largest, {top.embed_dim}")
        if self.cyclic and arch.embed_dim not in self.offsets:
            raise ArchitectureError(f"embed_dim {arch.embed_dim} is not a width of the space; cyclic channel "
                                    f"sharing has windows for {', '.join(map(str, self.offsets))}")
        if arch.depth > top.depth:
            raise ArchitectureError(f"depth {arch.depth} exceeds the supernet's largest, {top.depth}")
        for name, limit in (("num_heads", top.num_heads[0]), ("mlp_ratio", top.mlp_ratio[0])):
            for layer, value in enumerate(getattr(arch, name)):
                if value > limit:
                    raise ArchitectureError(f"{name}[{layer}] = {value} exceeds the supernet's largest, {limit}")

    def embed_channels(self, width: int) -> slice | torch.Tensor:
        """The embedding channels of width ``width``: the leading slice, or with ``cyclic`` the
        window of :func:`cyclic_offsets` (an index tensor)."""
        offset = self.offsets[width] if self.cyclic else 0
        if offset + width <= self.largest_arch.embed_dim:
            return slice(offset, offset + width)
        channels = torch.arange(offset, offset + width) % self.largest_arch.embed_dim
        return channels.to(self.largest.head.weight.device)

    def subnet_weights(self, subnet: Subnet | AutoFormerArch) -> dict[str, torch.Tensor]:
        """The slices of the shared weights that ``subnet`` uses (views or differentiable copies, not
        detached), keyed by the parameter names of an :class:`AutoFormerViT` of its architecture."""
        if isinstance(subnet, AutoFormerArch):
            subnet = Subnet.canonical(subnet)
        arch = subnet.arch
        self.check(arch)
        if len(subnet.blocks) != arch.depth or max(subnet.blocks) >= self.largest_arch.depth:
            raise ArchitectureError(f"blocks {list(subnet.blocks)} do not place {arch.depth} layers in the "
                                    f"supernet's {self.largest_arch.depth} blocks")
        big, e, d = self.largest, self.embed_channels(arch.embed_dim), arch.head_dim
        max_attn = self.largest_arch.num_heads[0] * d
        w = {"patch_embed.weight": big.patch_embed.weight[e], "patch_embed.bias": big.patch_embed.bias[e],
             "cls_token": big.cls_token[..., e], "pos_embed": big.pos_embed[..., e]}
        for layer, (block_index, heads, ratio) in enumerate(zip(subnet.blocks, arch.num_heads, arch.mlp_ratio)):
            block, p = big.blocks[block_index], f"blocks.{layer}."
            attn, hidden, width = block.attn, int(arch.embed_dim * ratio), heads * d
            for norm in ("norm1", "norm2"):
                w[p + norm + ".weight"] = getattr(block, norm).weight[e]
                w[p + norm + ".bias"] = getattr(block, norm).bias[e]
            # rows of part (q, k, v) and head h sit at part * max_attn + h * d: keep the first
            # ``heads`` heads of each part
            qkv_weight = attn.qkv.weight.view(3, max_attn, -1)[:, :width]
            w[p + "attn.qkv.weight"] = qkv_weight[..., e].reshape(3 * width, arch.embed_dim)
            w[p + "attn.qkv.bias"] = attn.qkv.bias.view(3, max_attn)[:, :width].reshape(3 * width)
            w[p + "attn.proj.weight"] = attn.proj.weight[e, :width]
            w[p + "attn.proj.bias"] = attn.proj.bias[e]
            for rel in ("rel_pos_k", "rel_pos_v"):  # d wide: used whole
                for table in ("vertical", "horizontal"):
                    w[f"{p}attn.{rel}.{table}"] = getattr(getattr(attn, rel), table)
            w[p + "mlp.fc1.weight"] = block.mlp.fc1.weight[:hidden, e]
            w[p + "mlp.fc1.bias"] = block.mlp.fc1.bias[:hidden]
            w[p + "mlp.fc2.weight"] = block.mlp.fc2.weight[e, :hidden]
            w[p + "mlp.fc2.bias"] = block.mlp.fc2.bias[e]
        w.update({"norm.weight": big.norm.weight[e], "norm.bias": big.norm.bias[e],
                  "head.weight": big.head.weight[:, e], "head.bias": big.head.bias})
        return w

    def forward(self, x: torch.Tensor, subnet: Subnet | AutoFormerArch) -> torch.Tensor:
        """Class logits of ``subnet`` on images ``x`` (B, in_chans, image_size, image_size)."""
        arch = subnet.arch if isinstance(subnet, Subnet) else subnet
        skeleton = _skeleton(arch, self.num_classes, self.image_size, self.in_chans).train(self.training)
        # the relative-position row indices depend only on the grid: the largest network's serve all
        buffers = {f"blocks.{layer}.{name}": buffer for layer in range(arch.depth)
                   for name, buffer in self.largest.blocks[0].named_buffers()}
        return functional_call(skeleton, {**self.subnet_weights(subnet), **buffers}, (x,))


def extract_subnet(supernet: SuperAutoFormer, subnet: Subnet | AutoFormerArch) -> AutoFormerViT:
    """A standalone :class:`AutoFormerViT` whose parameters are copies of the slices of the
    supernet's weights that ``subnet`` uses, on the supernet's device and dtype and in its
    train/eval mode."""
    weights = supernet.subnet_weights(subnet)
    arch = subnet.arch if isinstance(subnet, Subnet) else subnet
    reference = supernet.largest.head.weight
    network = AutoFormerViT(arch, supernet.num_classes, supernet.image_size, supernet.in_chans)
    network.to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        network.load_state_dict({name: value.detach() for name, value in weights.items()}, strict=True)
    return network.train(supernet.training)
