"""Where the stages that fan out work run their tasks: a local pool of processes, or a Dask
distributed cluster (docs/cluster.md).

Both hand out a :class:`concurrent.futures.Executor`, so a stage submits its tasks the same way and
collects the results in submission order whichever engine runs them: the tables come out identical.
Every task runs torch on one thread (a pool of single-threaded processes, one per core), so a task
computes exactly what it computes in the local pool. The engine is a setting of where, never of
what: it is not part of any cached output.

- ``local``: ``workers`` spawned processes; 1 worker runs the tasks in the calling process.
- ``dask``: the tasks go to the scheduler at ``address`` (or ``$DASK_SCHEDULER_ADDRESS``) through
  ``distributed.Client.get_executor``. Dask reruns the tasks of a worker that dies on the others;
  a task that raises is retried ``retries`` times. Tasks marked ``gpu`` ask for one unit of the
  workers' ``GPU`` resource when the cluster has one, so each GPU worker runs one at a time and CPU
  workers none; without GPU workers they run on the CPU workers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from .errors import AsvitError

if TYPE_CHECKING:
    from .config import ExecutorParams

ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
GPU_RESOURCE = "GPU"


class EngineError(AsvitError):
    """The engine cannot run the tasks: no scheduler at the address, or a worker lost for good."""


def exit_with_parent(parent: int, poll_seconds: float = 0.5) -> None:
    """Pool initializer: a daemon thread ends this worker within ``poll_seconds`` of its parent's death
    (the worker is then re-parented), so a killed stage leaves no process computing or idling behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def single_threaded(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` with torch on one thread: how every task of an engine runs."""
    torch.set_num_threads(1)
    return fn(*args)


@dataclass(frozen=True)
class Engine:
    """Which engine runs fanned-out tasks and how to reach it (the ``executor`` params section)."""

    name: Literal["local", "dask"] = "local"
    workers: int = 1
    address: str | None = None
    connect_timeout: float = 10.0
    retries: int = 1

    @classmethod
    def local(cls, workers: int = 1) -> Engine:
        return cls("local", workers)

    @classmethod
    def from_params(cls, params: ExecutorParams, workers: int) -> Engine:
        """The engine the ``executor`` params describe, with ``workers`` local processes."""
        return cls(params.engine, workers, params.address, params.connect_timeout, params.retries)

    @property
    def parallel(self) -> bool:
        """Whether tasks leave the calling process."""
        return self.name != "local" or self.workers > 1

    def scheduler_address(self) -> str:
        """``address``, else ``$DASK_SCHEDULER_ADDRESS``; an error names both when neither is set."""
        address = self.address or os.environ.get(ADDRESS_VARIABLE)
        if not address:
            raise EngineError(f"executor.address: the dask engine needs a scheduler address (tcp://host:8786) "
                              f"in params.yaml or ${ADDRESS_VARIABLE}")
        return address

    @contextmanager
    def executor(self, gpu: bool = False) -> Iterator[Executor]:
        """An executor for tasks submitted as ``submit(fn, *args)``, shut down on exit; ``gpu`` marks
        tasks that want a GPU worker of their own. Connecting fails with one line naming the address."""
        if self.name == "local":
            if self.workers < 2:
                raise ValueError(f"a local pool needs at least 2 workers, got {self.workers}")
            pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=exit_with_parent, initargs=(os.getpid(),))
            try:
                yield _SingleThreaded(pool)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            return
        with self._client() as client:
            resources = {GPU_RESOURCE: 1} if gpu and _has_gpu_workers(client) else None
            yield _SingleThreaded(client.get_executor(pure=False, retries=self.retries, resources=resources))

    @contextmanager
    def _client(self) -> Iterator[Any]:
        from distributed import Client

        address = self.scheduler_address()
        try:
            client = Client(address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise EngineError(f"executor.address: no Dask scheduler answers at {address} within "
                              f"{self.connect_timeout:g} s ({type(error).__name__})") from None
        try:
            yield client
        finally:
            client.close()


def _has_gpu_workers(client: Any) -> bool:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return any(worker.get("resources", {}).get(GPU_RESOURCE, 0) >= 1 for worker in workers)


class _SingleThreaded(Executor):
    """An engine's executor (a local pool or a Dask ``ClientExecutor``) whose tasks run with torch on
    one thread."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._inner.submit(single_threaded, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)


def task_result(future: Future, what: str) -> Any:
    """``future.result()``; a worker lost for good (a local process killed, or a task whose Dask
    workers died more often than the scheduler allows) becomes one :class:`EngineError` naming ``what``."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise EngineError(f"a worker process died while {what} (killed for lack of memory?); results "
                          "finished before are kept; lower proxy.workers or groundtruth.workers") from None
    except Exception as error:
        from distributed import KilledWorker

        if not isinstance(error, KilledWorker):
            raise
        raise EngineError(f"Dask workers died {what} more often than the scheduler retries "
                          f"(distributed.scheduler.allowed-failures); results finished before are kept") from None
