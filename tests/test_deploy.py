"""Deployment: latency as a property of the network (deeper is slower), the latency proxy and its
settings, latency and MAC budgets for the family, the latency limit of the search, the ONNX export
against PyTorch, and the errors of bad hardware settings before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import asvit
from asvit.config import ConfigError, GrowParams, SearchParams, parse_params
from asvit.deploy import DeviceError, Latency, LatencySettings, measure_latency
from asvit.deploy.export import export_onnx, onnx_latency, verify_export
from asvit.executor import Engine
from asvit.models import ASViT
from asvit.proxies import get_proxy
from asvit.proxies.scoring import ScoreJob, ScoreSettings, score_network, score_records
from asvit.scaling import TARGET_REACHED, Member, assign_targets, grow_family
from asvit.search.runner import run_search
from asvit.space import Topology
from asvit.validation import validation_context

from .test_grow import SEED, Table
from .test_search import FakeScorer

SETTINGS = LatencySettings(image_size=32)


def conv_stack(layers: int) -> nn.Module:
    """``layers`` 3x3 convolutions of 32 channels at full resolution: time grows with ``layers``."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), *[nn.Conv2d(32, 32, 3, padding=1) for _ in range(layers)])


def test_a_network_four_times_as_deep_is_slower():
    shallow, deep = measure_latency(conv_stack(4), SETTINGS), measure_latency(conv_stack(16), SETTINGS)
    assert deep.median_ms > shallow.median_ms > 0
    assert shallow.iqr_ms >= 0 and shallow.calls >= 1


def test_timing_restores_the_threads_and_the_training_mode():
    model, threads = conv_stack(1).train(), torch.get_num_threads()
    measure_latency(model, LatencySettings(threads=2, image_size=32))
    assert model.training and torch.get_num_threads() == threads


@pytest.mark.parametrize("device, message", [
    ("tpu", "'tpu' is not a device: expected cpu, cuda or cuda:N"),
    ("cuda:99", "cuda:99 is unreachable: this machine has"),
])
def test_a_bad_or_unreachable_device_is_one_clear_line(device, message):
    with pytest.raises(DeviceError) as error:
        LatencySettings(device).torch_device()
    assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError) as error:  # the validate stage: before any stage runs
        parse_params({"hardware": {"device": device}, "grow": {"budget": "latency_ms", "targets": [5.0]}},
                     "params.yaml", validation_context())
    assert f"params.yaml: hardware.device: Value error, {message}" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("data, message", [
    ({"grow": {"targets": [2e6, 1e6]}}, "grow.targets: Value error, expected positive targets in strictly increasing"),
    ({"grow": {"targets": [1e6, 1e6]}}, "grow.targets: Value error, expected positive targets in strictly increasing"),
    ({"grow": {"targets": [0.0]}}, "grow.targets: Value error, expected positive targets"),
    ({"grow": {"targets": [2e7]}}, "grow.targets: Value error, the largest, 20000000 parameters, exceeds grow.max_"),
    ({"grow": {"budget": "seconds"}}, "grow.budget: Input should be 'params', 'macs' or 'latency_ms'"),
    ({"hardware": {"threads": 0}}, "hardware.threads: Input should be greater than or equal to 1"),
    ({"hardware": {"image_size": 100}}, "hardware.image_size: Input should be a multiple of 32"),
    ({"search": {"max_latency_ms": 0}}, "search.max_latency_ms: Input should be greater than 0"),
    ({"export": {"tolerance": 0}}, "export.tolerance: Input should be greater than 0"),
    ({"proxy": {"names": ["ntk_cond", "flops", "length_distortion", "latency_ms"]}},
     "proxy.names: latency_ms times this machine, so scoring runs alone: set proxy.workers: 1"),
])
def test_bad_deployment_params_name_the_key(data, message):
    with pytest.raises(ConfigError) as error:
        parse_params(data, "params.yaml", validation_context())
    assert message in str(error.value)


def test_a_latency_budget_far_over_the_parameter_limit_is_fine():
    params = GrowParams(budget="latency_ms", targets=[5.0, 10.0, 1e6])  # not parameters: no max_params bound
    assert params.targets == [5.0, 10.0, 1e6]


# --- the proxy ---------------------------------------------------------------------------------

def test_latency_ms_is_a_timed_proxy_lower_is_better_measured_with_the_hardware_settings(tiny_topology):
    proxy = get_proxy("latency_ms")
    assert proxy.timed and not proxy.higher_is_better and not proxy.stochastic
    build = lambda: ASViT(tiny_topology, num_classes=10)  # noqa: E731
    timed = score_network(build, ["latency_ms", "params"], ScoreSettings(image_size=32, latency=SETTINGS))
    assert timed.values["latency_ms"] > 0 and timed.bad == []
    with pytest.raises(ValueError, match="no latency settings"):
        score_network(build, ["latency_ms"], ScoreSettings(image_size=32))


def test_a_timed_proxy_is_never_measured_beside_other_work(tmp_path, tiny_topology):
    settings = ScoreSettings(image_size=32, latency=SETTINGS)
    with pytest.raises(ValueError, match="set proxy.workers: 1 and executor.engine: local"):
        score_records([ScoreJob.of(tiny_topology, settings)], ["latency_ms"], settings, tmp_path / "s.csv",
                      progress=False, engine=Engine.local(2))
    assert not (tmp_path / "s.csv").exists()


# --- budgets -----------------------------------------------------------------------------------

def member(name: str, params: int, latency: float | None = None) -> Member:
    return Member(name, int(name[-2:]), "t", "p", params, 2 * params, 1.0, 1.0, latency)


def test_each_target_names_the_largest_member_within_it():
    family = [member("asvit-g00", 100), member("asvit-g01", 200), member("asvit-g02", 300)]
    named = assign_targets(family, "params", [50, 150, 200, 250, 1000])
    assert [m.targets for m in named] == [(150,), (200, 250), (1000,)]  # 50 is below the seed: none
    by_latency = [member("asvit-g00", 1, 2.0), member("asvit-g01", 2, 5.0), member("asvit-g02", 3, 4.0)]
    assert [m.targets for m in assign_targets(by_latency, "latency_ms", [4.5])] == [(), (), (4.5,)]


def fake_latency(topology: Topology) -> Latency:
    """Milliseconds that grow with the blocks and the width, like a real network's."""
    return Latency(sum(topology.depths) * topology.width / 10, 0.1, 10)


def grow_to(params: GrowParams, **timing):
    return grow_family(SEED, params, Table(), {"fake": True}, 10, progress=False,
                       counters=(Table.params, Table.macs), **timing)


def test_every_member_respects_its_latency_target_by_its_own_measurement():
    targets = [20.0, 30.0, 50.0]
    result = grow_to(GrowParams(budget="latency_ms", targets=targets, max_params=10**9), latency=SETTINGS,
                     time_network=fake_latency)
    assert result.stop_reason == TARGET_REACHED and result.members[-1].latency_ms >= targets[-1]
    assert all(m.latency_ms == fake_latency(Topology.parse(m.topology)).median_ms for m in result.members)
    named = {t: m for m in result.members for t in m.targets}
    assert sorted(named) == targets
    for target, m in named.items():
        assert m.latency_ms <= target
        later = [n for n in result.members if n.step > m.step]
        assert later == [] or later[0].latency_ms > target  # the largest within it


def test_a_params_or_macs_budget_times_nothing_and_stops_at_its_largest_target():
    by_macs = grow_to(GrowParams(budget="macs", targets=[1_000_000, 2_000_000], max_params=10**9))
    assert by_macs.members[-1].macs >= 2_000_000 > by_macs.members[-2].macs
    assert all(m.latency_ms is None for m in by_macs.members)
    assert [t for m in by_macs.members for t in m.targets] == [1_000_000, 2_000_000]


def test_a_latency_budget_needs_hardware_settings():
    with pytest.raises(ValueError, match="grow.budget: latency_ms needs the hardware"):
        grow_to(GrowParams(budget="latency_ms", targets=[10.0]))


def test_the_real_meter_times_the_seed_at_real_width_and_a_target_below_it_names_no_member():
    params = GrowParams(proxy_width=2, budget="latency_ms", targets=[1e-6], max_params=10**9, image_size=32)
    [seed] = grow_to(params, latency=SETTINGS).members  # the seed is over the target: growth stops
    assert seed.latency_ms > 0 and seed.latency_iqr_ms >= 0 and seed.targets == ()


# --- the search's latency limit --------------------------------------------------------------

def test_a_topology_over_the_latency_limit_gets_the_lowest_reward():
    slow = lambda t: t.kernels[0] > 6  # noqa: E731  (a fake limit on one decision)
    result = run_search(SearchParams(steps=40), FakeScorer(), {"fake": True}, progress=False, method="random",
                        too_slow=slow)
    flagged = [r for r in result.history if r["bad"] == "latency_ms"]
    assert flagged and all(slow(Topology.parse(r["topology"])) for r in flagged)
    assert not slow(result.seed_topology)


# --- ONNX --------------------------------------------------------------------------------------

def test_the_onnx_export_matches_pytorch_on_8_images(tmp_path, tiny_topology):
    torch.manual_seed(0)
    model = ASViT(tiny_topology, num_classes=10).eval()
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    images = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    agreement = verify_export(path, model, images)
    assert agreement.images == 8 and agreement.max_abs_diff < 1e-4 and agreement.top1_agreement == 100.0
    assert export_onnx(model, tmp_path / "again.onnx", 64).read_bytes() == path.read_bytes()  # deterministic
    assert str(Path(asvit.__file__).parent).encode() not in path.read_bytes()  # and the same in another clone
    assert onnx_latency(path, LatencySettings(image_size=64, batch_size=2)).median_ms > 0
