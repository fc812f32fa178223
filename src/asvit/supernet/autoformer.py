"""AutoFormer's weight-entangled one-shot supernet over an :class:`AutoFormerSpace`.

Weight entanglement: the supernet owns only the weights of the space's largest network, and every
subnet uses their leading slices (first E channels, first ``depth`` blocks, first int(E r) MLP
units); the q/k/v Linear is sliced per head inside each of q, k and v, so a smaller head count is
a prefix of a larger one. Training draws one subnet uniformly per step (:func:`sample_subnet`).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from ..models.autoformer import PATCH, AutoFormerViT, relative_attention
from ..space.autoformer import (HEAD_DIM, ArchitectureError, AutoFormerArch, AutoFormerSpace,
                                sample_autoformer)


def largest_arch(space: AutoFormerSpace) -> AutoFormerArch:
    """The space's largest network: widest embedding, deepest, most heads and widest MLP everywhere."""
    depth = max(space.depths)
    return AutoFormerArch(embed_dim=max(space.embed_dims), depth=depth,
                          num_heads=(max(space.heads),) * depth,
                          mlp_ratio=(max(space.mlp_ratios),) * depth)


def sample_subnet(space: AutoFormerSpace, rng: random.Random) -> AutoFormerArch:
    """The subnet of one training step: drawn uniformly by :func:`~asvit.space.sample_autoformer`."""
    return sample_autoformer(space, rng)


class SuperAutoFormer(nn.Module):
    """The supernet: ``largest`` is an :class:`AutoFormerViT` of :func:`largest_arch` and holds every
    weight; ``forward(x, arch)`` runs subnet ``arch`` on the leading slices of those weights, with
    functional ops so gradients reach the shared weights. Dropout modules, the LayerNorm eps and
    the relative-position modules are those of the largest network's blocks."""

    def __init__(self, space: AutoFormerSpace, num_classes: int, image_size: int = 224,
                 in_chans: int = 3) -> None:
        super().__init__()
        self.space = space
        self.num_classes = num_classes
        self.image_size = image_size
        self.in_chans = in_chans
        self.largest_arch = largest_arch(space)
        self.largest = AutoFormerViT(self.largest_arch, num_classes, image_size, in_chans)

    def check(self, arch: AutoFormerArch) -> None:
        """Raise :class:`ArchitectureError` unless ``arch`` fits within the largest network."""
        top = self.largest_arch
        if arch.embed_dim > top.embed_dim:
            raise ArchitectureError(
                f"embed_dim {arch.embed_dim} exceeds the supernet's largest, {top.embed_dim}")
        if arch.depth > top.depth:
            raise ArchitectureError(f"depth {arch.depth} exceeds the supernet's largest, {top.depth}")
        for name, limit in (("num_heads", top.num_heads[0]), ("mlp_ratio", top.mlp_ratio[0])):
            for layer, value in enumerate(getattr(arch, name)):
                if value > limit:
                    raise ArchitectureError(
                        f"{name}[{layer}] = {value} exceeds the supernet's largest, {limit}")

    def subnet_weights(self, arch: AutoFormerArch) -> dict[str, torch.Tensor]:
        """The slices of the shared weights that subnet ``arch`` uses, keyed by the parameter names
        of an :class:`AutoFormerViT` of ``arch``. They are views or differentiable copies of the
        shared parameters (the q/k/v weight is gathered head by head), not detached."""
        self.check(arch)
        big = self.largest
        e = arch.embed_dim
        max_attn = self.largest_arch.num_heads[0] * HEAD_DIM
        w = {"patch_embed.weight": big.patch_embed.weight[:e], "patch_embed.bias": big.patch_embed.bias[:e],
             "cls_token": big.cls_token[..., :e], "pos_embed": big.pos_embed[..., :e]}
        for layer, (heads, ratio) in enumerate(zip(arch.num_heads, arch.mlp_ratio)):
            block, p = big.blocks[layer], f"blocks.{layer}."
            attn, hidden, width = block.attn, int(e * ratio), heads * HEAD_DIM
            for norm in ("norm1", "norm2"):
                w[p + norm + ".weight"] = getattr(block, norm).weight[:e]
                w[p + norm + ".bias"] = getattr(block, norm).bias[:e]
            # rows of part (q, k, v) and head h sit at part * max_attn + h * 64: keep the first
            # ``heads`` heads of each part
            qkv_weight = attn.qkv.weight.view(3, max_attn, -1)
            w[p + "attn.qkv.weight"] = qkv_weight[:, :width, :e].reshape(3 * width, e)
            w[p + "attn.qkv.bias"] = attn.qkv.bias.view(3, max_attn)[:, :width].reshape(3 * width)
            w[p + "attn.proj.weight"] = attn.proj.weight[:e, :width]
            w[p + "attn.proj.bias"] = attn.proj.bias[:e]
            for rel in ("rel_pos_k", "rel_pos_v"):  # 64 wide: used whole
                for table in ("vertical", "horizontal"):
                    w[f"{p}attn.{rel}.{table}"] = getattr(getattr(attn, rel), table)
            w[p + "mlp.fc1.weight"] = block.mlp.fc1.weight[:hidden, :e]
            w[p + "mlp.fc1.bias"] = block.mlp.fc1.bias[:hidden]
            w[p + "mlp.fc2.weight"] = block.mlp.fc2.weight[:e, :hidden]
            w[p + "mlp.fc2.bias"] = block.mlp.fc2.bias[:e]
        w.update({"norm.weight": big.norm.weight[:e], "norm.bias": big.norm.bias[:e],
                  "head.weight": big.head.weight[:, :e], "head.bias": big.head.bias})
        return w

    def forward(self, x: torch.Tensor, arch: AutoFormerArch) -> torch.Tensor:
        """Class logits of subnet ``arch`` on images ``x`` (B, in_chans, image_size, image_size)."""
        w = self.subnet_weights(arch)
        big, e = self.largest, arch.embed_dim
        x = F.conv2d(x, w["patch_embed.weight"], w["patch_embed.bias"], stride=PATCH)
        x = x.flatten(2).transpose(1, 2)
        batch, tokens = x.shape[0], x.shape[1] + 1
        if tokens != big.pos_embed.shape[1]:
            raise ValueError(f"the supernet is built for {self.image_size} px images "
                             f"({big.pos_embed.shape[1]} tokens), got {tokens} tokens")
        x = torch.cat([w["cls_token"].expand(batch, -1, -1), x], dim=1) + w["pos_embed"]
        for layer, heads in enumerate(arch.num_heads):
            block, p = big.blocks[layer], f"blocks.{layer}."
            attn, mlp = block.attn, block.mlp
            h = F.layer_norm(x, (e,), w[p + "norm1.weight"], w[p + "norm1.bias"], block.norm1.eps)
            qkv = F.linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])
            q, k, v = qkv.reshape(batch, tokens, 3, heads, HEAD_DIM).permute(2, 0, 3, 1, 4).unbind(0)
            h = relative_attention(q, k, v, attn.rel_pos_k(), attn.rel_pos_v(), attn.attn_drop)
            h = h.transpose(1, 2).reshape(batch, tokens, heads * HEAD_DIM)
            x = x + attn.proj_drop(F.linear(h, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"]))
            h = F.layer_norm(x, (e,), w[p + "norm2.weight"], w[p + "norm2.bias"], block.norm2.eps)
            h = mlp.drop1(mlp.act(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])))
            x = x + mlp.drop2(F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"]))
        x = F.layer_norm(x, (e,), w["norm.weight"], w["norm.bias"], big.norm.eps)
        return F.linear(x[:, 0], w["head.weight"], w["head.bias"])


def extract_subnet(supernet: SuperAutoFormer, arch: AutoFormerArch) -> AutoFormerViT:
    """A standalone :class:`AutoFormerViT` of ``arch`` whose parameters are copies of the slices of
    the supernet's weights that ``arch`` uses, on the supernet's device and dtype and in its
    train/eval mode."""
    weights = supernet.subnet_weights(arch)
    reference = supernet.largest.head.weight
    subnet = AutoFormerViT(arch, supernet.num_classes, supernet.image_size, supernet.in_chans)
    subnet.to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        subnet.load_state_dict({name: value.detach() for name, value in weights.items()}, strict=True)
    return subnet.train(supernet.training)
