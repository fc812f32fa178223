import re

import pytest
import torch

from asvit.errors import AsvitError
from asvit.models import DeiTArch, ResNetArch, build_network
from asvit.outcome.references import PAPER_SEED, REFERENCES, deit_at, deit_patch_size, macs_of, resnet_at
from asvit.space import Topology

DEIT_TINY = DeiTArch(16, 192, 12, 3)
RESNET_18 = ResNetArch((2, 2, 2, 2), (64, 128, 256, 512))


@pytest.mark.parametrize("name", ["deit", "resnet"])
@pytest.mark.parametrize("target", [1_500_000, 3_000_000, 8_000_000])
def test_a_reference_lands_within_ten_percent_of_the_target(name, target):
    arch = REFERENCES.lookup(name)(target, 32, 10)
    assert macs_of(arch, 32, 10) == pytest.approx(target, rel=0.10)


def test_the_paper_seed_is_the_published_topology_whatever_the_target():
    assert REFERENCES.lookup("asvit_paper")(3_000_000, 32, 10) == Topology.parse(PAPER_SEED)


@pytest.mark.parametrize("image_size, patch", [(32, 4), (64, 8), (96, 8), (100, 4), (224, 16)])
def test_deit_patches_are_the_largest_power_of_two_dividing_the_side_at_most_an_eighth(image_size, patch):
    assert deit_patch_size(image_size) == patch


def test_deit_patch_size_follows_the_image():
    assert deit_at(3_000_000, 32, 10).patch_size == 4
    assert deit_at(1_300_000_000, 224, 1000).patch_size == 16


@pytest.mark.parametrize("arch, match", [(DEIT_TINY, deit_at), (RESNET_18, resnet_at)])
def test_the_rules_give_deit_tiny_and_resnet_18_at_their_own_macs(arch, match):
    assert match(macs_of(arch, 224, 1000), 224, 1000) == arch


def test_published_sizes():
    # DeiT-Ti: 1.3 GMACs in the DeiT paper (1.26G unrounded); ResNet-18: 1.8 GMACs, 11.69M parameters
    assert macs_of(DEIT_TINY, 224, 1000) == pytest.approx(1.26e9, rel=0.01)
    assert macs_of(RESNET_18, 224, 1000) == pytest.approx(1.82e9, rel=0.01)
    assert sum(p.numel() for p in build_network(RESNET_18).parameters()) == 11_689_512


def test_deit_macs_match_a_hand_count():
    arch, image_size, classes = DeiTArch(patch_size=4, embed_dim=48, depth=2, heads=3, mlp_ratio=4.0), 32, 10
    patches = (image_size // arch.patch_size) ** 2
    tokens, width = patches + 1, arch.embed_dim
    embedding = patches * 3 * arch.patch_size ** 2 * width
    linears = tokens * width * (3 * width + width + 2 * int(arch.mlp_ratio * width))  # qkv, proj, fc1, fc2
    attention = 2 * tokens * tokens * width  # q k^T and attn v, over all heads
    expected = embedding + arch.depth * (linears + attention) + width * classes
    assert macs_of(arch, image_size, classes) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("arch", [DEIT_TINY, DeiTArch(4, 48, 6, 3, 3.5), RESNET_18,
                                  ResNetArch((1, 1, 1, 1), (16, 32, 64, 128))])
def test_text_round_trip(arch):
    assert type(arch).parse(str(arch)) == arch
    assert str(type(arch).parse(str(arch))) == str(arch)


def test_text_forms():
    assert str(DeiTArch(4, 48, 6, 3)) == "deit:p4,e48,d6,h3,r4.0"
    assert str(ResNetArch((1, 1, 1, 1), (16, 32, 64, 128))) == "resnet:l1-1-1-1,c16-32-64-128"


@pytest.mark.parametrize("cls, text", [
    (DeiTArch, "deit:p4,e48,d6,h3"),
    (DeiTArch, "deit:p4,e48,d6,h3,r4.0,x"),
    (DeiTArch, "resnet:l1-1-1-1,c16-32-64-128"),
    (DeiTArch, "deit:p4,e50,d6,h3,r4.0"),  # 50 does not split over 3 heads
    (DeiTArch, "deit:p0,e48,d6,h3,r4.0"),
    (ResNetArch, "resnet:l1-1-1,c16-32-64"),  # three stages
    (ResNetArch, "resnet:l1-1-1-1,c16-32-64"),
    (ResNetArch, "resnet:l1-0-1-1,c16-32-64-128"),
    (ResNetArch, "resnet:c16-32-64-128"),
])
def test_malformed_text_is_named(cls, text):
    with pytest.raises(AsvitError, match=re.escape(text)):
        cls.parse(text)


@pytest.mark.parametrize("name", ["deit", "resnet"])
def test_build_network_builds_a_reference(name):
    arch = REFERENCES.lookup(name)(3_000_000, 32, 10)
    model = build_network(arch, num_classes=10, image_size=32)
    assert model.arch == arch
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", ["deit", "resnet"])
def test_an_unreachable_target_is_named(name):
    with pytest.raises(AsvitError, match=r"within 10% of 10 MACs at 32 px: the nearest, .* has [\d,]+ MACs"):
        REFERENCES.lookup(name)(10, 32, 10)


def test_matching_draws_no_random_numbers():
    state = torch.get_rng_state()
    for match in REFERENCES.values():
        match(2_000_000, 32, 10)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_deit_patch_must_tile_the_image():
    with pytest.raises(AsvitError, match="not a multiple of the patch size 16"):
        build_network(DeiTArch(16, 48, 2, 3), num_classes=10, image_size=40)
