"""A ViT of the AutoFormer space: patch P (16 in AutoFormer), one embedding width, per-layer heads
and MLP ratio, q/k/v width d x heads (d = 64 in AutoFormer), a class token, learned absolute
position embeddings and, in every attention, AutoFormer's 2D relative position encodings for keys
and values."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Attention, Mlp, trunc_normal_
from torch import nn

from ..space.autoformer import AutoFormerArch
from .init import init_weights

MAX_DISTANCE = 14  # relative distances along each grid axis are clipped to [-14, 14]


def relative_indices(grid: int, max_distance: int = MAX_DISTANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows of every (query, key) token pair for a class token followed by a ``grid`` x ``grid``
    patch grid in row-major order: two (N, N) long tensors, N = grid ** 2 + 1, for the vertical and
    the horizontal axis.

    For patches i and j the row is the key's grid coordinate minus the query's, clipped to
    [-max_distance, max_distance] and shifted by max_distance + 1, so rows 1 .. 2 max_distance + 1
    hold distances and row 0 is left for every pair that involves the class token (token 0).
    """
    cells = torch.arange(grid * grid)
    indices = []
    for coordinate in (cells // grid, cells % grid):  # vertical (row), horizontal (column)
        distance = coordinate[None, :] - coordinate[:, None]  # [query, key]: key minus query
        full = torch.zeros(grid * grid + 1, grid * grid + 1, dtype=torch.long)
        full[1:, 1:] = distance.clamp(-max_distance, max_distance) + max_distance + 1
        indices.append(full)
    return indices[0], indices[1]


class RelativePosition2D(nn.Module):
    """Learned embeddings r_ij of the 2D offset between tokens i and j: a vertical and a horizontal
    table of 2 * MAX_DISTANCE + 2 rows, r_ij = vertical[index_v(i, j)] + horizontal[index_h(i, j)]
    (rows from :func:`relative_indices`). One table row is ``width`` wide and shared by all heads.

    The row indices depend only on the token count; they are non-persistent buffers, so a state
    dict holds just the two tables.
    """

    def __init__(self, width: int, grid: int) -> None:
        super().__init__()
        rows = 2 * MAX_DISTANCE + 2
        self.vertical = nn.Parameter(torch.empty(rows, width))
        self.horizontal = nn.Parameter(torch.empty(rows, width))
        trunc_normal_(self.vertical, std=0.02)
        trunc_normal_(self.horizontal, std=0.02)
        index_v, index_h = relative_indices(grid)
        self.register_buffer("index_v", index_v, persistent=False)
        self.register_buffer("index_h", index_h, persistent=False)

    @property
    def tokens(self) -> int:
        return self.index_v.shape[0]

    def forward(self) -> torch.Tensor:
        """The (N, N, width) embeddings of all token pairs, indexed [query, key]."""
        # embedding lookups (index_select) gather rows several times faster than advanced indexing on the CPU
        return F.embedding(self.index_v, self.vertical) + F.embedding(self.index_h, self.horizontal)


def relative_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_k: torch.Tensor,
                       rel_v: torch.Tensor, attn_drop: nn.Module | None = None) -> torch.Tensor:
    """Per-head attention with relative position embeddings on keys and values.

    ``q``, ``k``, ``v`` are (B, heads, N, d) and ``rel_k``, ``rel_v`` the (N, N, d) pair embeddings
    (indexed [query, key], shared by all heads); returns the (B, heads, N, d) head outputs
    o_i = sum_j softmax_j((q_i . k_j + q_i . r^K_ij) / sqrt(d)) (v_j + r^V_ij). ``attn_drop``, if
    given, is applied to the attention probabilities. Shared by :class:`RelativePositionAttention`
    and the weight-sharing supernet.
    """
    q = q * q.shape[-1] ** -0.5
    logits = q @ k.transpose(-2, -1) + torch.einsum("bhid,ijd->bhij", q, rel_k)
    probs = logits.softmax(dim=-1)
    if attn_drop is not None:
        probs = attn_drop(probs)
    return probs @ v + torch.einsum("bhij,ijd->bhid", probs, rel_v)


class RelativePositionAttention(Attention):
    """Multi-head self-attention with 2D relative position embeddings on keys and values.

    timm's :class:`~timm.layers.Attention` provides the q/k/v Linear (``dim`` -> 3 x heads x d with
    bias, output rows q, k, v and head-major within each, so a weight-sharing supernet can slice it
    by head) and the output projection; being one, this module is also found by the code that
    looks for attention layers (the DSS proxy, :func:`~asvit.models.attention_kernel`). With
    r^K, r^V the embeddings of ``rel_pos_k`` and ``rel_pos_v``, each head computes

        a_ij = (q_i . k_j + q_i . r^K_ij) / sqrt(d),  p_ij = softmax_j(a_ij),
        o_i = sum_j p_ij (v_j + r^V_ij),

    then the heads are concatenated and projected. The relative terms are batched matrix products
    over the gathered (N, N, d) embeddings; the attention always runs as these plain operations
    (``fused_attn`` is ignored), which have forward- and reverse-mode derivatives and vmap rules.
    """

    def __init__(self, dim: int, heads: int, grid: int, head_dim: int) -> None:
        super().__init__(dim, num_heads=heads, attn_head_dim=head_dim, qkv_bias=True)
        self.rel_pos_k = RelativePosition2D(head_dim, grid)
        self.rel_pos_v = RelativePosition2D(head_dim, grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        batch, tokens, _ = x.shape
        if tokens != self.rel_pos_k.tokens:
            raise ValueError(f"relative positions are built for {self.rel_pos_k.tokens} tokens, got {tokens}")
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, d)
        out = relative_attention(q, k, v, self.rel_pos_k(), self.rel_pos_v(), self.attn_drop)
        out = out.transpose(1, 2).reshape(batch, tokens, self.attn_dim)
        return self.proj_drop(self.proj(out))


class AutoFormerBlock(nn.Module):
    """Pre-norm block with global attention of ``heads`` x ``head_dim`` q/k/v width and relative
    positions on a ``grid`` x ``grid`` patch grid plus a class token."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, grid: int, head_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RelativePositionAttention(dim, heads, grid, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AutoFormerViT(nn.Module):
    """Classification from the class token after the final LayerNorm; ``pooled_features`` (the
    proxies' f(x)) averages all tokens before it.

    Both the absolute position embedding and the relative-position indices are sized for
    ``image_size`` (a grid of image_size // P patches a side). Every layer's two relative-position
    modules hold 2 tables x 30 x d parameters each: 7,680 per layer at AutoFormer's d = 64.
    """

    def __init__(self, arch: AutoFormerArch, num_classes: int = 1000, image_size: int = 224,
                 in_chans: int = 3) -> None:
        super().__init__()
        dim, patch = arch.embed_dim, arch.patch_size
        if image_size % patch:
            raise ValueError(f"image side {image_size} is not a multiple of the patch size {patch}")
        grid = image_size // patch
        self.arch = arch
        self.num_classes = num_classes
        self.patch_embed = nn.Conv2d(in_chans, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[AutoFormerBlock(dim, h, r, grid, arch.head_dim)
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
