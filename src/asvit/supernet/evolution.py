"""AutoFormer's evolutionary search over a trained supernet, on any search space.

The search (:func:`evolve`) draws an initial population uniformly, keeps the fittest ``parents``
distinct architectures and, each generation, breeds ``mutations`` mutated parents and
``crossovers`` crossed pairs of parents; the next population is the parents plus their children,
so the best architecture found always survives (elitist). Every candidate, the initial population
included, must lie within the parameter-count limits: one outside is dropped and drawn again.
Fitness (higher is better: inherited-weight accuracy on held-out images) is measured once per
distinct architecture. One ``random.Random(seed)`` drives every draw, so a seed fixes the search.

A space enters through its genetic operators (:class:`SpaceOps`): :class:`AutoFormerOps` for an
:class:`~asvit.space.AutoFormerSpace`, :class:`ASViTOps` for As-ViT topologies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from tqdm import tqdm

from ..errors import AsvitError
from ..space.asvit import SEED_WIDTH, Topology, sample_topology
from ..space.asvit import mutate as mutate_topology
from ..space.autoformer import AutoFormerArch, AutoFormerSpace, sample_autoformer

A = TypeVar("A")
V = TypeVar("V")

MAX_TRIES = 1000  # draws of one candidate before the parameter-count limits are declared impossible


class EvolutionError(AsvitError):
    """Arguments or parameter-count limits under which the evolutionary search cannot run."""


class SpaceOps(Protocol[A]):
    """The genetic operators of one search space, over its architecture type ``A``."""

    def sample(self, rng: random.Random) -> A:
        """One architecture drawn uniformly from the space."""
        ...

    def mutate(self, arch: A, rng: random.Random) -> A:
        """A random variation of ``arch``."""
        ...

    def crossover(self, a: A, b: A, rng: random.Random) -> A:
        """A child whose every gene comes from ``a`` or ``b``."""
        ...

    def key(self, arch: A) -> str:
        """The canonical text of ``arch``: equal for equal architectures only."""
        ...


def _check_probability(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise EvolutionError(f"{name} must lie in [0, 1], got {value}")


def _resample(value: V, choices: Sequence[V], rng: random.Random, probability: float) -> V:
    """With ``probability``, another of ``choices`` drawn uniformly; else (or when ``choices`` has no
    other value) ``value``."""
    others = [c for c in choices if c != value]
    return rng.choice(others) if others and rng.random() < probability else value


class AutoFormerOps:
    """AutoFormer's operators on an :class:`AutoFormerSpace`.

    Mutation: the depth and then each kept layer's head count and MLP ratio, then the embedding
    width, each change with probability ``mutation_prob`` (depth, width) or ``layer_mutation_prob``
    (per layer) to another value of its choice set drawn uniformly, so those are the exact rates of
    change of genes whose choice set has two or more values. A deeper child appends layers with
    uniformly drawn heads and ratio; a shallower one drops layers from the end. Nothing else
    changes, so with both probabilities 0 a mutation returns its parent.

    Crossover: the depth from one parent and the embedding width from one parent, each drawn
    uniformly; then each layer's head count and MLP ratio, separately, from a parent drawn uniformly
    among those that have the layer (both up to the shallower depth, beyond it the deeper parent,
    whose depth the child took).
    """

    def __init__(self, space: AutoFormerSpace, mutation_prob: float = 0.4, layer_mutation_prob: float = 0.2) -> None:
        _check_probability("mutation_prob", mutation_prob)
        _check_probability("layer_mutation_prob", layer_mutation_prob)
        self.space = space
        self.mutation_prob = mutation_prob
        self.layer_mutation_prob = layer_mutation_prob

    def sample(self, rng: random.Random) -> AutoFormerArch:
        return sample_autoformer(self.space, rng)

    def mutate(self, arch: AutoFormerArch, rng: random.Random) -> AutoFormerArch:
        space = self.space
        depth = _resample(arch.depth, space.depths, rng, self.mutation_prob)
        heads, ratios = [], []
        for layer in range(depth):
            if layer < arch.depth:
                heads.append(_resample(arch.num_heads[layer], space.heads, rng, self.layer_mutation_prob))
                ratios.append(_resample(arch.mlp_ratio[layer], space.mlp_ratios, rng, self.layer_mutation_prob))
            else:
                heads.append(rng.choice(space.heads))
                ratios.append(rng.choice(space.mlp_ratios))
        embed_dim = _resample(arch.embed_dim, space.embed_dims, rng, self.mutation_prob)
        return replace(arch, embed_dim=embed_dim, depth=depth, num_heads=tuple(heads), mlp_ratio=tuple(ratios))

    def crossover(self, a: AutoFormerArch, b: AutoFormerArch, rng: random.Random) -> AutoFormerArch:
        depth = rng.choice((a.depth, b.depth))
        heads, ratios = [], []
        for layer in range(depth):
            owners = [p for p in (a, b) if p.depth > layer]
            heads.append(rng.choice(owners).num_heads[layer])
            ratios.append(rng.choice(owners).mlp_ratio[layer])
        embed_dim = rng.choice((a.embed_dim, b.embed_dim))
        return replace(a, embed_dim=embed_dim, depth=depth, num_heads=tuple(heads), mlp_ratio=tuple(ratios))

    def key(self, arch: AutoFormerArch) -> str:
        return str(arch)


class ASViTOps:
    """Operators on As-ViT topologies of stage-1 width ``width`` and depth 1 per stage.

    Sampling: :func:`~asvit.space.sample_topology` at width ``width``. Mutation:
    :func:`~asvit.space.mutate`, each of the 13 decisions resampled to another value with
    ``mutation_prob`` and one decision always changed, so a decision with two or more values changes
    with probability p + (1 - p) / 12 (12 decisions have more than one value). Crossover: each
    decision from a parent drawn uniformly. Width and depths never change.
    """

    def __init__(self, mutation_prob: float = 0.4, width: int = SEED_WIDTH) -> None:
        _check_probability("mutation_prob", mutation_prob)
        if width < 1:
            raise EvolutionError(f"width must be at least 1, got {width}")
        self.mutation_prob = mutation_prob
        self.width = width

    def sample(self, rng: random.Random) -> Topology:
        return sample_topology(rng).scaled(width=self.width)

    def mutate(self, topology: Topology, rng: random.Random) -> Topology:
        return mutate_topology(topology, rng, self.mutation_prob)

    def crossover(self, a: Topology, b: Topology, rng: random.Random) -> Topology:
        values = [rng.choice(pair) for pair in zip(a.decisions, b.decisions)]
        return Topology.from_decisions(values, depths=a.depths, width=a.width)

    def key(self, topology: Topology) -> str:
        return str(topology)


@dataclass(frozen=True)
class GenerationRecord:
    """One generation (0: the initial population): the best fitness so far, the mean fitness of the
    parents it selected, and the fitness evaluations made so far."""

    generation: int
    best_fitness: float
    mean_parent_fitness: float
    evaluations: int


@dataclass
class EvolutionResult(Generic[A]):
    """The fittest architecture evaluated and its fitness, one record per generation (0 .. G) and
    every evaluated architecture's fitness by its key, in evaluation order."""

    best: A
    best_fitness: float
    history: list[GenerationRecord]
    evaluated: dict[str, float]


def _validate(key: str, population: int, generations: int, parents: int, mutations: int, crossovers: int,
              min_params: float | None, max_params: float | None) -> None:
    for name, value, least in (("population", population, 1), ("generations", generations, 1),
                               ("parents", parents, 1), ("mutations", mutations, 0), ("crossovers", crossovers, 0)):
        if value < least:
            raise EvolutionError(f"{key}.{name} must be at least {least}, got {value}")
    if parents > population:
        raise EvolutionError(f"{key}.parents ({parents}) exceeds {key}.population ({population})")
    if min_params is not None and max_params is not None and min_params > max_params:
        raise EvolutionError(f"{key}.min_params ({min_params}) exceeds {key}.max_params ({max_params})")


def evolve(ops: SpaceOps[A], fitness: Callable[[A], float], params: Callable[[A], float], *,
           population: int = 50, generations: int = 20, parents: int = 10, mutations: int = 25,
           crossovers: int = 25, min_params: float | None = None, max_params: float | None = None,
           seed: int = 0, progress: bool = True, key: str = "evolution",
           on_generation: Callable[[GenerationRecord, list[A]], None] | None = None) -> EvolutionResult[A]:
    """AutoFormer's evolution: ``population`` uniform draws, then ``generations`` rounds of breeding.

    The parents of a generation are its ``parents`` fittest distinct architectures (ties: the earlier
    in the population first), which makes them the fittest of all evaluated so far. Each round makes
    ``mutations`` children, each a mutation of a parent drawn uniformly, and ``crossovers``
    children, each a crossover of two distinct parents drawn uniformly (of the one parent with
    itself when there is only one); the next population is the parents followed by the children.

    Every candidate satisfies ``min_params <= params(arch) <= max_params`` (a limit of None is no
    limit): one outside is dropped and drawn again, and after :data:`MAX_TRIES` draws of one
    candidate the search stops with an :class:`EvolutionError` naming ``{key}.min_params`` and
    ``{key}.max_params``; argument errors name ``{key}.<argument>``. ``fitness`` and ``params``
    are called once per distinct architecture (by ``ops.key``). ``on_generation(record, parents)``
    is called after every generation, generation 0 included, with the parents fittest first.
    """
    _validate(key, population, generations, parents, mutations, crossovers, min_params, max_params)
    rng = random.Random(seed)
    evaluated: dict[str, float] = {}
    sizes: dict[str, float] = {}

    def size(arch: A) -> float:
        k = ops.key(arch)
        if k not in sizes:
            sizes[k] = params(arch)
        return sizes[k]

    def draw(make: Callable[[], A], what: str) -> A:
        tried = []
        for _ in range(MAX_TRIES):
            arch = make()
            count = size(arch)
            if (min_params is None or count >= min_params) and (max_params is None or count <= max_params):
                return arch
            tried.append(count)
        raise EvolutionError(
            f"{key}.min_params = {min_params} and {key}.max_params = {max_params} leave no {what}: none of "
            f"{MAX_TRIES} drawn was inside (they had {min(tried):,} to {max(tried):,} parameters); widen the limits")

    def score(arch: A) -> float:
        k = ops.key(arch)
        if k not in evaluated:
            value = float(fitness(arch))
            if math.isnan(value):
                raise EvolutionError(f"the fitness of {k} is NaN")
            evaluated[k] = value
        return evaluated[k]

    def select(candidates: list[A]) -> list[A]:
        """The fittest ``parents`` distinct candidates, each evaluated (in order) where it was not."""
        distinct: dict[str, A] = {}
        for arch in candidates:
            distinct.setdefault(ops.key(arch), arch)
        return sorted(distinct.values(), key=score, reverse=True)[:parents]  # stable: ties keep their order

    def breed(elite: list[A]) -> list[A]:
        def mutant() -> A:
            return ops.mutate(rng.choice(elite), rng)

        def cross() -> A:
            a, b = rng.sample(elite, 2) if len(elite) > 1 else (elite[0], elite[0])
            return ops.crossover(a, b, rng)

        return ([draw(mutant, "mutations of the parents") for _ in range(mutations)]
                + [draw(cross, "crossovers of the parents") for _ in range(crossovers)])

    history: list[GenerationRecord] = []

    def record(generation: int, elite: list[A]) -> None:
        values = [evaluated[ops.key(arch)] for arch in elite]
        history.append(GenerationRecord(generation, values[0], sum(values) / len(values), len(evaluated)))
        if on_generation is not None:
            on_generation(history[-1], list(elite))

    elite = select([draw(lambda: ops.sample(rng), "architectures of the space") for _ in range(population)])
    record(0, elite)
    with tqdm(range(1, generations + 1), desc="evolution", unit="generation", disable=not progress) as bar:
        for generation in bar:
            elite = select(elite + breed(elite))
            record(generation, elite)
            bar.set_postfix(best=f"{history[-1].best_fitness:.4g}", evaluated=len(evaluated))
    return EvolutionResult(best=elite[0], best_fitness=evaluated[ops.key(elite[0])], history=history,
                           evaluated=evaluated)
