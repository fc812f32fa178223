"""AutoFormer's evolutionary search on synthetic fitness (no networks): the parameter-count limits
and choice sets are never left, a known optimum is found, the parents are the fittest evaluated
(elitism), each architecture is evaluated once, a seed fixes the search, the mutation and crossover
rules and rates, the errors, and the As-ViT operators."""

from __future__ import annotations

import random
from collections import Counter
from functools import lru_cache

import pytest
import torch

from asvit.models import AutoFormerViT
from asvit.space import DECISIONS, AutoFormerArch, AutoFormerSpace, Topology
from asvit.supernet.evolution import ASViTOps, AutoFormerOps, EvolutionError, evolve

SPACE = AutoFormerSpace(embed_dims=(32, 48, 64), heads=(1, 2, 3), mlp_ratios=(2.0, 3.0, 4.0), depths=(2, 3, 4, 5),
                        patch_size=16, head_dim=16)
SIZE, CLASSES = 32, 5
FAST = dict(population=20, generations=8, parents=5, mutations=10, crossovers=10, progress=False)


def params(arch: AutoFormerArch) -> int:
    """The parameters of ``AutoFormerViT(arch, CLASSES, SIZE)``, counted from its layer shapes."""
    e, d, grid = arch.embed_dim, arch.head_dim, SIZE // arch.patch_size
    total = e * 3 * arch.patch_size ** 2 + e + e + (grid ** 2 + 1) * e + 2 * e + CLASSES * e + CLASSES
    for heads, ratio in zip(arch.num_heads, arch.mlp_ratio):
        qkv, hidden = 3 * heads * d, int(e * ratio)
        total += 4 * e + qkv * (e + 1) + heads * d * e + e + 4 * 30 * d + hidden * (e + 1) + e * (hidden + 1)
    return total


@lru_cache(maxsize=None)
def network_params(arch: AutoFormerArch) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in AutoFormerViT(arch, CLASSES, SIZE).parameters())


def gene_fitness(arch: AutoFormerArch) -> float:
    """A sum of per-gene scores: wider embeddings, more heads and wider MLPs score higher."""
    return arch.embed_dim / 16 + sum(h + r for h, r in zip(arch.num_heads, arch.mlp_ratio))


def in_space(arch: AutoFormerArch) -> bool:
    return (arch.embed_dim in SPACE.embed_dims and arch.depth in SPACE.depths
            and all(h in SPACE.heads for h in arch.num_heads) and all(r in SPACE.mlp_ratios for r in arch.mlp_ratio)
            and (arch.patch_size, arch.head_dim) == (SPACE.patch_size, SPACE.head_dim))


def arch(embed_dim: int, heads: tuple[int, ...], ratios: tuple[float, ...]) -> AutoFormerArch:
    return AutoFormerArch(embed_dim=embed_dim, depth=len(heads), num_heads=heads, mlp_ratio=ratios,
                          patch_size=SPACE.patch_size, head_dim=SPACE.head_dim)


SMALLEST = arch(32, (1, 1), (2.0, 2.0))
LARGEST = arch(64, (3,) * 5, (4.0,) * 5)


def test_param_formula_matches_the_network():
    for a in (SMALLEST, LARGEST, arch(48, (2, 1, 3), (3.0, 4.0, 2.0))):
        assert params(a) == network_params(a)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("limits", [(None, 120_000), (150_000, None), (100_000, 140_000)])
def test_candidates_stay_within_the_limits_and_the_space(seed, limits):
    low, high = limits
    seen = []

    def fitness(a):
        seen.append(a)
        return gene_fitness(a)

    result = evolve(AutoFormerOps(SPACE), fitness, params, min_params=low, max_params=high, seed=seed, **FAST)
    assert seen and len(seen) == len(result.evaluated)
    for a in seen + [result.best]:
        assert in_space(a)
        assert (low is None or params(a) >= low) and (high is None or params(a) <= high)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_a_known_optimum_inside_the_limits(seed):
    target = arch(48, (2, 3, 1, 2), (3.0, 2.0, 4.0, 3.0))

    def distance(a):  # 0 at the target only
        layers = max(a.depth, target.depth)
        padded = [(a.num_heads + (0,) * layers)[:layers], (a.mlp_ratio + (0.0,) * layers)[:layers]]
        wanted = [(target.num_heads + (0,) * layers)[:layers], (target.mlp_ratio + (0.0,) * layers)[:layers]]
        return -(abs(a.embed_dim - target.embed_dim) / 16
                 + sum(abs(x - y) for got, want in zip(padded, wanted) for x, y in zip(got, want)))

    low, high = params(target) - 30_000, params(target) + 10_000
    assert params(LARGEST) > high and params(SMALLEST) < low  # the limits do cut the space
    result = evolve(AutoFormerOps(SPACE), distance, params, min_params=low, max_params=high, seed=seed,
                    progress=False)
    assert result.best == target and result.best_fitness == 0
    assert len(result.evaluated) < 1050  # 50 + 20 x 50 candidates, repeats answered from the memo


def test_parents_are_the_fittest_evaluated_and_the_best_never_decreases():
    calls, rows = [], []

    def fitness(a):
        calls.append(gene_fitness(a))
        return calls[-1]

    def on_generation(row, parents):
        rows.append(row)
        assert row.evaluations == len(calls)
        assert [gene_fitness(p) for p in parents] == sorted(calls, reverse=True)[:FAST["parents"]]
        assert row.best_fitness == max(calls)
        assert row.mean_parent_fitness == pytest.approx(sum(map(gene_fitness, parents)) / len(parents))

    result = evolve(AutoFormerOps(SPACE), fitness, params, max_params=130_000, seed=3, on_generation=on_generation,
                    **FAST)
    assert result.history == rows
    assert [r.generation for r in rows] == list(range(FAST["generations"] + 1))
    best = [r.best_fitness for r in rows]
    assert best == sorted(best) and best[-1] > best[0]
    assert result.best_fitness == max(result.evaluated.values()) == gene_fitness(result.best)
    assert params(result.best) <= 130_000


def test_each_distinct_architecture_is_evaluated_once():
    fitness_calls, params_calls = Counter(), Counter()

    def fitness(a):
        fitness_calls[str(a)] += 1
        return gene_fitness(a)

    def counted_params(a):
        params_calls[str(a)] += 1
        return params(a)

    small = AutoFormerSpace(embed_dims=(32, 48), heads=(1, 2), mlp_ratios=(2.0, 3.0), depths=(2, 3),
                            patch_size=16, head_dim=16)  # 160 architectures: many repeats
    result = evolve(AutoFormerOps(small), fitness, counted_params, seed=0, progress=False)
    assert set(fitness_calls.values()) == {1} and set(params_calls.values()) == {1}
    assert list(fitness_calls) == list(result.evaluated)
    assert len(result.evaluated) <= 160 and result.best_fitness == gene_fitness(arch(48, (2, 2, 2), (3.0,) * 3))


def test_a_seed_fixes_the_search():
    def run(seed):
        return evolve(AutoFormerOps(SPACE), gene_fitness, params, max_params=120_000, seed=seed, **FAST)

    first, again, other = run(5), run(5), run(6)
    assert first == again
    assert list(first.evaluated) == list(again.evaluated)
    assert list(first.evaluated) != list(other.evaluated)


def test_mutation_with_zero_probabilities_returns_the_parent():
    ops, rng = AutoFormerOps(SPACE, mutation_prob=0, layer_mutation_prob=0), random.Random(0)
    for _ in range(200):
        parent = ops.sample(rng)
        assert ops.mutate(parent, rng) == parent


def test_mutation_rates():
    ops, rng = AutoFormerOps(SPACE, mutation_prob=0.4, layer_mutation_prob=0.2), random.Random(0)
    n, changed = 5000, Counter()
    for _ in range(n):
        parent = ops.sample(rng)
        child = ops.mutate(parent, rng)
        assert in_space(child)
        changed["depth"] += child.depth != parent.depth
        changed["embed"] += child.embed_dim != parent.embed_dim
        for layer in range(min(parent.depth, child.depth)):
            changed["layers"] += 1
            changed["heads"] += child.num_heads[layer] != parent.num_heads[layer]
            changed["ratio"] += child.mlp_ratio[layer] != parent.mlp_ratio[layer]
    assert changed["depth"] / n == pytest.approx(0.4, abs=0.03)
    assert changed["embed"] / n == pytest.approx(0.4, abs=0.03)
    assert changed["heads"] / changed["layers"] == pytest.approx(0.2, abs=0.015)
    assert changed["ratio"] / changed["layers"] == pytest.approx(0.2, abs=0.015)


def test_depth_mutation_appends_or_cuts_layers_at_the_end():
    ops, rng = AutoFormerOps(SPACE, mutation_prob=1, layer_mutation_prob=0), random.Random(1)
    grown = cut = 0
    for _ in range(300):
        parent = ops.sample(rng)
        child = ops.mutate(parent, rng)
        assert child.depth != parent.depth and child.embed_dim != parent.embed_dim
        kept = min(parent.depth, child.depth)
        assert child.num_heads[:kept] == parent.num_heads[:kept]
        assert child.mlp_ratio[:kept] == parent.mlp_ratio[:kept]
        assert in_space(child)
        grown += child.depth > parent.depth
        cut += child.depth < parent.depth
    assert grown and cut


def test_crossover_takes_every_gene_from_a_parent():
    ops, rng = AutoFormerOps(SPACE), random.Random(2)
    from_a = Counter()
    for _ in range(2000):
        a, b = ops.sample(rng), ops.sample(rng)
        child = ops.crossover(a, b, rng)
        assert child.depth in (a.depth, b.depth) and child.embed_dim in (a.embed_dim, b.embed_dim)
        for layer in range(child.depth):
            owners = [p for p in (a, b) if p.depth > layer]
            assert child.num_heads[layer] in [p.num_heads[layer] for p in owners]
            assert child.mlp_ratio[layer] in [p.mlp_ratio[layer] for p in owners]
        if a.depth != b.depth:
            from_a["depth"] += child.depth == a.depth
            from_a["depth total"] += 1
    assert from_a["depth"] / from_a["depth total"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("key", ["evolution", "supernet.evolution"])
def test_impossible_limits_name_the_keys(key):
    with pytest.raises(EvolutionError, match=rf"{key}\.min_params = 10000000 and {key}\.max_params = None "
                                             r"leave no architectures"):
        evolve(AutoFormerOps(SPACE), gene_fitness, params, min_params=10_000_000, key=key, **FAST)


@pytest.mark.parametrize("arguments, message", [
    ({"parents": 21}, r"supernet\.evolution\.parents \(21\) exceeds supernet\.evolution\.population \(20\)"),
    ({"population": 0, "parents": 0}, r"supernet\.evolution\.population must be at least 1, got 0"),
    ({"generations": 0}, r"supernet\.evolution\.generations must be at least 1"),
    ({"parents": 0}, r"supernet\.evolution\.parents must be at least 1"),
    ({"mutations": -1}, r"supernet\.evolution\.mutations must be at least 0"),
    ({"crossovers": -1}, r"supernet\.evolution\.crossovers must be at least 0"),
    ({"min_params": 5, "max_params": 4}, r"supernet\.evolution\.min_params \(5\) exceeds supernet\.evolution\.max_params"),
])
def test_bad_arguments_name_the_parameter(arguments, message):
    with pytest.raises(EvolutionError, match=message):
        evolve(AutoFormerOps(SPACE), gene_fitness, params, key="supernet.evolution", **{**FAST, **arguments})


def test_bad_operator_settings_and_nan_fitness_are_refused():
    with pytest.raises(EvolutionError, match=r"mutation_prob must lie in \[0, 1\], got 1.5"):
        AutoFormerOps(SPACE, mutation_prob=1.5)
    with pytest.raises(EvolutionError, match="layer_mutation_prob must lie in"):
        AutoFormerOps(SPACE, layer_mutation_prob=-0.1)
    with pytest.raises(EvolutionError, match="mutation_prob must lie in"):
        ASViTOps(mutation_prob=2)
    with pytest.raises(EvolutionError, match="width must be at least 1, got 0"):
        ASViTOps(width=0)
    with pytest.raises(EvolutionError, match="is NaN"):
        evolve(AutoFormerOps(SPACE), lambda a: float("nan"), params, **FAST)


def topology_size(t: Topology) -> int:
    """A synthetic size: grows with every decision value."""
    return sum(k * e for k, e in zip(t.kernels, t.expansions)) + t.heads + sum(t.splits)


def test_asvit_ops_keep_width_and_depths_and_the_limits():
    ops, seen = ASViTOps(width=64), []

    def fitness(t):
        seen.append(t)
        return -sum(t.kernels) + t.heads / 16

    result = evolve(ops, fitness, topology_size, min_params=60, max_params=90, seed=0, progress=False)
    assert len(seen) == len(result.evaluated)
    for t in seen:
        assert Topology.parse(ops.key(t)) == t  # a valid topology, and its key is its canonical text
        assert t.width == 64 and t.depths == (1, 1, 1, 1)
        assert all(v in d.choices for v, d in zip(t.decisions, DECISIONS))
        assert 60 <= topology_size(t) <= 90
    assert result.best_fitness == max(result.evaluated.values())


def test_asvit_mutation_and_crossover():
    rng = random.Random(4)
    still = ASViTOps(mutation_prob=0, width=48)
    for _ in range(100):  # probability 0: exactly the one forced decision changes
        parent = still.sample(rng)
        child = still.mutate(parent, rng)
        assert sum(x != y for x, y in zip(parent.decisions, child.decisions)) == 1
        assert (child.width, child.depths) == (48, (1, 1, 1, 1))
    ops, n, changes = ASViTOps(mutation_prob=0.4, width=48), 3000, Counter()
    for _ in range(n):
        a, b = ops.sample(rng), ops.sample(rng)
        child = ops.crossover(a, b, rng)
        assert all(v in pair for v, pair in zip(child.decisions, zip(a.decisions, b.decisions)))
        assert (child.width, child.depths) == (48, (1, 1, 1, 1))
        mutant = ops.mutate(a, rng)
        changes.update(i for i, (x, y) in enumerate(zip(a.decisions, mutant.decisions)) if x != y)
    assert 10 not in changes  # S4 has one value
    for i in (0, 4, 12):  # p + (1 - p) / 12 with 12 mutable decisions
        assert changes[i] / n == pytest.approx(0.4 + 0.6 / 12, abs=0.03)
