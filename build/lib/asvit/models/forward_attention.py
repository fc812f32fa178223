"""Softmax attention with a forward-mode derivative, for Jacobian-vector products on the CPU.

PyTorch's fused CPU attention has no forward-mode derivative, and plain math attention under
``torch.func.jvp`` carries every (N x N) intermediate as a dual tensor. :class:`_SoftmaxAttention`
keeps the fused kernel for the primal O = softmax(S) V, S = s Q K^T + M, and computes its tangent
from one score matrix per head, a block of heads at a time so the blocks stay in cache:

    dS = s (dQ K^T + Q dK^T),  T = P * dS,  dO = P dV + T V - rowsum(T) * O,   P = softmax(S).

Inside :func:`jvp_attention` every ``F.scaled_dot_product_attention`` call, timm's included, goes
through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

BLOCK_BYTES = 8 * 2**20  # score-matrix bytes per block of heads: fits the cache of a core


def _score_blocks(heads: int, tokens: int, keys: int, element_size: int) -> Iterator[slice]:
    size = max(1, BLOCK_BYTES // (tokens * keys * element_size))
    return (slice(start, min(start + size, heads)) for start in range(0, heads, size))


class _SoftmaxAttention(torch.autograd.Function):
    """O = softmax(scale Q K^T + mask) V over (..., N, d) inputs; forward-mode derivative only."""

    @staticmethod
    def forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                scale: float) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        q, k, v, mask, scale = inputs
        ctx.save_for_forward(q, k, v, output)
        ctx.mask, ctx.scale = mask, scale

    @staticmethod
    @torch.no_grad()
    def jvp(ctx, dq, dk, dv, _dmask, _dscale) -> torch.Tensor:
        q, k, v, o = ctx.saved_tensors
        dq, dk, dv = (torch.zeros_like(x) if dx is None else dx for x, dx in ((q, dq), (k, dk), (v, dv)))
        shape = o.shape
        flat = [x.expand(*shape[:-2], *x.shape[-2:]).reshape(-1, *x.shape[-2:]) for x in (q, k, v, o, dq, dk, dv)]
        q, k, v, o, dq, dk, dv = flat
        mask = ctx.mask
        if mask is not None:
            if mask.dtype == torch.bool:  # True = attend
                mask = torch.zeros_like(mask, dtype=q.dtype).masked_fill(~mask, float("-inf"))
            mask = mask.expand(*shape[:-2], q.shape[-2], k.shape[-2]).reshape(-1, q.shape[-2], k.shape[-2])
        out = torch.empty_like(o)
        left = torch.cat([q, dq], dim=-1) * ctx.scale  # [Q, dQ] [dK, K]^T = Q dK^T + dQ K^T
        right = torch.cat([dk, k], dim=-1)
        for block in _score_blocks(len(q), q.shape[-2], k.shape[-2], q.element_size()):
            scores = torch.bmm(left[block, :, : q.shape[-1]], k[block].mT)
            if mask is not None:
                scores += mask[block]
            probs = scores.softmax(dim=-1)
            weighted = torch.bmm(left[block], right[block].mT).mul_(probs)  # T = P * dS
            rowsum = weighted.sum(dim=-1, keepdim=True)
            torch.baddbmm(torch.bmm(weighted, v[block]), probs, dv[block], out=out[block])
            out[block].sub_(rowsum * o[block])
        return out.reshape(shape)


def attention_with_jvp(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
                       dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                       enable_gqa: bool = False) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` (without dropout, causal masks or grouped queries) that
    ``torch.func.jvp`` can differentiate on the CPU."""
    if dropout_p or is_causal or enable_gqa:
        raise ValueError("attention under jvp supports no dropout, causal mask or grouped-query heads")
    return _SoftmaxAttention.apply(q, k, v, attn_mask, q.shape[-1] ** -0.5 if scale is None else scale)


class _RouteAttention(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return attention_with_jvp(*args, **kwargs)
        return func(*args, **kwargs)


@contextmanager
def jvp_attention() -> Iterator[None]:
    """Route every ``F.scaled_dot_product_attention`` call in the block through
    :func:`attention_with_jvp`."""
    with _RouteAttention():
        yield
