from pathlib import Path

import pytest
import yaml

from asvit.config import ConfigError, load_params, parse_params
from asvit.proxies import PROXIES, register
from asvit.tracking import flatten
from asvit.validation import live_registries, validate_params

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", ["params.yaml", "configs/paper.yaml"])
def test_the_shipped_profiles_are_valid(path):
    params = validate_params(ROOT / path)
    assert params.proxy.image_size % 32 == 0


def test_an_empty_file_gives_the_values_of_params_yaml(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert load_params(tmp_path / "empty.yaml") == load_params(ROOT / "params.yaml")
    assert parse_params({}).proxy.repeats == 3


def test_the_paper_profile_states_every_key_of_params_yaml():
    params = flatten(yaml.safe_load((ROOT / "params.yaml").read_text()))
    paper = flatten(yaml.safe_load((ROOT / "configs/paper.yaml").read_text()))
    assert sorted(set(params) - set(paper)) == []
    loaded = validate_params(ROOT / "configs/paper.yaml")
    assert (loaded.proxy.image_size, loaded.grow.targets, loaded.data.num_classes) == (224, [80_000_000], 1000)


@pytest.mark.parametrize("data, message", [
    ({"proxy": {"repeat": 3}}, "proxy.repeat: unknown key"),
    ({"nonsense": {}}, "nonsense: unknown key"),
    ({"proxy": {"repeats": "many"}}, "proxy.repeats: Input should be a valid integer"),
    ({"proxy": {"repeats": 0}}, "proxy.repeats: Input should be greater than or equal to 1 (got 0)"),
    ({"proxy": {"image_size": 100}}, "proxy.image_size: Input should be a multiple of 32"),
    ({"proxy": {"names": ["ntk_cond", "magic"]}},
     "proxy.names: Value error, unknown proxy 'magic'; allowed: length_distortion"),
    ({"space": {"name": "nasbench"}}, "space.name: Value error, unknown space 'nasbench'; allowed: asvit, autoformer-"),
    ({"sample": {"count": -1}}, "sample.count: Input should be greater than or equal to 1"),
    ({"data": {"shape_size": [0.3, 0.2]}}, "data.shape_size: Value error, need 0 < low <= high <= 0.5"),
    (["a list"], "the top level must be a mapping"),
    ({"space": {"autoformer_embedded": {"heads": [2, 2]}}},
     "space.autoformer_embedded.heads: Value error, expected distinct choices above 0"),
    ({"space": {"name": "autoformer-embedded", "autoformer_embedded": {"patch_size": 6}}},
     "data.image_size: 32 px is not a multiple of the patch size 6 of space 'autoformer-embedded'"),
    ({"space": {"name": "autoformer-embedded", "autoformer_embedded": {"patch_size": 64}},
      "proxy": {"image_size": 96}, "data": {"image_size": 64},
      "supernet": {"heldout": 10}}, "proxy.image_size: 96 px is not a multiple of the patch size"),
    ({"supernet": {"heldout": 2000}}, "supernet.heldout: 2000 held-out images leave none of the 2000 training"),
    ({"supernet": {"evolution": {"parents": 60}}}, "supernet.evolution.parents (60) exceeds the population (50)"),
    ({"supernet": {"evolution": {"min_params": 10, "max_params": 5}}}, "supernet.evolution.min_params (10) exceeds"),
    ({"supernet": {"vitas": {"cyclic": True}}}, "supernet.vitas.cyclic: unknown key"),
    ({"space": {"name": "autoformer-tiny"}, "grow": {"seed_file": "artifacts/supernet_seed.json"}},
     "grow.seed_file: the supernet of space 'autoformer-tiny' evolves AutoFormer-space networks"),
    ({"outcome": {"methods": ["random"]}},
     "grow.seed_file: no stage writes 'artifacts/seeds/predictor-reinforce.json'; expected "
     "artifacts/supernet_seed.json or artifacts/seeds/<objective>-<method>.json of outcome.objectives (asvit, "
     "rank_aggregate, predictor) and "
     "outcome.methods (random)"),
    ({"outcome": {"objectives": ["asvit", "asvit"]}}, "outcome.objectives: Value error, a name is listed twice"),
    ({"space": {"name": "autoformer-embedded"}},
     "outcome.objectives: the predictor objective scores As-ViT topologies with the ranker fitted on the sampled "
     "architectures, which in space 'autoformer-embedded' are not As-ViT topologies; drop predictor"),
    ({"outcome": {"objectives": []}}, "outcome.objectives: List should have at least 1 item"),
    ({"outcome": {"family": ["deit"]}, "train": {"models": ["asvit-g00"]}},
     "outcome.family: a front needs at least two trained members, train.models has 1"),
    ({"outcome": {"family": ["uniform"], "objectives": ["asvit"]}, "space": {"name": "autoformer-embedded"},
      "grow": {"seed_file": "artifacts/seeds/asvit-reinforce.json"}, "train": {"models": ["asvit-g00", "asvit-g01"]}},
     "outcome.family: space 'autoformer-embedded' has no scaling rule"),
    ({"outcome": {"family": ["deit", "deit"]}}, "outcome.family: Value error, a name is listed twice"),
    ({"detect": {"pretrained": False}}, "detect.pretrained: unknown key"),
    ({"sample": {"labels": "clustered"}}, "sample.labels: Input should be 'random' or 'diverse'"),
    ({"predictor": {"curve": [1, 8]}}, "predictor.curve.0: Input should be greater than or equal to 2"),
    ({"sample": {"count": 16}}, "predictor.curve: [16, 24] labelled architectures leave none of the 16 sampled"),
    ({"detect": {"controls": ["scratch", "scratch"]}}, "detect.controls: Value error, a name is listed twice"),
])
def test_invalid_params_name_the_full_key(data, message):
    with pytest.raises(ConfigError) as error:
        parse_params(data, "params.yaml", live_registries())
    assert message in str(error.value)


@pytest.mark.parametrize("data, message", [
    ({"train": {"lr": float("inf")}}, "train.lr: Input should be a finite number (got inf)"),
    ({"train": {"min_lr": float("inf")}}, "train.min_lr: Input should be a finite number (got inf)"),
    ({"executor": {"connect_timeout": float("inf")}}, "executor.connect_timeout: Input should be a finite number"),
    ({"grow": {"width_ratios": [float("nan")]}}, "grow.width_ratios.0: Input should be a finite number (got nan)"),
    ({"kendall": {"top_k": [0]}}, "kendall.top_k.0: Input should be greater than or equal to 1 (got 0)"),
    ({"kendall": {"top_k": [5, -5]}}, "kendall.top_k.1: Input should be greater than or equal to 1 (got -5)"),
    ({"kendall": {"top_k": [33]}}, "kendall.top_k: [33] exceed the 32 sampled architectures (sample.count)"),
])
def test_numbers_are_finite_and_top_k_within_the_sample(data, message):
    with pytest.raises(ConfigError) as error:
        parse_params(data, "params.yaml")
    assert message in str(error.value)


def test_a_key_written_twice_is_an_error_naming_it_and_its_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 1.0e-3\n  epochs: 3\n  lr: 2.0e-3\n")
    with pytest.raises(ConfigError, match=r"^.*params.yaml: not valid YAML \(line 4\): duplicate key 'lr'$"):
        load_params(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("proxy: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(broken)
    broken.write_text(yaml.safe_dump({"proxy": {"batch_size": 1}}))
    with pytest.raises(ConfigError, match="proxy.batch_size"):
        load_params(broken)


def test_the_rank_aggregate_names_measured_proxies():
    assert parse_params({}).predictor.aggregate == ["length_distortion", "ntk_cond", "flops"]
    with pytest.raises(ConfigError, match=r"^params: Value error, predictor.aggregate: macs not in proxy.names"):
        parse_params({"predictor": {"aggregate": ["macs"]}, "proxy": {"names": ["flops"]}})
    with pytest.raises(ConfigError, match="predictor.aggregate: .*unknown proxy 'nope'"):
        parse_params({"predictor": {"aggregate": ["nope"]}}, registries=live_registries())


@pytest.mark.parametrize("key, name, kind", [
    ("space.name", "nasbench", "space"), ("data.source", "mnist", "data source"),
    ("proxy.names", "magic", "proxy"), ("outcome.methods", "bayes", "search method"),
    ("outcome.objectives", "accuracy", "search objective"), ("outcome.references", "vgg", "reference"),
    ("grow.tie_break", "coin", "tie break"),
    ("predictor.regressor", "mlp", "regressor"), ("predictor.regressor", "lasso", "regressor"),
    ("detect.detector", "yolo", "detector"),
    ("outcome.family", "efficientnet", "baseline family"), ("detect.controls", "imagenet", "detection control"),
])
def test_every_name_is_checked_against_its_live_registry(key, name, kind):
    group, field = key.split(".")
    data = {group: {field: [name] if key in ("proxy.names", "outcome.methods", "outcome.objectives",
                                             "outcome.references", "outcome.family", "detect.controls") else name}}
    if key == "proxy.names":
        data["predictor"] = {"aggregate": [name]}
    if group == "outcome":  # the grown seed must be one that the listed searches write
        data["grow"] = {"seed_file": "artifacts/supernet_seed.json"}
    if key == "outcome.family":  # a front needs two trained members
        data["train"] = {"models": ["asvit-g00", "asvit-g01"]}
    allowed = ", ".join(live_registries()[kind])
    with pytest.raises(ConfigError, match=f"{key}: Value error, unknown {kind} '{name}'; allowed: {allowed}"):
        parse_params(data, registries=live_registries())
    parse_params(data)  # the schema alone leaves names to the registries


def test_a_newly_registered_proxy_is_a_valid_name():
    with pytest.raises(ConfigError, match="unknown proxy 'zeros'"):
        parse_params({"proxy": {"names": ["zeros"]}, "predictor": {"aggregate": ["zeros"]}},
                     registries=live_registries())
    register("zeros", higher_is_better=True, stochastic=False)(lambda network, inputs: 0.0)
    try:
        params = parse_params({"proxy": {"names": ["zeros"]}, "predictor": {"aggregate": ["zeros"]}},
                              registries=live_registries())
        assert params.proxy.names == ["zeros"]
    finally:
        del PROXIES["zeros"]


@pytest.mark.parametrize("path", ["params.yaml", "configs/paper.yaml"])
def test_every_key_a_stage_reads_is_in_the_params_file(path):
    params = yaml.safe_load((ROOT / path).read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    keys = [key for stage in stages.values() for key in stage.get("params", []) if isinstance(key, str)]
    assert keys
    for key in keys:
        value = params
        for part in key.split("."):
            assert isinstance(value, dict) and part in value, f"{path} has no {key}, which dvc.yaml reads"
            value = value[part]
