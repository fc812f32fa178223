"""The one-shot supernet baseline end to end: train the supernet, measure every sampled
architecture's inherited-weight accuracy, and search the supernet by evolution."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..config import EvolutionParams, Recipe
from ..fingerprint import source_digest
from ..records import ArchRecord
from ..table import ResumableTable
from ..train import EpochRecord, FitResult, fit
from .evolution import EvolutionResult, evolve
from .spaces import SupernetSetup
from .training import SampledSubnets, inherited_accuracy

COLUMNS = ["inherited_top1", "inherited_top5"]
# What inherited accuracies depend on besides the settings: a change measures them afresh.
SUPERNET_CODE = ("asvit.supernet", "asvit.train", "asvit.models", "asvit.space", "asvit.data")


def train_supernet(setup: SupernetSetup, train_set: Dataset, heldout_set: Dataset, recipe: Recipe, seed: int,
                   checkpoint_dir: Path, progress: bool = True,
                   on_epoch: Callable[[list[EpochRecord]], None] | None = None) -> FitResult:
    """Train ``setup.supernet`` one uniformly drawn subnet per step with ``recipe``, checkpointing
    every epoch in ``checkpoint_dir`` and resuming from it; each epoch's validation is the largest
    subnet's accuracy on ``heldout_set``."""
    torch.manual_seed(seed)
    model = SampledSubnets(setup.supernet, setup.draw, setup.largest, setup.spec, seed)
    return fit(model, train_set, heldout_set, recipe, checkpoint_dir=checkpoint_dir, progress=progress, seed=seed,
               on_epoch=on_epoch, key="supernet.recipe", desc="supernet")


def subnet_params(setup: SupernetSetup, subnet: Any) -> int:
    """Parameters of ``subnet`` as a standalone network: the sizes of its slices of the shared weights."""
    with torch.no_grad():
        return sum(w.numel() for w in setup.supernet.subnet_weights(subnet).values())


def score_inherited(setup: SupernetSetup, records: Sequence[ArchRecord], heldout_set: Dataset, out: Path,
                    settings: dict[str, Any], batch_size: int = 256, progress: bool = True,
                    seconds: Path | None = None) -> dict[str, Any]:
    """Append every record's inherited-weight top-1/top-5 on ``heldout_set`` to the table ``out``
    (rows already measured with the same ``settings`` and code are kept); return how many were
    measured now and the mean seconds per architecture, over the rows measured now and those the
    ledger ``seconds`` holds (see :class:`~asvit.table.ResumableTable`)."""
    networks = {record.id: setup.network(record.arch) for record in records}
    for record in records:
        setup.check(networks[record.id])
    table = ResumableTable(out, COLUMNS, {**settings, "code": source_digest(*SUPERNET_CODE)}, seconds)
    done = table.resume({record.id: str(record.arch) for record in records})
    todo = [record for record in records if record.id not in done]
    for record in tqdm(todo, desc="inherited accuracy", unit="arch", disable=not progress):
        start = time.perf_counter()
        accuracy = inherited_accuracy(setup.supernet, networks[record.id], heldout_set, batch_size)
        table.append({"id": record.id, "arch": str(record.arch), "inherited_top1": accuracy["top1"],
                      "inherited_top5": accuracy["top5"]}, {"inherited": time.perf_counter() - start})
    return {"measured_now": len(todo), "resumed": len(done),
            "seconds_per_architecture": table.mean_seconds().get("inherited")}


def search_supernet(setup: SupernetSetup, heldout_set: Dataset, config: EvolutionParams, batch_size: int = 256,
                    progress: bool = True) -> EvolutionResult:
    """AutoFormer's evolution over the trained supernet; fitness is the inherited top-1 on ``heldout_set``."""
    def fitness(arch: Any) -> float:
        return inherited_accuracy(setup.supernet, arch, heldout_set, batch_size)["top1"]

    return evolve(setup.ops, fitness, lambda arch: subnet_params(setup, arch), population=config.population,
                  generations=config.generations, parents=config.parents, mutations=config.mutations,
                  crossovers=config.crossovers, min_params=config.min_params, max_params=config.max_params,
                  seed=config.seed, progress=progress, key="supernet.evolution")
