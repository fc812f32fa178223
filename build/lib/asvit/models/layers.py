"""Building blocks of the As-ViT network: the re-tokenizable stage-1 tokenizer, the overlapping
patch merge, and the pre-norm block with windowed self-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Attention, DropPath, Mlp
from torch import nn


def same_padding(effective_kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) so that a window of ``effective_kernel`` with ``stride`` maps a side
    of n to n / stride; negative values crop."""
    total = effective_kernel - stride
    return total // 2, total - total // 2


class Tokenizer(nn.Module):
    """Stage-1 tokenizer: Conv2d (kernel K1, stride 4) and LayerNorm; output (B, H/4, W/4, C).

    The stride and dilation can be changed (progressive re-tokenization) without touching the
    weights: the padding follows the effective kernel d (K1 - 1) + 1 so the grid is input / stride.
    """

    def __init__(self, kernel: int, width: int, in_chans: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(in_chans, width, kernel, stride=4)
        self.norm = nn.LayerNorm(width)

    @property
    def stride(self) -> int:
        return self.conv.stride[0]

    @property
    def dilation(self) -> int:
        return self.conv.dilation[0]

    def set_stride(self, stride: int, dilation: int = 1) -> None:
        """Switch to another stride and dilation; the weights are kept."""
        self.conv.stride = (stride, stride)
        self.conv.dilation = (dilation, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before, after = same_padding(self.dilation * (self.kernel - 1) + 1, self.stride)
        x = self.conv(F.pad(x, (before, after, before, after)))
        return self.norm(x.permute(0, 2, 3, 1))


class PatchMerge(nn.Module):
    """Halve the token grid: zero-pad ((K-2)//2, (K-1)//2), unfold K x K windows with stride 2
    (overlapping for K > 2), LayerNorm over K*K*C_in, bias-free Linear to C_out."""

    def __init__(self, kernel: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.norm = nn.LayerNorm(kernel * kernel * in_dim)
        self.reduction = nn.Linear(kernel * kernel * in_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel
        before, after = (k - 2) // 2, (k - 1) // 2
        x = F.pad(x, (0, 0, before, after, before, after))
        out_h, out_w = (x.shape[1] - k) // 2 + 1, (x.shape[2] - k) // 2 + 1
        # The K x K windows at stride 2 as strided slices (channel-major, like unfold); slicing
        # keeps forward-mode AD fast, where im2col is slow.
        windows = [x[:, i:i + 2 * out_h - 1:2, j:j + 2 * out_w - 1:2] for i in range(k) for j in range(k)]
        x = torch.stack(windows, dim=-1).flatten(-2)
        return self.reduction(self.norm(x))


def window_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, wh * ww, C) for H, W multiples of the window sides."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // wh, wh, w // ww, ww, c).transpose(2, 3)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: torch.Tensor, wh: int, ww: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // wh, w // ww, wh, ww, c).transpose(2, 3)
    return x.reshape(-1, h, w, c)


class WindowBlock(nn.Module):
    """Pre-norm transformer block, ``x = x + attn(ln(x)); x = x + ffn(ln(x))``, with attention inside
    each of the S x S windows of the token grid (window side = max(1, grid // S)).

    A grid that does not divide into windows (after re-tokenization) is zero-padded at the bottom
    and right, and the padded tokens are masked out as keys so they never change a real token.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, split: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.split = split
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=heads, attn_head_dim=max(1, dim // heads), qkv_bias=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w, _ = x.shape
        wh, ww = max(1, h // self.split), max(1, w // self.split)
        pad_h, pad_w = -h % wh, -w % ww
        mask = None
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
            valid = x.new_zeros(1, h + pad_h, w + pad_w, 1, dtype=torch.bool)
            valid[:, :h, :w] = True
            key_valid = window_partition(valid, wh, ww).squeeze(-1)  # (nW, N)
            mask = x.new_zeros(key_valid.shape).masked_fill(~key_valid, float("-inf"))
            mask = mask.repeat(x.shape[0], 1)[:, None, None, :]
        windows = self.attn(window_partition(x, wh, ww), attn_mask=mask)
        return window_reverse(windows, wh, ww, h + pad_h, w + pad_w)[:, :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self._attend(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
