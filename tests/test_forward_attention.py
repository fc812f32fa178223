"""The forward-mode attention equals the definition: the jvp of plain softmax(s q k^T + m) v."""

import pytest
import torch
import torch.nn.functional as F

from asvit.models import ASViT, attention_kernel, forward_attention, jvp_attention
from asvit.models.layers import WindowBlock


def plain_attention(q, k, v, mask=None):
    scores = q @ k.mT * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores + mask
    return scores.softmax(dim=-1) @ v


def random_dual(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    primals = tuple(torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(3))
    tangents = tuple(torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(3))
    return primals, tangents


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("block_bytes", [1, 2**30])  # one head per block, and every head at once
def test_jvp_equals_the_jvp_of_plain_attention(masked, block_bytes, monkeypatch):
    monkeypatch.setattr(forward_attention, "BLOCK_BYTES", block_bytes)
    primals, tangents = random_dual((3, 2, 9, 4), seed=0)
    mask = None
    if masked:  # the last two keys of every window are padding
        mask = torch.zeros(3, 1, 1, 9, dtype=torch.float64)
        mask[..., -2:] = float("-inf")
    expected = torch.func.jvp(lambda q, k, v: plain_attention(q, k, v, mask), primals, tangents)
    with jvp_attention():
        out = torch.func.jvp(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                             primals, tangents)
    torch.testing.assert_close(out, expected)


def test_boolean_mask_and_explicit_scale():
    primals, tangents = random_dual((2, 3, 6, 5), seed=1)
    keep = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    keep[0, ..., 4:] = False
    additive = torch.zeros(keep.shape, dtype=torch.float64).masked_fill(~keep, float("-inf"))

    def reference(q, k, v):
        return plain_attention(q * 0.3 / 5 ** -0.5, k, v, additive)

    expected = torch.func.jvp(reference, primals, tangents)
    with jvp_attention():
        out = torch.func.jvp(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=0.3),
                             primals, tangents)
    torch.testing.assert_close(out, expected)


def test_a_tangent_on_some_inputs_only():
    primals, tangents = random_dual((1, 2, 7, 3), seed=2)
    q, k, v = primals
    expected = torch.func.jvp(lambda v: plain_attention(q, k, v), (v,), (tangents[2],))
    with jvp_attention():
        out = torch.func.jvp(lambda v: F.scaled_dot_product_attention(q, k, v), (v,), (tangents[2],))
    torch.testing.assert_close(out, expected)


def test_network_jvp_equals_the_plain_attention_network(tiny_topology):
    """The whole As-ViT under jvp, padded windows included (a 36 px input: a stage-1 grid of 9 in windows of 4)."""
    model = ASViT(tiny_topology).eval().double()
    x, dx = torch.randn(2, 3, 36, 36, dtype=torch.float64), torch.randn(2, 3, 36, 36, dtype=torch.float64)
    with attention_kernel(model, fused=False):
        expected = torch.func.jvp(model.pooled_features, (x,), (dx,))
    with attention_kernel(model, fused=True), jvp_attention():
        out = torch.func.jvp(model.pooled_features, (x,), (dx,))
    torch.testing.assert_close(out, expected)


def test_calls_outside_the_block_are_untouched_and_unsupported_options_are_refused():
    q = k = v = torch.randn(1, 1, 4, 2)
    with jvp_attention():
        with pytest.raises(ValueError, match="causal"):
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
        routed = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(routed, F.scaled_dot_product_attention(q, k, v))
    block = WindowBlock(dim=4, heads=1, mlp_ratio=2, split=1)
    with pytest.raises(RuntimeError), jvp_attention():  # forward mode only: no reverse-mode derivative
        block.attn(torch.randn(1, 4, 4, requires_grad=True)).sum().backward()
