"""The As-ViT-space supernet at C = 8 on 32 px images (token grids 8, 4, 2, 1): the supernet's
subnet forward against the extracted standalone network, the extracted weights as kernel crops and
leading MLP slices checked against their definitions, the crop offset keeping every shared tap on
its input pixel, gradients confined to the crops and slices, and the width/depth check."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from asvit.models.asvit import ASViT
from asvit.space import Topology, TopologyError
from asvit.supernet.asvit import SuperASViT, _skeleton, extract_asvit_subnet, largest_topology

WIDTH, SIZE, CLASSES = 8, 32, 5
# the crop offset o per kernel: the tap of the largest kernel that reads the same input pixel,
# before(Kmax) - before(K) with the layers' padding before = (K - 4) // 2 and (K - 2) // 2
TOKENIZER_OFFSET = {4: 2, 5: 2, 6: 1, 7: 1, 8: 0}
MERGE_OFFSET = {2: 1, 3: 1, 4: 0}

TOPOLOGIES = {
    "smallest": Topology((4, 2, 2, 2), (2, 1, 1, 1), (2, 2, 2, 2), 16, width=WIDTH),
    "largest": largest_topology(WIDTH),
    "maximal": Topology((8, 4, 4, 4), (8, 4, 2, 1), (6, 6, 6, 6), 64, width=WIDTH),
    "mixed-odd": Topology((5, 3, 2, 4), (4, 2, 1, 1), (3, 6, 2, 5), 32, width=WIDTH),
    "mixed-seven": Topology((7, 4, 3, 3), (8, 1, 2, 1), (5, 2, 4, 3), 64, width=WIDTH),
}


def supernet() -> SuperASViT:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = SuperASViT(WIDTH, num_classes=CLASSES).to(torch.float64).eval()
    with torch.no_grad():  # biases and norms start at 0 and 1: perturb them so cropping them matters
        for name, param in net.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    return net


def images() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_largest_topology_takes_every_largest_kernel_and_expansion():
    top = largest_topology(16)
    assert top.kernels == (8, 4, 4, 4) and top.expansions == (6, 6, 6, 6)
    assert top.depths == (1, 1, 1, 1) and top.width == 16


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_supernet_forward_equals_the_extracted_subnet(name):
    net, x = supernet(), images()
    subnet = extract_asvit_subnet(net, TOPOLOGIES[name])
    assert isinstance(subnet, ASViT) and not subnet.training
    assert subnet.head_norm.weight.dtype == torch.float64
    with torch.no_grad():
        expected = subnet(x)
        got = net(x, TOPOLOGIES[name])
    assert got.shape == (2, CLASSES)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_every_maximal_choice_gives_the_largest_networks_exact_output():
    net, x = supernet(), images()
    with torch.no_grad():
        assert torch.equal(net(x, largest_topology(WIDTH)), net.largest(x))
        maximal = ASViT(TOPOLOGIES["maximal"], CLASSES).to(torch.float64).eval()
        maximal.load_state_dict(net.largest.state_dict(), strict=True)  # splits and heads own no weights
        assert torch.equal(net(x, TOPOLOGIES["maximal"]), maximal(x))


@pytest.mark.parametrize("name", ["smallest", "mixed-odd", "mixed-seven"])
def test_extracted_weights_are_the_kernel_crops_and_leading_slices(name):
    net, topology = supernet(), TOPOLOGIES[name]
    big = dict(net.largest.named_parameters())
    small = dict(extract_asvit_subnet(net, topology).named_parameters())
    assert sorted(small) == sorted(big)
    widths, expected = topology.widths, dict(big)  # whole unless cropped or sliced below
    k, o = topology.kernels[0], TOKENIZER_OFFSET[topology.kernels[0]]
    expected["tokenizer.conv.weight"] = big["tokenizer.conv.weight"][:, :, o:o + k, o:o + k]
    for i in range(1, 4):  # channel-major merge features c K^2 + i K + j, built tap by tap
        p, k, c_in = f"stages.{i}.0.", topology.kernels[i], widths[i - 1]
        o = MERGE_OFFSET[k]
        index = torch.tensor([c * 16 + (a + o) * 4 + (b + o)
                              for c in range(c_in) for a in range(k) for b in range(k)])
        for norm in ("norm.weight", "norm.bias"):
            expected[p + norm] = big[p + norm][index]
        expected[p + "reduction.weight"] = big[p + "reduction.weight"][:, index]
    for i in range(4):
        p, hidden = f"stages.{i}.1.mlp.", int(widths[i] * topology.expansions[i])
        expected[p + "fc1.weight"] = big[p + "fc1.weight"][:hidden]
        expected[p + "fc1.bias"] = big[p + "fc1.bias"][:hidden]
        expected[p + "fc2.weight"] = big[p + "fc2.weight"][:, :hidden]
    for name_, value in expected.items():
        assert small[name_].shape == value.shape, name_
        assert torch.equal(small[name_], value), name_
        assert small[name_].data_ptr() != big[name_].data_ptr(), name_  # copies, not shared storage


@pytest.mark.parametrize("kernels", [(4, 2, 3, 4), (5, 3, 2, 2), (6, 4, 4, 3), (7, 2, 2, 2)])
def test_a_crop_keeps_every_shared_tap_on_its_input_pixel(kernels):
    # zeroing the largest kernel outside the crop makes the largest layer compute the cropped one
    net = supernet()
    topology = Topology(kernels, (2, 1, 1, 1), (2, 2, 2, 2), 16, width=WIDTH)
    subnet = extract_asvit_subnet(net, topology)
    x = torch.randn(2, 3, SIZE, SIZE, dtype=torch.float64)
    big = copy.deepcopy(net.largest.tokenizer)
    k, o = kernels[0], TOKENIZER_OFFSET[kernels[0]]
    with torch.no_grad():
        mask = torch.zeros_like(big.conv.weight)
        mask[:, :, o:o + k, o:o + k] = 1
        big.conv.weight.mul_(mask)
        torch.testing.assert_close(big(x), subnet.tokenizer(x), rtol=0, atol=1e-12)
    for i in range(1, 4):  # the merge windows, without the LayerNorm that mixes the taps
        big, small = copy.deepcopy(net.largest.stages[i][0]), subnet.stages[i][0]
        big.norm = small.norm = nn.Identity()
        tokens = torch.randn(2, 8, 8, topology.widths[i - 1], dtype=torch.float64)
        k, o = kernels[i], MERGE_OFFSET[kernels[i]]
        with torch.no_grad():
            weight = big.reduction.weight.view(topology.widths[i], -1, 4, 4)
            mask = torch.zeros_like(weight)
            mask[..., o:o + k, o:o + k] = 1
            weight.mul_(mask)
            torch.testing.assert_close(big(tokens), small(tokens), rtol=0, atol=1e-12)


def test_gradients_stay_inside_the_crops_and_slices():
    net = supernet()
    topology = Topology((4, 2, 3, 4), (2, 1, 1, 1), (2, 3, 6, 4), 32, width=WIDTH)
    net(images(), topology).square().sum().backward()
    big = net.largest
    conv = big.tokenizer.conv.weight.grad  # (8, 3, 8, 8); K1 = 4 uses [2:6, 2:6]
    assert conv[:, :, 2:6, 2:6].abs().min() > 0
    conv[:, :, 2:6, 2:6] = 0
    assert (conv == 0).all()
    merge = big.stages[1][0]  # K2 = 2 uses the inner 2 x 2 of the 4 x 4 window: the outer ring gets 0
    for grad in (merge.reduction.weight.grad.view(16, 8, 4, 4), merge.norm.weight.grad.view(8, 4, 4),
                 merge.norm.bias.grad.view(8, 4, 4)):
        assert grad[..., 1:3, 1:3].abs().min() > 0
        ring = grad.clone()
        ring[..., 1:3, 1:3] = 0
        assert (ring == 0).all()
    assert big.stages[3][0].reduction.weight.grad.abs().amax(dim=0).min() > 0  # K4 = 4: every tap
    mlp = big.stages[0][1].mlp  # E1 = 2 at width 8: 16 of the 48 hidden units
    assert (mlp.fc1.weight.grad[:16].abs().amax(dim=1) > 0).all() and (mlp.fc1.weight.grad[16:] == 0).all()
    assert (mlp.fc1.bias.grad[:16] != 0).all() and (mlp.fc1.bias.grad[16:] == 0).all()
    fc2 = mlp.fc2.weight.grad
    assert (fc2[:, :16].abs().amax(dim=0) > 0).all() and (fc2[:, 16:] == 0).all()
    qkv = big.stages[0][1].attn.qkv.weight.grad  # heads re-split the whole q/k/v
    assert (qkv.abs().amax(dim=1) > 0).all()


@pytest.mark.parametrize("topology, field", [
    (Topology((4, 2, 2, 2), (2, 1, 1, 1), (2, 2, 2, 2), 16, width=16), "width"),
    (Topology((4, 2, 2, 2), (2, 1, 1, 1), (2, 2, 2, 2), 16, depths=(1, 2, 1, 1), width=WIDTH), "depths"),
])
def test_another_width_or_depth_is_rejected_by_field(topology, field):
    net = SuperASViT(WIDTH, num_classes=CLASSES)
    with pytest.raises(TopologyError, match=field):
        net.check(topology)
    with pytest.raises(TopologyError, match=field):
        net(torch.zeros(1, 3, SIZE, SIZE), topology)
    with pytest.raises(TopologyError, match=field):
        extract_asvit_subnet(net, topology)


def test_a_width_whose_qkv_would_depend_on_the_heads_is_rejected():
    with pytest.raises(TopologyError, match="C = 12"):
        SuperASViT(12, num_classes=CLASSES)


@pytest.mark.parametrize("training", [True, False])
def test_the_subnet_follows_the_supernets_train_mode(training):
    net, topology = supernet().train(training), TOPOLOGIES["mixed-odd"]
    assert extract_asvit_subnet(net, topology).training is training
    net(images(), topology)
    skeleton = _skeleton(topology, CLASSES, 3)  # the cached meta-device module forward ran
    assert all(module.training is training for module in skeleton.modules())
    assert {p.device.type for p in skeleton.parameters()} == {"meta"}
