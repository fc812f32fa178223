"""What the supernet stage needs of each search space, in a registry keyed by the record format:
the supernet, one training step's subnet, evolution's operators, and how a sampled record maps to
a subnet."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from ..config import Params
from ..registry import Registry
from ..space import AutoFormerArch, TopologyError, sample_topology, space_for
from ..train.retokenize import FINAL_STRIDE
from .asvit import SuperASViT, largest_topology
from .autoformer import SuperAutoFormer, sample_subnet
from .evolution import ASViTOps, AutoFormerOps, SpaceOps
from .training import SupernetSpec


@dataclass(frozen=True)
class SupernetSetup:
    """A supernet over one space and the functions around it.

    ``draw(rng)`` is one training step's subnet; ``network(arch)`` the subnet that a sampled record's
    architecture runs as (an As-ViT seed topology at the ground truth's width); ``check`` raises the
    space's error for an architecture outside the supernet; ``record(arch)`` writes an architecture
    as JSON fields."""

    supernet: nn.Module
    spec: SupernetSpec
    draw: Callable[[random.Random], Any]
    largest: Any
    ops: SpaceOps
    network: Callable[[Any], Any]
    check: Callable[[Any], None]
    record: Callable[[Any], dict[str, Any]]


def _autoformer(params: Params, num_classes: int, image_size: int) -> SupernetSetup:
    space, vitas, evolution = space_for(params.space), params.supernet.vitas, params.supernet.evolution
    supernet = SuperAutoFormer(space, num_classes, image_size, cyclic=vitas.cyclic_sharing)
    spec = SupernetSpec(str(supernet.largest_arch), vitas.cyclic_sharing, vitas.identity_shifting, space.patch_size)
    return SupernetSetup(supernet, spec, partial(sample_subnet, space, identity_shifting=vitas.identity_shifting),
                         supernet.largest_arch,
                         AutoFormerOps(space, evolution.mutation_prob, evolution.layer_mutation_prob),
                         network=lambda arch: arch, check=supernet.check, record=AutoFormerArch.to_record)


def _asvit(params: Params, num_classes: int, image_size: int) -> SupernetSetup:
    width = params.groundtruth.width
    try:
        supernet = SuperASViT(width, num_classes)
    except TopologyError as exc:
        raise TopologyError(f"groundtruth.width (the As-ViT supernet's stage-1 width): {exc}") from None
    largest = largest_topology(width)
    # one stage-1 width and one layer per stage: cyclic sharing and identity shifting do not apply
    # the As-ViT tokenizer's final stride is its token "patch"
    spec = SupernetSpec(largest.scaled_string(), False, False, FINAL_STRIDE)
    return SupernetSetup(supernet, spec, lambda rng: sample_topology(rng).scaled(width=width), largest,
                         ASViTOps(width=width, mutation_prob=params.supernet.evolution.mutation_prob),
                         network=lambda topology: topology.scaled(width=width), check=supernet.check,
                         record=lambda topology: {"seed": topology.seed_string()})


SUPERNETS: Registry[Callable[[Params, int, int], SupernetSetup]] = Registry(
    "supernet space format", {"asvit": _asvit, "autoformer": _autoformer})


def supernet_setup(params: Params, num_classes: int, image_size: int) -> SupernetSetup:
    """The supernet of ``params.space`` for ``num_classes`` classes and ``image_size`` px images; its
    initial weights are a function of ``supernet.seed`` (the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.supernet.seed)
        return SUPERNETS.lookup(params.space.record_format)(params, num_classes, image_size)
