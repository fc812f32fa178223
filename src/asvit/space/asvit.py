"""The As-ViT search space: 13 categorical decisions, their text forms, sampling and mutation.

Seed form ``K,S,E|K,S,E|K,S,E|K,S,E|H`` (depth 1 per stage, stage-1 width C = 32);
scaled form ``K,S,E,L|K,S,E,L|K,S,E,L|K,S,E,L|H,C`` with L the depth of each stage.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from ..errors import AsvitError

SEED_WIDTH = 32
MAX_WIDTH = 1024  # stage widths are min(mC, MAX_WIDTH), so a large C cannot make a network too large
MAX_DEPTH = 64  # blocks per stage: far past the paper's largest family member (5), small enough to build


class TopologyError(AsvitError):
    """A topology string or value outside the As-ViT search space."""


@dataclass(frozen=True)
class Decision:
    """One categorical decision of the space: its name and the values it may take."""

    name: str
    choices: tuple[int, ...]


# In the order the seed form writes them: K1,S1,E1 | K2,S2,E2 | K3,S3,E3 | K4,S4,E4 | H.
DECISIONS: tuple[Decision, ...] = (
    Decision("K1", (4, 5, 6, 7, 8)), Decision("S1", (2, 4, 8)), Decision("E1", (2, 3, 4, 5, 6)),
    Decision("K2", (2, 3, 4)), Decision("S2", (1, 2, 4)), Decision("E2", (2, 3, 4, 5, 6)),
    Decision("K3", (2, 3, 4)), Decision("S3", (1, 2)), Decision("E3", (2, 3, 4, 5, 6)),
    Decision("K4", (2, 3, 4)), Decision("S4", (1,)), Decision("E4", (2, 3, 4, 5, 6)),
    Decision("H", (16, 32, 64)),
)
SPACE_SIZE = math.prod(len(d.choices) for d in DECISIONS)


@dataclass(frozen=True)
class Topology:
    """An As-ViT network: per-stage kernel K, attention split S, FFN expansion E and depth L,
    last-stage head count H and stage-1 width C (stage widths min(mC, 1024) for m = 1, 2, 4, 8)."""

    kernels: tuple[int, int, int, int]
    splits: tuple[int, int, int, int]
    expansions: tuple[int, int, int, int]
    heads: int
    depths: tuple[int, int, int, int] = (1, 1, 1, 1)
    width: int = SEED_WIDTH

    def __post_init__(self) -> None:
        for decision, value in zip(DECISIONS, self.decisions):
            if value not in decision.choices:
                raise TopologyError(
                    f"{decision.name} = {value} is not allowed; allowed values: "
                    f"{', '.join(map(str, decision.choices))}")
        for stage, depth in enumerate(self.depths, start=1):
            if not 1 <= depth <= MAX_DEPTH:
                raise TopologyError(f"L{stage} = {depth}: a stage depth must be 1 to {MAX_DEPTH}")
        if self.width < 1:
            raise TopologyError(f"C = {self.width}: the stage-1 width must be at least 1")

    @property
    def decisions(self) -> tuple[int, ...]:
        """The 13 decision values in seed-form order."""
        per_stage = zip(self.kernels, self.splits, self.expansions)
        return tuple(v for stage in per_stage for v in stage) + (self.heads,)

    @classmethod
    def from_decisions(cls, values: tuple[int, ...] | list[int], depths: tuple[int, ...] = (1, 1, 1, 1),
                       width: int = SEED_WIDTH) -> Topology:
        """Build from the 13 decision values in seed-form order."""
        if len(values) != len(DECISIONS):
            raise TopologyError(f"expected {len(DECISIONS)} decisions, got {len(values)}")
        return cls(kernels=tuple(values[0:12:3]), splits=tuple(values[1:12:3]),
                   expansions=tuple(values[2:12:3]), heads=values[12], depths=tuple(depths), width=width)

    @property
    def widths(self) -> tuple[int, int, int, int]:
        return tuple(min(m * self.width, MAX_WIDTH) for m in (1, 2, 4, 8))

    @property
    def stage_heads(self) -> tuple[int, int, int, int]:
        h = self.heads
        return (h // 8, h // 4, h // 2, h)

    @property
    def is_seed(self) -> bool:
        return self.depths == (1, 1, 1, 1) and self.width == SEED_WIDTH

    def seed_string(self) -> str:
        """The seed form: the 13 decisions only."""
        stages = ["{},{},{}".format(*s) for s in zip(self.kernels, self.splits, self.expansions)]
        return "|".join(stages + [str(self.heads)])

    def scaled_string(self) -> str:
        """The scaled form: decisions plus per-stage depth and the stage-1 width."""
        stages = ["{},{},{},{}".format(*s)
                  for s in zip(self.kernels, self.splits, self.expansions, self.depths)]
        return "|".join(stages + [f"{self.heads},{self.width}"])

    def __str__(self) -> str:
        return self.seed_string() if self.is_seed else self.scaled_string()

    def scaled(self, depths: tuple[int, ...] | None = None, width: int | None = None) -> Topology:
        """The same decisions with other depths and/or stage-1 width."""
        return replace(self, depths=tuple(depths) if depths is not None else self.depths,
                       width=width if width is not None else self.width)

    @classmethod
    def parse(cls, text: str) -> Topology:
        """Parse the seed or the scaled form; errors name the field position and allowed values."""
        return parse_topology(text)


def _field_names(scaled: bool) -> list[list[str]]:
    stage_fields = ["K", "S", "E", "L"] if scaled else ["K", "S", "E"]
    names = [[f"{f}{stage}" for f in stage_fields] for stage in range(1, 5)]
    return names + [["H", "C"] if scaled else ["H"]]


def parse_topology(text: str) -> Topology:
    """Parse ``K,S,E|...|H`` or ``K,S,E,L|...|H,C`` into a :class:`Topology`."""
    if not isinstance(text, str):
        raise TopologyError(f"topology must be a string, got {type(text).__name__}")
    groups = text.strip().split("|")
    if len(groups) != 5:
        raise TopologyError(
            f"topology {text!r}: expected 5 groups separated by '|' (4 stages and the heads), "
            f"got {len(groups)}")
    scaled = len(groups[0].split(",")) == 4
    expected = _field_names(scaled)
    values: dict[str, int] = {}
    position = 0
    for group_index, (group, names) in enumerate(zip(groups, expected), start=1):
        fields = group.split(",")
        if len(fields) != len(names):
            form = "scaled" if scaled else "seed"
            raise TopologyError(
                f"topology {text!r}: group {group_index} {group!r} has {len(fields)} fields; "
                f"the {form} form expects {len(names)} ({','.join(names)})")
        for name, field in zip(names, fields):
            position += 1
            try:
                values[name] = int(field.strip())
            except ValueError:
                raise TopologyError(
                    f"topology {text!r}: field {position} ({name}) is {field!r}, not an integer; "
                    f"allowed values: {_allowed(name)}") from None
            allowed = _choices(name)
            if (values[name] not in allowed) if allowed is not None else (values[name] < 1):
                raise TopologyError(
                    f"topology {text!r}: field {position} ({name}) is {values[name]}; "
                    f"allowed values: {_allowed(name)}")
    decisions = [values[d.name] for d in DECISIONS]
    if scaled:
        return Topology.from_decisions(decisions, depths=tuple(values[f"L{i}"] for i in range(1, 5)),
                                       width=values["C"])
    return Topology.from_decisions(decisions)


def _choices(name: str) -> tuple[int, ...] | None:
    for decision in DECISIONS:
        if decision.name == name:
            return decision.choices
    return None


def _allowed(name: str) -> str:
    choices = _choices(name)
    return ", ".join(map(str, choices)) if choices is not None else "any integer >= 1"


def sample_topology(rng: random.Random) -> Topology:
    """One topology drawn uniformly from the space."""
    return Topology.from_decisions([rng.choice(d.choices) for d in DECISIONS])


def sample_topologies(count: int, seed: int) -> list[Topology]:
    """``count`` distinct topologies drawn uniformly with a seeded generator."""
    if count > SPACE_SIZE:
        raise TopologyError(f"cannot draw {count} distinct topologies from a space of {SPACE_SIZE}")
    rng = random.Random(seed)
    seen: dict[str, Topology] = {}
    while len(seen) < count:
        topology = sample_topology(rng)
        seen.setdefault(topology.seed_string(), topology)
    return list(seen.values())


def mutate(topology: Topology, rng: random.Random, probability: float) -> Topology:
    """Resample each decision with ``probability``; at least one decision changes."""
    values = list(topology.decisions)
    mutable = [i for i, d in enumerate(DECISIONS) if len(d.choices) > 1]
    forced = rng.choice(mutable)
    for i in mutable:
        if i == forced or rng.random() < probability:
            values[i] = rng.choice([c for c in DECISIONS[i].choices if c != values[i]])
    return Topology.from_decisions(values, depths=topology.depths, width=topology.width)
