"""Baselines of the seed search over the same proxies: random search and regularized (aging)
evolution (Real et al., 2019). Both keep every measured topology and return the best one under
the search objective (:mod:`asvit.search.objective`; for the paper's, the rank rule of
:mod:`asvit.search.ranking`: dense ranks of kappa ascending and L^E descending)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..config import SearchParams
from ..errors import AsvitError
from ..space import DECISIONS, SPACE_SIZE, Topology, mutate, sample_topology
from .objective import Objective, PaperObjective


class SearchFailed(AsvitError):
    """Every topology measured by a search was bad."""


class RandomSearch:
    """Topologies drawn uniformly from the space; the search distribution's entropy is log |space|."""

    def __init__(self, params: SearchParams, objective: Objective | None = None) -> None:
        self.rng = random.Random(params.seed)
        self.objective = objective or PaperObjective(params.reward_window)
        self.records: list[tuple[str, dict[str, float]]] = []  # (seed string, proxy values) per step

    def entropy(self) -> float:
        return math.log(SPACE_SIZE)

    def propose(self) -> Topology:
        return sample_topology(self.rng)

    def observe(self, topology: Topology, values: Mapping[str, float], reward: float) -> None:
        self.records.append((topology.seed_string(), dict(values)))

    def result(self) -> Topology:
        """The best distinct topology measured, under the objective."""
        distinct = dict(self.records)
        best = self.objective.best([(Topology.parse(t), v) for t, v in distinct.items()])
        if best is None:
            raise SearchFailed("every topology measured by the search was bad; raise search.steps")
        return Topology.parse(list(distinct)[best])

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate(), "records": [[t, dict(v)] for t, v in self.records]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.setstate(state["rng"])
        self.records = [(t, dict(v)) for t, v in state["records"]]


class EvolutionSearch(RandomSearch):
    """Regularized evolution: the first ``population`` topologies are drawn uniformly; afterwards
    each step samples ``tournament`` members of the population, mutates the best of them under the
    objective (``asvit.space.mutate`` with ``mutation_rate``) and replaces the oldest member.

    Its entropy is that of the distribution the next topology comes from: log |space| while the
    population fills, then the summed per-decision entropy of the population's value frequencies.
    """

    def __init__(self, params: SearchParams, objective: Objective | None = None) -> None:
        super().__init__(params, objective)
        self.size = params.population
        self.tournament = params.tournament
        self.mutation_rate = params.mutation_rate
        self.population: list[int] = []  # indices into records, oldest first

    def entropy(self) -> float:
        if len(self.population) < self.size:
            return super().entropy()
        members = [Topology.parse(self.records[i][0]).decisions for i in self.population]
        total = 0.0
        for d in range(len(DECISIONS)):
            counts = Counter(m[d] for m in members).values()
            total -= sum(c / len(members) * math.log(c / len(members)) for c in counts)
        return total

    def propose(self) -> Topology:
        if len(self.population) < self.size:
            return super().propose()
        contenders = self.rng.sample(self.population, self.tournament)
        best = self.objective.best([(Topology.parse(self.records[i][0]), self.records[i][1]) for i in contenders])
        parent = contenders[best if best is not None else 0]
        return mutate(Topology.parse(self.records[parent][0]), self.rng, self.mutation_rate)

    def observe(self, topology: Topology, values: Mapping[str, float], reward: float) -> None:
        super().observe(topology, values, reward)
        self.population.append(len(self.records) - 1)
        if len(self.population) > self.size:
            self.population.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": list(self.population)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = list(state["population"])
