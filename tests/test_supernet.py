"""AutoFormer's weight-entangled supernet on a tiny space at 32 px (a 2 x 2 patch grid): the
supernet's subnet forward against the extracted standalone network, the extracted weights as
leading (per-head for q/k/v) slices, gradients confined to the slices, the space's limits and
uniform subnet sampling."""

from __future__ import annotations

import random

import pytest
import torch

from asvit.space import ArchitectureError, AutoFormerArch, AutoFormerSpace
from asvit.supernet import Subnet, SuperAutoFormer, cyclic_offsets, extract_subnet, largest_arch, sample_subnet

SPACE = AutoFormerSpace(embed_dims=(32, 48), heads=(1, 2), mlp_ratios=(2.0, 3.0), depths=(2, 3))
SIZE, CLASSES = 32, 5

ARCHS = {
    "smallest": AutoFormerArch(32, 2, (1, 1), (2.0, 2.0)),
    "largest": AutoFormerArch(48, 3, (2, 2, 2), (3.0, 3.0, 3.0)),
    "mixed-narrow": AutoFormerArch(32, 3, (2, 1, 2), (3.0, 2.0, 2.0)),
    "mixed-wide": AutoFormerArch(48, 2, (1, 2), (2.0, 3.0)),
}


def supernet(dtype=torch.float64) -> SuperAutoFormer:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = SuperAutoFormer(SPACE, num_classes=CLASSES, image_size=SIZE).to(dtype).eval()
    with torch.no_grad():  # biases and norms start at 0 and 1: perturb them so slicing them matters
        for name, param in net.named_parameters():
            if name.endswith("bias") or ".norm" in name or name.startswith("largest.norm"):
                param.add_(0.1 * torch.randn_like(param))
    return net


def images(dtype=torch.float64) -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, dtype=dtype, generator=torch.Generator().manual_seed(1))


def test_largest_arch_takes_every_maximum():
    assert largest_arch(SPACE) == AutoFormerArch(48, 3, (2, 2, 2), (3.0, 3.0, 3.0))


@pytest.mark.parametrize("name", ARCHS)
def test_supernet_forward_equals_the_extracted_subnet(name):
    net, x = supernet(), images()
    subnet = extract_subnet(net, ARCHS[name])
    assert isinstance(subnet, torch.nn.Module) and not subnet.training
    with torch.no_grad():
        expected = subnet(x)
        got = net(x, ARCHS[name])
    assert got.shape == (2, CLASSES)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_extracted_weights_are_the_leading_slices():
    net = supernet()
    arch = ARCHS["mixed-narrow"]
    big = dict(net.largest.named_parameters())
    small = dict(extract_subnet(net, arch).named_parameters())
    e, hmax = arch.embed_dim, 2
    expected = {"patch_embed.weight": big["patch_embed.weight"][:e], "patch_embed.bias": big["patch_embed.bias"][:e],
                "cls_token": big["cls_token"][..., :e], "pos_embed": big["pos_embed"][..., :e],
                "norm.weight": big["norm.weight"][:e], "norm.bias": big["norm.bias"][:e],
                "head.weight": big["head.weight"][:, :e], "head.bias": big["head.bias"]}
    for layer, (heads, ratio) in enumerate(zip(arch.num_heads, arch.mlp_ratio)):
        p, hidden, width = f"blocks.{layer}.", int(e * ratio), 64 * heads
        rows = torch.cat([torch.arange(part * hmax * 64, part * hmax * 64 + width) for part in range(3)])
        expected.update({
            p + "norm1.weight": big[p + "norm1.weight"][:e], p + "norm1.bias": big[p + "norm1.bias"][:e],
            p + "norm2.weight": big[p + "norm2.weight"][:e], p + "norm2.bias": big[p + "norm2.bias"][:e],
            p + "attn.qkv.weight": big[p + "attn.qkv.weight"][rows, :e],
            p + "attn.qkv.bias": big[p + "attn.qkv.bias"][rows],
            p + "attn.proj.weight": big[p + "attn.proj.weight"][:e, :width],
            p + "attn.proj.bias": big[p + "attn.proj.bias"][:e],
            p + "mlp.fc1.weight": big[p + "mlp.fc1.weight"][:hidden, :e],
            p + "mlp.fc1.bias": big[p + "mlp.fc1.bias"][:hidden],
            p + "mlp.fc2.weight": big[p + "mlp.fc2.weight"][:e, :hidden],
            p + "mlp.fc2.bias": big[p + "mlp.fc2.bias"][:e],
        })
        for table in ("rel_pos_k.vertical", "rel_pos_k.horizontal", "rel_pos_v.vertical", "rel_pos_v.horizontal"):
            expected[p + "attn." + table] = big[p + "attn." + table]
    assert sorted(small) == sorted(expected)
    for name, value in expected.items():
        assert small[name].shape == value.shape, name
        assert torch.equal(small[name], value), name
        assert small[name].data_ptr() != value.data_ptr(), name  # copies, not shared storage


@pytest.mark.parametrize("bias", [False, True])
def test_a_smaller_head_count_is_a_prefix_of_a_larger_one_for_q_k_and_v(bias):
    net = supernet()
    one = extract_subnet(net, AutoFormerArch(48, 2, (1, 1), (2.0, 2.0)))
    two = extract_subnet(net, AutoFormerArch(48, 2, (2, 2), (2.0, 2.0)))
    for layer in range(2):
        small, large = (getattr(m.blocks[layer].attn.qkv, "bias" if bias else "weight") for m in (one, two))
        assert small.shape[0] == 3 * 64 and large.shape[0] == 3 * 2 * 64
        for part in range(3):  # q, k, v: head 0 of either subnet is the same rows
            assert torch.equal(small[part * 64:(part + 1) * 64], large[part * 128:part * 128 + 64])
        # and the two-head subnet's second q head is not the one-head subnet's k head
        assert not torch.equal(large[64:128], small[64:128])


def test_gradients_stay_inside_the_subnets_slices():
    net = supernet(torch.float32)
    arch = AutoFormerArch(32, 2, (1, 2), (2.0, 3.0))
    net(images(torch.float32), arch).square().sum().backward()
    blocks = net.largest.blocks
    fc1 = blocks[0].mlp.fc1.weight.grad  # (144, 48); layer 0 uses [:64, :32]
    assert fc1[:64, :32].abs().min() > 0
    assert (fc1[64:] == 0).all() and (fc1[:, 32:] == 0).all()
    qkv = blocks[0].attn.qkv.weight.grad.view(3, 128, 48)  # layer 0: 1 head, rows [:64] of each part
    assert (qkv[:, :64, :32].abs().amax(dim=(1, 2)) > 0).all()  # q, k and v each get gradient
    assert (qkv[:, 64:] == 0).all() and (qkv[:, :, 32:] == 0).all()
    qkv = blocks[1].attn.qkv.weight.grad.view(3, 128, 48)  # layer 1: both heads
    assert (qkv[:, :, :32].abs().amax(dim=2) > 0).all() and (qkv[:, :, 32:] == 0).all()
    assert blocks[2].mlp.fc1.weight.grad is None  # beyond the subnet's depth: never used
    head = net.largest.head.weight.grad
    assert head[:, :32].abs().min() > 0 and (head[:, 32:] == 0).all()
    assert net.largest.patch_embed.weight.grad[32:].abs().max() == 0


@pytest.mark.parametrize("arch, field", [
    (AutoFormerArch(64, 2, (1, 1), (2.0, 2.0)), "embed_dim"),
    (AutoFormerArch(32, 4, (1, 1, 1, 1), (2.0,) * 4), "depth"),
    (AutoFormerArch(32, 2, (1, 3), (2.0, 2.0)), "num_heads"),
    (AutoFormerArch(32, 2, (1, 1), (2.0, 4.0)), "mlp_ratio"),
])
def test_an_arch_outside_the_space_is_rejected_by_field(arch, field):
    net = SuperAutoFormer(SPACE, num_classes=CLASSES, image_size=SIZE)
    with pytest.raises(ArchitectureError, match=field):
        net(torch.zeros(1, 3, SIZE, SIZE), arch)
    with pytest.raises(ArchitectureError, match=field):
        extract_subnet(net, arch)


def test_sample_subnet_stays_inside_the_space_and_covers_every_choice():
    rng, net = random.Random(0), SuperAutoFormer(SPACE, num_classes=CLASSES, image_size=SIZE)
    archs = [sample_subnet(SPACE, rng).arch for _ in range(300)]
    for arch in archs:
        net.check(arch)
        assert arch.embed_dim in SPACE.embed_dims and arch.depth in SPACE.depths
        assert set(arch.num_heads) <= set(SPACE.heads) and set(arch.mlp_ratio) <= set(SPACE.mlp_ratios)
    assert {a.embed_dim for a in archs} == set(SPACE.embed_dims)
    assert {a.depth for a in archs} == set(SPACE.depths)
    for layer in range(max(SPACE.depths)):  # every layer position sees every choice
        deep = [a for a in archs if a.depth > layer]
        assert {a.num_heads[layer] for a in deep} == set(SPACE.heads)
        assert {a.mlp_ratio[layer] for a in deep} == set(SPACE.mlp_ratios)


def test_identity_shifting_maps_every_arrangement_to_the_first_blocks():
    rng = random.Random(0)
    shifted = [sample_subnet(SPACE, rng, identity_shifting=True) for _ in range(200)]
    assert all(s.blocks == tuple(range(s.arch.depth)) for s in shifted)
    in_place = [sample_subnet(SPACE, rng, identity_shifting=False) for _ in range(200)]
    shallow = {s.blocks for s in in_place if s.arch.depth == 2}
    assert shallow == {(0, 1), (0, 2), (1, 2)}  # the identity layer sits anywhere, layers keep their order


def test_equivalent_arrangements_share_weights_only_with_identity_shifting():
    net, x = supernet(), images()
    arch = ARCHS["smallest"]  # depth 2 of 3: one identity layer
    arrangements = [Subnet(arch, blocks) for blocks in ((0, 1), (0, 2), (1, 2))]
    with torch.no_grad():
        canonical = net(x, Subnet.canonical(arch))
        in_place = [net(x, s) for s in arrangements]
    torch.testing.assert_close(canonical, in_place[0], rtol=0, atol=0)  # blocks (0, 1) is the canonical form
    assert not torch.allclose(in_place[1], canonical) and not torch.allclose(in_place[2], canonical)
    torch.testing.assert_close(net(x, arrangements[2]), extract_and_run(net, arrangements[2], x), rtol=0, atol=1e-10)


def extract_and_run(net: SuperAutoFormer, subnet: Subnet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return extract_subnet(net, subnet)(x)


@pytest.mark.parametrize("widths, total", [((32, 48), 48), ((192, 216, 240), 240), ((320, 384, 448), 448),
                                           ((16, 24, 32, 40), 40)])
def test_cyclic_windows_use_every_channel_a_balanced_number_of_times(widths, total):
    offsets = cyclic_offsets(widths, total)
    usage = torch.zeros(total, dtype=torch.long)
    for width, offset in offsets.items():
        usage[(offset + torch.arange(width)) % total] += 1
    assert usage.sum() == sum(widths)
    assert usage.max() - usage.min() <= 1  # measured balance: every channel serves floor or ceil(sum / W) widths
    leading = torch.zeros(total, dtype=torch.long)
    for width in widths:
        leading[:width] += 1
    assert leading.max() - leading.min() == len(widths) - 1  # the plain leading slice is unbalanced


def test_cyclic_sharing_takes_the_rotated_window_everywhere():
    torch.manual_seed(0)
    net = SuperAutoFormer(SPACE, num_classes=CLASSES, image_size=SIZE, cyclic=True).double().eval()
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.add_(0.1 * torch.randn_like(param))
    arch = ARCHS["mixed-wide"]  # width 48 = W: the whole ring, starting at channel 32
    channels = (32 + torch.arange(48)) % 48
    small, big = dict(extract_subnet(net, arch).named_parameters()), dict(net.largest.named_parameters())
    assert torch.equal(small["patch_embed.weight"], big["patch_embed.weight"][channels])
    assert torch.equal(small["blocks.1.mlp.fc1.weight"], big["blocks.1.mlp.fc1.weight"][:144][:, channels])
    assert torch.equal(small["head.weight"], big["head.weight"][:, channels])
    for arch in ARCHS.values():
        x = images()
        torch.testing.assert_close(net(x, arch), extract_and_run(net, Subnet.canonical(arch), x), rtol=0,
                                   atol=1e-10)
    with pytest.raises(ArchitectureError, match="embed_dim 40"):
        net.check(AutoFormerArch(40, 2, (1, 1), (2.0, 2.0)))
