"""``params.yaml``, validated before any work: an unknown key, a wrong type or an out-of-range
value stops a stage with an error that names the full key path and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import AsvitError

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(AsvitError):
    """``params.yaml`` is missing, unreadable or invalid."""


class Section(BaseModel):
    """A params group: unknown keys are errors, and so are infinite and NaN numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


SUPERNET_SEED = "artifacts/supernet_seed.json"  # the supernet evolution's best architecture


def registered(kind: str) -> Any:
    """A field validator: the field's name (or each of its names) is in the registry of ``kind``
    (``"proxy"``, ``"detector"``, ...). The registries come in the validation context (see
    :func:`asvit.validation.validate_params`), so this module imports nothing of the library; without
    them, a stage's own registry lookup refuses an unknown name."""

    def check(cls: type, value: str | list[str], info: ValidationInfo) -> str | list[str]:
        registry = (info.context or {}).get(kind)
        for name in [value] if isinstance(value, str) else value:
            problem = registry.problem(name) if registry is not None else None
            if problem:
                raise ValueError(problem)
        return value

    return classmethod(check)


def shape_size_problem(shape_size: tuple[float, float]) -> str | None:
    """Why ``shape_size`` is not a usable radius range (low, high) of the generated shapes, or None
    when it is."""
    low, high = shape_size
    return None if 0 < low <= high <= 0.5 else "need 0 < low <= high <= 0.5 (fractions of the image side)"


class EmbeddedAutoFormerParams(Section):
    """The scaled-down AutoFormer space of ``space.name: autoformer-embedded``: AutoFormer's network
    with a small patch, a narrow per-head q/k/v width and small choice sets, so that its ground
    truth and supernet train on a CPU in minutes."""

    patch_size: int = Field(4, ge=1, description="patch side P in pixels (AutoFormer: 16)")
    head_dim: int = Field(16, ge=1, description="q/k/v width per head d (AutoFormer: 64)")
    embed_dims: list[int] = Field(default_factory=lambda: [32, 48, 64], min_length=1)
    heads: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    mlp_ratios: list[float] = Field(default_factory=lambda: [2.0, 3.0, 4.0], min_length=1)
    depths: list[int] = Field(default_factory=lambda: [2, 3, 4], min_length=1)

    @field_validator("embed_dims", "heads", "mlp_ratios", "depths")
    @classmethod
    def _positive_distinct(cls, values: list[float]) -> list[float]:
        if any(v <= 0 for v in values) or len(set(values)) != len(values):
            raise ValueError("expected distinct choices above 0")
        return values


class SpaceParams(Section):
    """Which search space ``sample`` draws from."""

    name: str = Field("asvit", description="a registered space: asvit | autoformer-embedded | autoformer-tiny | "
                      "autoformer-small | autoformer-base")
    autoformer_embedded: EmbeddedAutoFormerParams = EmbeddedAutoFormerParams()

    _known_space = field_validator("name")(registered("space"))

    @property
    def record_format(self) -> str:
        """The architecture-record format of this space: ``asvit`` or ``autoformer``."""
        return self.name.split("-")[0]


class SampleParams(Section):
    count: int = Field(32, ge=1, description="number of distinct architectures to draw")
    seed: int = 0
    labels: Literal["random", "diverse"] = Field("random", description="random: drawn uniformly; diverse: greedy "
                                                 "k-center over the decisions of 10 x count drawn uniformly")


def at_most(limit: str, key: str) -> Any:
    """A field validator: the field does not exceed the section's earlier field ``limit`` (``key``
    in params.yaml)."""

    def check(cls: type, value: int, info: ValidationInfo) -> int:
        bound = info.data.get(limit)
        if bound is not None and value > bound:
            raise ValueError(f"must not exceed {key} ({bound})")
        return value

    return classmethod(check)


def distinct(names: list[str]) -> list[str]:
    """``names`` if none is listed twice."""
    if len(set(names)) != len(names):
        raise ValueError("a name is listed twice")
    return names


class ProxyParams(Section):
    """How the training-free proxies are measured."""

    names: list[str] = Field(default_factory=lambda: [
        "length_distortion", "ntk_cond", "params", "flops", "macs", "synflow", "dss"], min_length=1)
    image_size: int = Field(64, ge=32, multiple_of=32)
    batch_size: int = Field(16, ge=2, description="images in the NTK batch")
    repeats: int = Field(3, ge=1, description="freshly initialised networks averaged per proxy")
    num_classes: int = Field(10, ge=1)
    seed: int = 0
    inputs: Literal["data", "noise"] = Field("data", description="the NTK batch: training images of data/cls "
                                             "(resized to image_size) or standard-normal noise")
    workers: int = Field(2, ge=1, description="processes measuring proxies in parallel (score, search, grow), "
                         "each with one torch thread; 1 = this process")

    _known_proxies = field_validator("names")(registered("proxy"))
    _distinct = field_validator("names")(classmethod(lambda cls, names: distinct(names)))


class Recipe(Section):
    """A training recipe (docs/design.md section 9): timm AdamW with a per-step cosine schedule and linear
    warm-up, label smoothing, optional Mixup/CutMix, drop path, and progressive re-tokenization at
    ``phase_ends`` (fractions of the epochs where the stride-16 and stride-8 phases end; null = off)."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1, description="global batch: split evenly over the processes")
    optimizer: str = Field("adamw", description="a timm optimizer name")
    lr: float = Field(1e-3, gt=0)
    min_lr: float = Field(1e-5, ge=0)
    warmup_epochs: int = Field(1, ge=0)
    warmup_lr: float = Field(1e-6, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    mixup: float = Field(0.0, ge=0, description="Mixup beta alpha; 0 = off")
    cutmix: float = Field(0.0, ge=0, description="CutMix beta alpha; 0 = off")
    mixup_prob: float = Field(1.0, ge=0, le=1)
    drop_path: float = Field(0.0, ge=0, lt=1)
    grad_clip: float | None = Field(None, gt=0)
    amp: bool = Field(False, description="bfloat16 autocast")
    phase_ends: list[float] | None = None

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        from timm.optim import list_optimizers

        if name.lower() not in list_optimizers():
            raise ValueError(f"unknown timm optimizer {name!r}")
        return name.lower()

    @field_validator("warmup_epochs")
    @classmethod
    def _warmup_within(cls, warmup: int, info: ValidationInfo) -> int:
        epochs = info.data.get("epochs")
        if epochs is not None and warmup >= epochs:
            raise ValueError(f"must be below epochs ({epochs})")
        return warmup

    @field_validator("phase_ends")
    @classmethod
    def _ordered_phases(cls, ends: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if ends is None:
            return None
        if len(ends) != 2 or not all(0 <= f <= 1 for f in ends) or ends[0] > ends[1]:
            raise ValueError("expected two fractions of the epochs in [0, 1] in increasing order "
                             "(ends of the stride-16 and stride-8 phases), or null")
        epochs = info.data.get("epochs")
        if epochs is not None and round(ends[1] * epochs) >= epochs:
            raise ValueError(f"no epoch is left at full tokenization out of {epochs}; lower the second "
                             "fraction or train longer")
        return ends


class TrainParams(Recipe):
    """Which family members the ``train`` stage trains, with one recipe, seed and loader setting."""

    models: list[str] = Field(default_factory=lambda: ["asvit-g00"], min_length=1,
                              description="names in artifacts/family.jsonl")
    seed: int = 0
    workers: int = Field(0, ge=0, description="data-loading processes per training process")

    @field_validator("models")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("a model is listed twice")
        return names

    def recipe(self) -> Recipe:
        return Recipe(**self.model_dump(exclude={"models", "seed", "workers"}))


class EvaluateParams(Section):
    """Classification evaluation of the trained models at the dataset's image size."""

    batch_size: int = Field(256, ge=1)
    throughput_batch: int = Field(32, ge=1, description="images per timed forward pass")
    throughput_iters: int = Field(10, ge=1, description="timed forward passes")
    warmup_iters: int = Field(2, ge=0, description="untimed forward passes first")


class ExportParams(Section):
    """The ``export`` stage: every trained member written to ONNX at ``hardware.image_size`` and checked
    against PyTorch with ONNX Runtime."""

    images: int = Field(32, ge=1, description="validation images both run (resized to hardware.image_size)")
    tolerance: float = Field(1e-4, gt=0, description="largest absolute logit difference allowed; more stops the "
                             "stage")


class SearchParams(Section):
    """The settings every seed search shares (docs/design.md section 7): REINFORCE over the 13
    decisions, or the random or evolutionary baseline, every topology measured on the proxy network
    (C = 32, depth 1 per stage); which objectives and methods run is ``outcome.objectives`` and
    ``outcome.methods``."""

    steps: int = Field(200, ge=1, description="topologies drawn, one per step")
    seed: int = 0
    learning_rate: float = Field(0.08, gt=0, description="REINFORCE: Adam learning rate")
    baseline_momentum: float = Field(0.9, ge=0, lt=1, description="REINFORCE: reward moving-average momentum")
    reward_window: int = Field(20, ge=2, description="last values whose range normalises a metric's change")
    population: int = Field(20, ge=2, description="evolution: population size")
    tournament: int = Field(5, ge=1, description="evolution: members sampled to pick each parent")
    mutation_rate: float = Field(0.1, ge=0, le=1, description="evolution: per-decision resampling probability")
    max_latency_ms: float | None = Field(None, gt=0, description="a topology whose seed network at real width "
                                         "(grow.width_scale * grow.proxy_width) is slower on hardware.* counts as a "
                                         "bad topology; null: no limit")

    _tournament_within_population = field_validator("tournament")(at_most("population", "search.population"))


class GrowParams(Section):
    """The scaling rule (docs/design.md section 8) that grows the seed into the family; parameter limits
    count the real model (stage-1 width ``width_scale`` * h) with ``proxy.num_classes`` outputs."""

    proxy_width: int = Field(8, ge=1, description="stage-1 width h of the start; proxies are measured at h")
    width_scale: int = Field(4, ge=1, description="real stage-1 width = width_scale * h")
    width_ratios: list[float] = Field(default_factory=lambda: [0.05, 0.10, 0.15, 0.20], min_length=1,
                                      description="candidate widths round(h * (1 + r))")
    max_params: int = Field(14_000_000, ge=1, description="candidates above this are dropped")
    budget: Literal["params", "macs", "latency_ms"] = Field(
        "params", description="what grow.targets bound: parameters, MACs at image_size, or forward latency on "
                              "hardware.* (measured at real width)")
    targets: list[float] = Field(default_factory=lambda: [10_000_000.0], min_length=1, description=(
        "one family member per target, the largest grown model within it; growth stops once a member reaches "
        "the largest"))
    image_size: int = Field(224, ge=32, multiple_of=32, description="input side of the members' MAC counts")
    seed_file: str = Field(
        "artifacts/seeds/predictor-reinforce.json", description="the seed grown: a search's "
        "(artifacts/seeds/<objective>-<method>.json), or the supernet evolution's best architecture "
        "(artifacts/supernet_seed.json, As-ViT space)")
    tie_break: str = Field(
        "fixed", description="rank-sum ties: fixed (spread over the tied, each metric's direction) or official "
                             "(the official code's choice, to rebuild the paper's family)")

    _known_tie_break = field_validator("tie_break")(registered("tie break"))

    @field_validator("width_ratios")
    @classmethod
    def _positive_distinct(cls, ratios: list[float]) -> list[float]:
        if any(r <= 0 for r in ratios) or len(set(ratios)) != len(ratios):
            raise ValueError("expected distinct growth ratios above 0")
        return ratios

    @field_validator("targets")
    @classmethod
    def _increasing_within_limit(cls, targets: list[float], info: ValidationInfo) -> list[float]:
        if targets[0] <= 0 or any(b <= a for a, b in zip(targets, targets[1:])):
            raise ValueError("expected positive targets in strictly increasing order")
        limit = info.data.get("max_params")
        if info.data.get("budget") == "params" and limit is not None and targets[-1] > limit:
            raise ValueError(f"the largest, {targets[-1]:.0f} parameters, exceeds grow.max_params ({limit}), so no "
                             "member could reach it")
        return targets


class HardwareParams(Section):
    """Where and how forward latency is timed (the proxy ``latency_ms``, ``grow.budget: latency_ms``,
    ``search.max_latency_ms``, ``evaluate`` and ``export``): a device of this machine."""

    device: str = Field("cpu", description="cpu | cuda | cuda:N")
    threads: int = Field(1, ge=1, description="intra-op threads of the timed calls")
    batch_size: int = Field(1, ge=1, description="images per timed call")
    image_size: int = Field(224, ge=32, multiple_of=32, description="side of the timed images (and of the ONNX "
                            "export)")

    @field_validator("device")
    @classmethod
    def _device_name(cls, device: str, info: ValidationInfo) -> str:
        check = (info.context or {}).get("device")
        problem = check(device) if check is not None else None
        if problem:
            raise ValueError(problem)
        return device


class DataParams(Section):
    """The classification dataset the ``data`` stage prepares in ``data/cls/`` (docs/design.md section 12)."""

    source: str = Field("generated", description="a registered data source: generated | digits | cifar10 | "
                        "imagefolder")
    path: Path | None = Field(None, description="dataset location for cifar10 and imagefolder")
    image_size: int = Field(32, ge=32, multiple_of=32)
    num_classes: int = Field(10, ge=2, description="classes of the generated dataset")
    train_size: int = Field(2000, ge=1, description="generated training images")
    val_size: int = Field(8000, ge=1, description="generated validation images")
    shape_size: tuple[float, float] = Field((0.12, 0.22), description="generated data: range of the shape "
                                            "radius as a fraction of the image side (smaller is harder)")
    seed: int = 0

    _known_source = field_validator("source")(registered("data source"))

    @field_validator("shape_size")
    @classmethod
    def _shape_size_range(cls, size: tuple[float, float]) -> tuple[float, float]:
        problem = shape_size_problem(size)
        if problem:
            raise ValueError(problem)
        return size

    @model_validator(mode="after")
    def _path_for_local_sources(self) -> DataParams:
        if self.source in ("cifar10", "imagefolder") and self.path is None:
            raise ValueError(f"data.path is required for source {self.source!r}")
        return self


class GroundtruthParams(Section):
    """How every sampled topology is trained for the Kendall-tau study: one fixed recipe."""

    width: int = Field(16, ge=1, description="stage-1 width C the topologies are trained at")
    seed: int = 0
    seeds: int = Field(2, ge=1, description="training seeds per topology (seed, seed + 1, ...): two or more "
                       "measure the ground truth's own test-retest Kendall tau")
    workers: int = Field(2, ge=1, description="topologies trained side by side, one torch thread each")
    recipe: Recipe = Recipe(epochs=10, batch_size=64, lr=2e-3, warmup_epochs=1)


class VitasParams(Section):
    """ViTAS's supernet-training options (docs/design.md section 11); all false is plain per-position
    weight entanglement, identity shifting alone is AutoFormer's own convention."""

    cyclic_sharing: bool = Field(False, description="embedding width w takes a rotating window of channels so "
                                 "that every channel serves a comparable share of the candidate widths")
    identity_shifting: bool = Field(True, description="a subnet's skipped layers move to the end, so every "
                                    "arrangement of the same layers shares one set of weights")
    weak_augmentation: bool = Field(False, description="train without Mixup, CutMix and label smoothing")


class EvolutionParams(Section):
    """AutoFormer's evolutionary search over the trained supernet; fitness is the inherited-weight
    top-1 on the held-out images."""

    population: int = Field(50, ge=2)
    generations: int = Field(20, ge=1)
    parents: int = Field(10, ge=1, description="the fittest this many of a generation breed the next")
    mutations: int = Field(25, ge=0, description="mutated parents per generation")
    crossovers: int = Field(25, ge=0, description="crossed pairs of parents per generation")
    mutation_prob: float = Field(0.4, ge=0, le=1, description="resampling probability of depth and embedding "
                                 "width (As-ViT space: of each decision)")
    layer_mutation_prob: float = Field(0.2, ge=0, le=1, description="resampling probability of each layer's "
                                       "heads and MLP ratio")
    min_params: int | None = Field(None, ge=1, description="candidates below this parameter count are never "
                                   "evaluated")
    max_params: int | None = Field(None, ge=1, description="candidates above this are never evaluated")
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> EvolutionParams:
        if self.parents > self.population:
            raise ValueError(f"supernet.evolution.parents ({self.parents}) exceeds the population ({self.population})")
        if self.min_params is not None and self.max_params is not None and self.min_params > self.max_params:
            raise ValueError(f"supernet.evolution.min_params ({self.min_params}) exceeds max_params "
                             f"({self.max_params})")
        return self


class SupernetParams(Section):
    """The one-shot supernet baseline (docs/design.md section 11): a weight-sharing supernet over the
    configured space trained one uniformly sampled subnet per step on the training images less the
    held-out ones, every sampled architecture's inherited-weight accuracy, and evolution over it."""

    seed: int = 0
    heldout: int = Field(1000, ge=1, description="last training images held out from supernet training: "
                         "inherited-weight accuracy and evolution fitness are measured on them")
    eval_batch_size: int = Field(256, ge=1)
    recipe: Recipe = Recipe(epochs=30, batch_size=64, lr=2e-3, warmup_epochs=1, mixup=0.8, cutmix=1.0)
    vitas: VitasParams = VitasParams()
    evolution: EvolutionParams = EvolutionParams()

    def training_recipe(self) -> Recipe:
        """``recipe``, less Mixup, CutMix and label smoothing under ``vitas.weak_augmentation``."""
        if not self.vitas.weak_augmentation:
            return self.recipe
        return self.recipe.model_copy(update={"mixup": 0.0, "cutmix": 0.0, "label_smoothing": 0.0})


class KendallParams(Section):
    """Rank correlation of every proxy with the ground truth."""

    truth_column: str = "val_top1"
    resamples: int = Field(1000, ge=10, description="bootstrap resamples of the confidence intervals")
    top_k: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [5, 10], min_length=1,
                                                     description="sizes k of the top-k overlap, at most sample.count")
    seed: int = 0


class PredictorParams(Section):
    """Predictors of accuracy from several proxies: the training-free rank aggregation and the
    learned ranker fitted on the ground truth (docs/design.md section 6)."""

    aggregate: list[str] = Field(default_factory=lambda: ["length_distortion", "ntk_cond", "flops"], min_length=1,
                                 description="proxies of the rank aggregation sum_m log(r_m / N) (AZ-NAS)")
    regressor: str = Field("ridge", description="the learned ranker: ridge | gbr | forest (scikit-learn), or "
                                               "auto: the regressor and feature groups chosen by cross-validation")
    folds: int = Field(5, ge=2, description="cross-validation folds of the learned ranker's tau")
    seed: int = 0
    curve: list[Annotated[int, Field(ge=2)]] = Field(default_factory=lambda: [8, 16, 24], description="numbers of "
                                                     "labelled architectures of the learning curve (empty: none)")
    curve_draws: int = Field(10, ge=2, description="random draws averaged at each point of the learning curve")

    _known_regressor = field_validator("regressor")(registered("regressor"))
    _known_proxies = field_validator("aggregate")(registered("proxy"))
    _distinct = field_validator("aggregate")(classmethod(lambda cls, names: distinct(names)))


class OutcomeParams(Section):
    """What each design method's pick is worth once trained (docs/design.md section 15): one search per
    objective and method (stages ``search@<objective>-<method>``), every pick trained with the ground
    truth's recipe beside hand-designed references."""

    objectives: list[str] = Field(default_factory=lambda: ["asvit", "rank_aggregate", "predictor"], min_length=1,
                                  description="search objectives, each searched by every method")
    methods: list[str] = Field(default_factory=lambda: ["reinforce", "random"], min_length=1,
                               description="search methods, each run with the same search.steps")
    references: list[str] = Field(default_factory=lambda: ["asvit_paper", "deit", "resnet"],
                                  description="hand-designed networks trained beside the picks")
    family: list[str] = Field(default_factory=list, description="baseline families trained beside the grown "
                              "family's members of train.models at their MACs (stages payoff@<family>): "
                              "uniform | deit; empty: no family payoff")

    _known_objectives = field_validator("objectives")(registered("search objective"))
    _known_methods = field_validator("methods")(registered("search method"))
    _known_references = field_validator("references")(registered("reference"))
    _known_families = field_validator("family")(registered("baseline family"))
    _distinct = field_validator("objectives", "methods", "references", "family")(
        classmethod(lambda cls, names: distinct(names)))

    def seed_files(self) -> dict[str, str]:
        """Each search's name (``<objective>-<method>``) and the seed file it writes."""
        return {name: f"artifacts/seeds/{name}.json" for name in self.searches()}

    def searches(self) -> list[str]:
        """The names ``<objective>-<method>`` of the searches, objective by objective."""
        return [f"{objective}-{method}" for objective in self.objectives for method in self.methods]


class DetectDataParams(Section):
    """The detection data the ``detect_data`` stage prepares: the embedded generated COCO-format set,
    or any COCO-format split from paths (real COCO 2017: ``annotations/instances_train2017.json`` and
    ``train2017/``, and the same for ``val2017``)."""

    source: Literal["generated", "coco"] = "generated"
    train_annotations: Path | None = None
    train_images: Path | None = None
    val_annotations: Path | None = None
    val_images: Path | None = None
    image_size: int = Field(128, ge=32, description="generated images' side")
    train_size: int = Field(400, ge=1, description="generated training images")
    val_size: int = Field(100, ge=1, description="generated validation images")
    num_categories: int = Field(6, ge=2, le=12, description="generated object categories (shapes)")
    max_objects: int = Field(6, ge=2, description="generated objects per image, at most")
    seed: int = 0

    @model_validator(mode="after")
    def _paths_for_coco(self) -> DetectDataParams:
        if self.source == "coco":
            missing = [k for k in ("train_annotations", "train_images", "val_annotations", "val_images")
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"source 'coco' needs {', '.join(f'detect.data.{k}' for k in missing)}")
        return self


class DetectParams(Section):
    """COCO detection with a trained family member as the backbone of a torchvision detector."""

    backbone: str = Field("asvit-g00", description="a member of artifacts/family.jsonl, trained by train")
    controls: list[str] = Field(default_factory=list, description="the same detector with another backbone start "
                                "(stages detect_control@<control>), its AP beside the trained backbone's: scratch")
    detector: str = Field("maskrcnn", description="a registered torchvision detector: maskrcnn | fasterrcnn | "
                          "retinanet | fcos")
    backbone_lr_scale: float = Field(0.1, gt=0, le=1, description="the As-ViT body's learning rate as a fraction "
                                     "of detect.recipe.lr (the pyramid and heads get the full rate)")
    out_channels: int = Field(32, ge=8, description="feature-pyramid channels (the R-CNN heads scale with them)")
    anchor_sizes: list[int] | None = Field([16, 32, 64, 128, 256], min_length=5, max_length=5,
                                           description="R-CNN anchors per pyramid level; null: torchvision's 32-512")
    min_size: int = Field(128, ge=32, description="torchvision's resize: shorter side")
    max_size: int = Field(128, ge=32, description="torchvision's resize: longer side at most")
    seed: int = 0
    workers: int = Field(0, ge=0, description="data-loading processes per training process")
    eval_batch_size: int = Field(8, ge=1)
    examples: int = Field(4, ge=1, description="validation images drawn in plots/detect_examples.png")
    recipe: Recipe = Recipe(epochs=3, batch_size=8, lr=1e-3, warmup_epochs=1)
    data: DetectDataParams = DetectDataParams()

    _known_detector = field_validator("detector")(registered("detector"))
    _known_controls = field_validator("controls")(registered("detection control"))
    _distinct = field_validator("controls")(classmethod(lambda cls, names: distinct(names)))

    @model_validator(mode="after")
    def _sizes(self) -> DetectParams:
        if self.max_size < self.min_size:
            raise ValueError(f"detect.max_size ({self.max_size}) is below detect.min_size ({self.min_size})")
        return self


class ExecutorParams(Section):
    """Where ``score``, ``groundtruth`` and the proxy measurements of ``search`` and ``grow`` run their
    tasks (docs/cluster.md); a setting of speed only, in no stage's dependencies."""

    engine: Literal["local", "dask"] = Field("local", description="local: proxy.workers / groundtruth.workers "
                                             "processes here; dask: the workers of a Dask scheduler")
    address: str | None = Field(None, description="the Dask scheduler, tcp://host:8786; null: "
                                "$DASK_SCHEDULER_ADDRESS")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to reach the scheduler before giving up")
    retries: int = Field(1, ge=0, description="reruns of a task that raised (Dask reruns a dead worker's "
                         "tasks by itself)")


class Params(Section):
    """All of ``params.yaml``, grouped by stage."""

    data: DataParams = DataParams()
    space: SpaceParams = SpaceParams()
    sample: SampleParams = SampleParams()
    proxy: ProxyParams = ProxyParams()
    groundtruth: GroundtruthParams = GroundtruthParams()
    supernet: SupernetParams = SupernetParams()
    kendall: KendallParams = KendallParams()
    predictor: PredictorParams = PredictorParams()
    search: SearchParams = SearchParams()
    outcome: OutcomeParams = OutcomeParams()
    grow: GrowParams = GrowParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    detect: DetectParams = DetectParams()
    hardware: HardwareParams = HardwareParams()
    executor: ExecutorParams = ExecutorParams()

    @model_validator(mode="after")
    def _top_k_within_the_sample(self) -> Params:
        over = [k for k in self.kendall.top_k if k > self.sample.count]
        if over:
            raise ValueError(f"kendall.top_k: {over} exceed the {self.sample.count} sampled architectures "
                             "(sample.count)")
        return self

    @model_validator(mode="after")
    def _curve_within_the_sample(self) -> Params:
        over = [n for n in self.predictor.curve if n >= self.sample.count]
        if over:
            raise ValueError(f"predictor.curve: {over} labelled architectures leave none of the {self.sample.count} "
                             "sampled (sample.count) to judge the ranker on")
        return self

    @model_validator(mode="after")
    def _aggregate_is_measured(self) -> Params:
        unmeasured = [n for n in self.predictor.aggregate if n not in self.proxy.names]
        if unmeasured:
            raise ValueError(f"predictor.aggregate: {', '.join(unmeasured)} not in proxy.names, so never measured")
        return self

    @model_validator(mode="after")
    def _timed_proxies_run_alone(self, info: ValidationInfo) -> Params:
        proxies = (info.context or {}).get("proxy")
        timed = [n for n in self.proxy.names if proxies is not None and proxies[n].timed]
        if timed and (self.proxy.workers > 1 or self.executor.engine != "local"):
            raise ValueError(f"proxy.names: {', '.join(timed)} times this machine, so scoring runs alone: set "
                             "proxy.workers: 1 and executor.engine: local")
        return self

    @model_validator(mode="after")
    def _heldout_leaves_training_images(self) -> Params:
        if self.data.source == "generated" and self.supernet.heldout >= self.data.train_size:
            raise ValueError(f"supernet.heldout: {self.supernet.heldout} held-out images leave none of the "
                             f"{self.data.train_size} training images (data.train_size) to train the supernet on")
        return self

    @model_validator(mode="after")
    def _grown_seed_is_written(self) -> Params:
        written = [*self.outcome.seed_files().values(), SUPERNET_SEED]
        if self.grow.seed_file not in written:
            raise ValueError(f"grow.seed_file: no stage writes {self.grow.seed_file!r}; expected {SUPERNET_SEED} or "
                             "artifacts/seeds/<objective>-<method>.json of outcome.objectives "
                             f"({', '.join(self.outcome.objectives)}) and outcome.methods "
                             f"({', '.join(self.outcome.methods)})")
        return self

    @model_validator(mode="after")
    def _grown_seed_is_an_asvit_topology(self) -> Params:
        if self.grow.seed_file == SUPERNET_SEED and self.space.record_format != "asvit":
            raise ValueError(f"grow.seed_file: the supernet of space {self.space.name!r} evolves AutoFormer-space "
                             "networks, which the As-ViT scaling rule cannot grow; use space.name asvit")
        return self

    @model_validator(mode="after")
    def _images_split_into_patches(self, info: ValidationInfo) -> Params:
        spaces = (info.context or {}).get("space")
        if self.space.record_format != "autoformer" or spaces is None:
            return self
        patch = spaces[self.space.name](self.space).patch_size
        for key, side in (("data.image_size", self.data.image_size), ("proxy.image_size", self.proxy.image_size)):
            if side % patch:
                raise ValueError(f"{key}: {side} px is not a multiple of the patch size {patch} of space "
                                 f"{self.space.name!r}")
        return self

    @model_validator(mode="after")
    def _learned_objective_fits_the_space(self) -> Params:
        if "predictor" in self.outcome.objectives and self.space.record_format == "autoformer":
            raise ValueError(f"outcome.objectives: the predictor objective scores As-ViT topologies with the ranker "
                             f"fitted on the sampled architectures, which in space {self.space.name!r} are not As-ViT "
                             "topologies; drop predictor from outcome.objectives")
        return self

    @model_validator(mode="after")
    def _family_payoff_has_a_family(self) -> Params:
        if not self.outcome.family:
            return self
        if self.space.record_format != "asvit":
            raise ValueError(f"outcome.family: space {self.space.name!r} has no scaling rule, so no family of its "
                             "own to pay off (the family grow writes is As-ViT's); use space.name asvit")
        if len(self.train.models) < 2:
            raise ValueError(f"outcome.family: a front needs at least two trained members, train.models has "
                             f"{len(self.train.models)}; e.g. train.models: [asvit-g00, asvit-g01, asvit-g02]")
        return self


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: message (got value)``."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        if not key:  # a check across sections names its keys in the message
            lines.append(f"{source}: {message}")
            continue
        got = "" if problem["type"] == "missing" else f" (got {problem['input']!r})"
        lines.append(f"{source}: {key}: {message}{got}")
    return "\n".join(lines)


def parse_params(data: Any, source: str = "params", registries: Mapping[str, Any] | None = None) -> Params:
    """Validate an already loaded mapping; ``registries`` (kind -> registry, see :func:`registered`)
    also checks every name against them."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of stage groups")
    try:
        return Params.model_validate(data, context=registries)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with a key twice (plain YAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_params(path: Path | str = DEFAULT_PARAMS, registries: Mapping[str, Any] | None = None) -> Params:
    """Read and validate ``params.yaml`` (``yaml.safe_load``), names against ``registries`` if given."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return parse_params(data, str(path), registries)
