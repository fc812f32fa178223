import math

import pytest
import torch
from torch import nn

from asvit.deploy import LatencySettings
from asvit.models import ASViT, build_network
from asvit.models.counting import count_flops
from asvit.proxies import PROXIES, BadTopology, ProxyInputs, register
from asvit.registry import UnknownName
from asvit.proxies.expressivity import length_distortion, without_layernorm
from asvit.proxies.reference import length_distortion_reference, ntk_condition_number_reference, ntk_gradients_reference
from asvit.proxies.saliency import absolute_weights, dss, synflow
from asvit.proxies.scoring import ScoreSettings, score_network
from asvit.proxies.trainability import (PooledFeatures, condition_number, ntk_condition_number,
                                        per_sample_weight_gradients)
from asvit.space import AutoFormerArch, Topology

SIZE = 32


@pytest.fixture
def inputs() -> ProxyInputs:
    return ScoreSettings(image_size=SIZE, batch_size=6).inputs()


@pytest.mark.parametrize("text", ["8,2,3|4,1,2|4,1,4|4,1,6|32", "4,8,6|3,4,2|2,2,5|4,1,3|16"])
def test_jvp_length_distortion_equals_per_coordinate_definition(text, inputs):
    topology = Topology.parse(text).scaled(width=8)
    torch.manual_seed(3)
    fast = length_distortion(ASViT(topology), inputs)
    torch.manual_seed(3)
    reference = length_distortion_reference(ASViT(topology), SIZE)
    assert fast > 0
    assert abs(fast - reference) / reference < 1e-4


def test_length_distortion_runs_without_layernorm(tiny_topology, inputs):
    model = without_layernorm(ASViT(tiny_topology))
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())


def test_batched_ntk_equals_per_sample_loop(tiny_topology, inputs):
    model = ASViT(tiny_topology)
    batched = per_sample_weight_gradients(PooledFeatures(model), inputs.images)
    looped = ntk_gradients_reference(model, inputs.images)
    torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-5)
    torch.manual_seed(1)
    fast = ntk_condition_number(ASViT(tiny_topology), inputs)
    torch.manual_seed(1)
    reference = ntk_condition_number_reference(ASViT(tiny_topology), inputs.images)
    assert fast == pytest.approx(reference, rel=1e-4)
    assert fast >= 1


def test_ntk_on_autoformer_vit(inputs):
    arch = AutoFormerArch(embed_dim=32, depth=2, num_heads=(1, 2), mlp_ratio=(2.0, 3.0))
    model = build_network(arch, num_classes=5, image_size=SIZE)
    batched = per_sample_weight_gradients(PooledFeatures(model), inputs.images)
    torch.testing.assert_close(batched, ntk_gradients_reference(model, inputs.images), rtol=1e-4, atol=1e-5)


def test_condition_number_marks_singular_and_nonfinite_kernels_bad():
    assert condition_number(torch.diag(torch.tensor([4.0, 2.0, 1.0]))) == pytest.approx(4.0)
    g = torch.ones(3, 5)
    with pytest.raises(BadTopology, match="singular"):
        condition_number(g @ g.T)
    with pytest.raises(BadTopology, match="non-finite"):
        condition_number(torch.tensor([[1.0, math.nan], [math.nan, 1.0]]))


def test_flops_of_a_linear_layer_count_multiply_accumulates_twice():
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * SIZE * SIZE, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    assert count_flops(Flat(), SIZE) == 2 * 3 * SIZE * SIZE * 10


def test_synflow_equals_its_definition_on_a_two_layer_network():
    """With |W| and a ones input, R = 1^T |W2| |W1| 1 and synflow = sum |w * dR/dw|, which for a
    bias-free two-layer linear network is 2 R (each layer's saliency sums to R)."""

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3 * SIZE * SIZE, 4, bias=False)
            self.b = nn.Linear(4, 2, bias=False)

        def forward(self, x):
            return self.b(self.a(x.flatten(1)))

    model = TwoLayer()
    w1, w2 = model.a.weight.detach().abs().double(), model.b.weight.detach().abs().double()
    total = (w2 @ w1 @ torch.ones(3 * SIZE * SIZE, dtype=torch.float64)).sum().item()
    score = synflow(model, ProxyInputs(SIZE, torch.empty(0)))
    assert score == pytest.approx(2 * total, rel=1e-9)


def test_saliency_proxies_restore_weight_signs(tiny_topology, inputs):
    model = ASViT(tiny_topology)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with absolute_weights(model):
        assert all((p >= 0).all() for p in model.parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name])
    assert dss(ASViT(tiny_topology), inputs) > 0


def test_score_network_records_bad_proxies_instead_of_raising(tiny_topology):
    @register("always_nan", higher_is_better=True, stochastic=True)
    def always_nan(model, inputs):
        raise BadTopology("NaN")

    try:
        settings = ScoreSettings(image_size=SIZE, batch_size=4, repeats=2)
        result = score_network(lambda: ASViT(tiny_topology), ["always_nan", "params"], settings)
        assert result.bad == ["always_nan"]
        assert math.isnan(result.values["always_nan"])
        assert result.values["params"] == sum(p.numel() for p in ASViT(tiny_topology).parameters())
    finally:
        del PROXIES["always_nan"]


def test_stochastic_proxies_average_over_fresh_networks(tiny_topology, inputs):
    settings = ScoreSettings(image_size=SIZE, batch_size=6, repeats=3, seed=5)
    result = score_network(lambda: ASViT(tiny_topology), ["length_distortion"], settings, inputs)
    values = []
    for repeat in range(3):
        torch.manual_seed(5 + repeat)
        values.append(length_distortion(ASViT(tiny_topology), inputs))
    assert result.values["length_distortion"] == pytest.approx(sum(values) / 3)
    assert len(set(values)) == 3


def test_every_registered_proxy_gives_a_finite_value(tiny_topology):
    settings = ScoreSettings(image_size=SIZE, batch_size=4, repeats=1, latency=LatencySettings(image_size=SIZE))
    result = score_network(lambda: ASViT(tiny_topology), list(PROXIES), settings)
    assert result.bad == []
    assert all(math.isfinite(v) for v in result.values.values())
    assert result.values["flops"] == 2 * result.values["macs"]


def test_unknown_proxy_is_a_clear_error(tiny_topology):
    with pytest.raises(UnknownName, match="unknown proxy 'nope'; allowed: length_distortion"):
        score_network(lambda: ASViT(tiny_topology), ["nope"], ScoreSettings(image_size=SIZE))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from asvit.data import prepare_classification

    out = tmp_path_factory.mktemp("cls")
    prepare_classification("generated", out, image_size=16, seed=0, num_classes=3, train_size=24, val_size=6)
    return out


def test_the_ntk_batch_is_drawn_from_the_training_images_normalised_and_resized(prepared):
    from asvit.data import dataset_info, open_classification

    settings = ScoreSettings(image_size=SIZE, batch_size=5, seed=2).from_images(prepared)
    batch = settings.inputs().images
    train, info = open_classification(prepared, "train"), dataset_info(prepared)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(2))[:5]
    raw = torch.stack([train.images[int(i)] for i in order]).float() / 255  # the stored uint8 images
    mean, std = torch.tensor(info["mean"]).view(1, 3, 1, 1), torch.tensor(info["std"]).view(1, 3, 1, 1)
    expected = torch.nn.functional.interpolate((raw - mean) / std, size=SIZE, mode="bilinear", antialias=True)
    assert batch.shape == (5, 3, SIZE, SIZE) and torch.allclose(batch, expected, atol=1e-6)
    noise = ScoreSettings(image_size=SIZE, batch_size=5, seed=2).inputs().images
    assert not torch.allclose(batch, noise, atol=0.1)
    assert ScoreSettings(image_size=SIZE, batch_size=5, seed=3).from_images(prepared).inputs().images.ne(batch).any()


def test_the_settings_carry_the_data_digest_so_new_data_starts_a_new_table(prepared, tmp_path):
    from asvit.data import prepare_classification

    first = ScoreSettings(image_size=SIZE, batch_size=4).from_images(prepared)
    other = tmp_path / "cls"
    prepare_classification("generated", other, image_size=16, seed=1, num_classes=3, train_size=24, val_size=6)
    moved = ScoreSettings(image_size=SIZE, batch_size=4).from_images(other)
    assert first.images_digest != moved.images_digest and len(first.images_digest) == 16
    assert ScoreSettings(image_size=SIZE, batch_size=4).from_images(prepared) == first


def test_too_few_or_missing_images_are_named_before_any_measurement(prepared, tmp_path):
    from asvit.data import DataError

    with pytest.raises(DataError, match="a batch of 30 train images, the split has 24"):
        ScoreSettings(image_size=SIZE, batch_size=30).from_images(prepared)
    with pytest.raises(DataError, match="run the `data` stage"):
        ScoreSettings(image_size=SIZE, batch_size=4).from_images(tmp_path / "nothing")


def test_the_ntk_condition_number_reads_the_data_batch(prepared, tiny_topology):
    data = ScoreSettings(image_size=SIZE, batch_size=4, repeats=1).from_images(prepared)
    noise = ScoreSettings(image_size=SIZE, batch_size=4, repeats=1)
    values = [score_network(lambda: ASViT(tiny_topology), ["ntk_cond"], s).values["ntk_cond"] for s in (data, noise)]
    assert all(v > 1 for v in values) and values[0] != pytest.approx(values[1], rel=1e-3)
