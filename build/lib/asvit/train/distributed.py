"""Multi-process training: ``torch.distributed`` set up from the variables ``torchrun`` exports
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), NCCL on GPUs and gloo on CPUs.
Only rank 0 writes files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: its rank among ``world_size`` and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def default_device(local_rank: int = 0) -> torch.device:
    """The process's GPU (``cuda:LOCAL_RANK``) when there is one, else the CPU."""
    return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")


def current() -> DistInfo:
    """The running job as seen from this process (a single process when no group is initialised)."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, default_device(local_rank))
    return DistInfo(0, 1, 0, default_device(0))


@contextmanager
def distributed() -> Iterator[DistInfo]:
    """Join the process group when launched by ``torchrun`` with WORLD_SIZE > 1 (NCCL on GPU, gloo on
    CPU) and leave it on exit; a plain ``python`` launch runs as a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1 or dist.is_initialized():
        yield current()
        return
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` over all processes (unchanged for a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` for a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered
