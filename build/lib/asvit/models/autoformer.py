"""A ViT of the AutoFormer space: patch 16, one embedding width, per-layer heads and MLP ratio,
q/k/v width 64 x heads, a class token and learned position embeddings."""

from __future__ import annotations

import torch
from timm.layers import Attention, Mlp, trunc_normal_
from torch import nn

from ..space.autoformer import HEAD_DIM, AutoFormerArch
from .init import init_weights

PATCH = 16


class AutoFormerBlock(nn.Module):
    """Pre-norm block with global attention of ``heads`` x 64 q/k/v width."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=heads, attn_head_dim=HEAD_DIM, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AutoFormerViT(nn.Module):
    """Classification from the class token after the final LayerNorm; ``pooled_features`` (the
    proxies' f(x)) averages all tokens before it."""

    def __init__(self, arch: AutoFormerArch, num_classes: int = 1000, image_size: int = 224,
                 in_chans: int = 3) -> None:
        super().__init__()
        dim = arch.embed_dim
        self.patch_embed = nn.Conv2d(in_chans, dim, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image_size // PATCH) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[AutoFormerBlock(dim, h, r)
                                      for h, r in zip(arch.num_heads, arch.mlp_ratio)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.num_features = dim
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.blocks(x)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.forward_features(x))[:, 0])
