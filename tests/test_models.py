import pytest
import torch

from asvit.models import ASViT, AutoFormerViT, attention_kernel
from asvit.models.counting import count_flops
from asvit.models.layers import PatchMerge, Tokenizer, WindowBlock
from asvit.space import AutoFormerArch, Topology

from .conftest import PAPER_LARGE, PAPER_SEED


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_paper_seed_size():
    model = ASViT(Topology.parse(PAPER_SEED), num_classes=1000)
    assert n_params(model) == pytest.approx(2.32e6, rel=0.01)
    assert count_flops(model, 224) / 2 == pytest.approx(0.49e9, rel=0.05)


def test_paper_large_size():
    model = ASViT(Topology.parse(PAPER_LARGE), num_classes=1000)
    # The paper reports 88.1M; the official code's count is 87.6M (docs/design.md section 4).
    assert n_params(model) == pytest.approx(87.6e6, rel=0.01)
    assert count_flops(model, 224) / 2 == pytest.approx(22.5e9, rel=0.05)


def test_stage_outputs_and_variable_input(tiny_topology):
    model = ASViT(tiny_topology, num_classes=7).eval()
    for side in (64, 96, 128):
        maps = model.forward_stages(torch.randn(2, 3, side, side))
        assert [m.shape for m in maps] == [(2, w, side // s, side // s)
                                           for w, s in zip(tiny_topology.widths, (4, 8, 16, 32))]
        assert model(torch.randn(2, 3, side, side)).shape == (2, 7)


@pytest.mark.parametrize("kernel", [4, 5, 6, 7, 8])
def test_tokenizer_grid_is_a_quarter_of_the_input(kernel):
    tokenizer = Tokenizer(kernel, 8)
    assert tokenizer(torch.randn(1, 3, 64, 48)).shape == (1, 16, 12, 8)


@pytest.mark.parametrize("kernel", [4, 5, 8])
@pytest.mark.parametrize("multiple", [4, 2, 1])
def test_retokenized_grid_follows_the_stride_and_weights_stay(kernel, multiple):
    tokenizer = Tokenizer(kernel, 8)
    weights = tokenizer.conv.weight.clone()
    dilation = round((multiple * kernel - 1) / (kernel - 1))
    tokenizer.set_stride(4 * multiple, dilation)
    assert tokenizer(torch.randn(1, 3, 64, 64)).shape == (1, 16 // multiple, 16 // multiple, 8)
    assert torch.equal(tokenizer.conv.weight, weights)


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_patch_merge_halves_the_grid(kernel):
    merge = PatchMerge(kernel, 4, 8)
    assert merge.norm.normalized_shape == (kernel * kernel * 4,)
    assert merge(torch.randn(2, 8, 6, 4)).shape == (2, 4, 3, 8)


def test_patch_merge_equals_its_definition():
    """Zero-pad, gather each K x K window at stride 2 (channel-major like unfold), LN, Linear."""
    merge = PatchMerge(3, 2, 5)
    x = torch.randn(1, 4, 4, 2)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 1, 0, 1))  # (K-2)//2 = 0 before, (K-1)//2 = 1 after
    out = torch.empty(1, 2, 2, 5)
    for i in range(2):
        for j in range(2):
            window = padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :].permute(2, 0, 1).reshape(-1)
            out[0, i, j] = merge.reduction(merge.norm(window))
    torch.testing.assert_close(merge(x), out)


def test_windowed_attention_with_padding_equals_attention_per_window():
    """A 5x5 grid in 2x2 splits: windows of side 2, the grid padded to 6x6 and the padding masked.
    Each real token must see exactly the real tokens of its window."""
    block = WindowBlock(dim=8, heads=2, mlp_ratio=2, split=2).eval()
    x = torch.randn(1, 5, 5, 8)
    with attention_kernel(block, fused=False):
        out = block._attend(x)
        expected = torch.empty_like(x)
        for top in range(0, 5, 2):
            for left in range(0, 5, 2):
                window = x[:, top:top + 2, left:left + 2]
                h, w = window.shape[1:3]
                attended = block.attn(window.reshape(1, h * w, 8)).reshape(1, h, w, 8)
                expected[:, top:top + h, left:left + w] = attended
    torch.testing.assert_close(out, expected)


def test_fused_and_math_attention_agree(tiny_topology):
    model = ASViT(tiny_topology).eval()
    x = torch.randn(2, 3, 64, 64)
    fused = model(x)
    with attention_kernel(model, fused=False):
        plain = model(x)
    torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5)


def test_autoformer_vit_uses_64_wide_heads():
    arch = AutoFormerArch(embed_dim=192, depth=2, num_heads=(3, 4), mlp_ratio=(3.5, 4.0))
    model = AutoFormerViT(arch, num_classes=10, image_size=64)
    assert model.blocks[0].attn.qkv.out_features == 3 * 64 * 3
    assert model.blocks[1].attn.proj.in_features == 64 * 4
    assert model.blocks[0].mlp.fc1.out_features == int(192 * 3.5)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert model.pooled_features(torch.randn(2, 3, 64, 64)).shape == (2, 192)


def test_autoformer_tiny_size():
    """AutoFormer-Tiny (embed 192, depth 13, 3 heads, MLP 3.5): the published 5.7M parameters."""
    arch = AutoFormerArch(embed_dim=192, depth=13, num_heads=(3,) * 13, mlp_ratio=(3.5,) * 13)
    assert n_params(AutoFormerViT(arch, num_classes=1000)) == pytest.approx(5.7e6, rel=0.03)


def test_every_stage_is_capped_at_1024_channels():
    topology = Topology.parse(PAPER_SEED).scaled(width=300)
    outputs = ASViT(topology, num_classes=3).eval().forward_stages(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outputs] == [300, 600, 1024, 1024]
