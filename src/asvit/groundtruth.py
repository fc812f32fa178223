"""Ground truth for the Kendall-tau study: every sampled architecture (an As-ViT topology at the
stage-1 width ``groundtruth.width``, or an AutoFormer-space network) trained with one fixed recipe on
the prepared dataset from ``seeds`` training seeds, its validation accuracy recorded per seed and
averaged. Two seeds give the ground truth's own test-retest agreement (:func:`seed_columns`), the
ceiling no predictor of it can pass.

Each finished topology is one appended row of the results table; the topology in progress keeps
an every-epoch checkpoint, so an interrupted run continues inside it (``asvit.train.fit``). On a
parallel engine (``groundtruth.workers`` local processes, or a Dask cluster: ``asvit.executor``),
topologies train side by side, one torch thread each: tiny networks gain little from a second
thread, and two threads per process on a busy machine spin against each other. A cluster's GPU
workers each train one topology at a time on their GPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .config import Recipe
from .data import dataset_info, open_classification
from .errors import AsvitError
from .executor import Engine, task_result
from .fingerprint import source_digest
from .models import Architecture, build_network
from .records import ArchRecord
from .space import AutoFormerArch, Topology
from .table import ResumableTable
from .train import check_fit, fit

COLUMNS = ["val_top1", "val_top5", "params"]  # a deterministic table: the seconds go to the metrics


def seed_columns(column: str, seeds: int) -> list[str]:
    """The per-seed columns of an averaged accuracy column: ``val_top1_seed0``, ``val_top1_seed1``, ..."""
    return [f"{column}_seed{k}" for k in range(seeds)]


def table_columns(seeds: int) -> list[str]:
    """The ground-truth table's columns: the seed means, the parameters, then each seed's accuracies."""
    return [*COLUMNS, *seed_columns("val_top1", seeds), *seed_columns("val_top5", seeds)]
# What a trained accuracy depends on besides the settings: a change retrains from scratch.
TRAINING_CODE = ("asvit.groundtruth", "asvit.train", "asvit.models", "asvit.space", "asvit.data")


@dataclass(frozen=True)
class TrainingJob:
    """One architecture to train: everything a worker process needs."""

    id: str
    arch: str
    network: Architecture
    data_dir: Path
    recipe: Recipe
    num_classes: int
    seeds: tuple[int, ...]
    checkpoints: Path
    key: str


def train_one(job: TrainingJob) -> tuple[dict[str, object], float]:
    """Train ``job.network`` from each of ``job.seeds`` (each seed continuing its own checkpoint, kept
    until every seed is done); return its row and its training seconds."""
    train_set, val_set = open_classification(job.data_dir, "train"), open_classification(job.data_dir, "val")
    row: dict[str, object] = {"id": job.id, "arch": job.arch}
    seconds = 0.0
    image_size = int(train_set[0][0].shape[-1])
    for k, seed in enumerate(job.seeds):
        torch.manual_seed(seed)
        model = build_network(job.network, job.num_classes, image_size, job.recipe.drop_path)
        result = fit(model, train_set, val_set, job.recipe, checkpoint_dir=job.checkpoints / f"seed{k}",
                     progress=False, seed=seed, key=job.key, desc=job.id, validate_every_epoch=False)
        row.update({f"val_top1_seed{k}": result.top1, f"val_top5_seed{k}": result.top5,
                    "params": sum(p.numel() for p in model.parameters())})
        seconds += result.train_seconds
    shutil.rmtree(job.checkpoints, ignore_errors=True)
    for column in ("val_top1", "val_top5"):
        row[column] = sum(row[c] for c in seed_columns(column, len(job.seeds))) / len(job.seeds)
    return row, seconds


def _run(jobs: Sequence[TrainingJob], pool: Executor | None) -> Iterator[tuple[dict[str, object], float]]:
    """The results of ``jobs`` in their order (so the table's row order does not depend on which
    worker finishes first): in this process, or on the workers of ``pool``."""
    if pool is None:
        yield from map(train_one, jobs)
        return
    for job, future in [(job, pool.submit(train_one, job)) for job in jobs]:
        yield task_result(future, f"training {job.id}")


def training_size(arch: Architecture, width: int) -> Architecture:
    """``arch`` as it is trained: an As-ViT topology at stage-1 width ``width``, anything else as it is."""
    return arch.scaled(width=width) if isinstance(arch, Topology) else arch


def train_groundtruth(records: Sequence[ArchRecord], data_dir: Path, recipe: Recipe, width: int, out: Path,
                      state_dir: Path, seed: int = 0, progress: bool = True, engine: Engine = Engine(),
                      key: str = "groundtruth", seeds: int = 1, seconds: Path | None = None,
                      desc: str = "groundtruth") -> dict[str, object]:
    """Train each record (As-ViT topologies at stage-1 width ``width``, AutoFormer-space networks as
    they are) from seeds ``seed``, ..., ``seed + seeds - 1`` and append its validation accuracies to
    ``out``; every architecture is checked against the recipe and the data before any training.
    ``seconds`` is the ledger of each row's training seconds (see :class:`~asvit.table.ResumableTable`):
    the summary's mean covers the rows it holds as well as those trained now; ``desc`` labels the
    progress bar."""
    info = dataset_info(data_dir)
    train_size = len(open_classification(data_dir, "train"))
    jobs = []
    for record in records:
        network = training_size(record.arch, width)
        check_fit(recipe, network, info["image_size"], train_size, key=f"{key}.recipe")
        if isinstance(network, AutoFormerArch) and info["image_size"] % network.patch_size:
            raise AsvitError(f"{key}: record {record.id!r} has patch size {network.patch_size}, which does not "
                             f"divide the {info['image_size']} px images of {data_dir}")
        jobs.append(TrainingJob(record.id, str(record.arch), network, Path(data_dir).resolve(), recipe,
                                info["num_classes"], tuple(range(seed, seed + seeds)),
                                Path(state_dir).resolve() / record.id, f"{key}.recipe"))
    with ExitStack() as stack:  # the engine is reached before the table is touched
        pool = stack.enter_context(engine.executor(gpu=True)) if engine.parallel else None
        table = ResumableTable(out, table_columns(seeds), {"recipe": recipe.model_dump(), "width": width,
                                                           "seed": seed, "seeds": seeds, "data": info,
                                                           "code": source_digest(*TRAINING_CODE)}, seconds)
        done = table.resume({job.id: job.arch for job in jobs})
        todo = [job for job in jobs if job.id not in done]
        for row, train_seconds in tqdm(_run(todo, pool), total=len(todo), desc=desc, unit="arch",
                                       disable=not progress):
            table.append(row, {"train": train_seconds})
    return {"topologies": len(records), "trained_now": len(todo), "resumed": len(done),
            "train_seconds_per_topology": table.mean_seconds().get("train")}
