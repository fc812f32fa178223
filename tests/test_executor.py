"""The executor engines: a real Dask scheduler and worker processes on loopback compute the same
tables as the local pool, survive a worker killed mid-run, place training on GPU workers, and an
unreachable scheduler stops a stage with one line before any work."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from asvit.cli import main
from asvit.config import Recipe, parse_params
from asvit.data import prepare_classification
from asvit.executor import ADDRESS_VARIABLE, Engine, EngineError
from asvit.groundtruth import train_groundtruth
from asvit.proxies.scoring import ScoreSettings, score_file
from asvit.records import ArchRecord, write_records
from asvit.space import sample_topologies

from .servers import dask_cluster, free_port

ROOT = Path(__file__).resolve().parents[1]
RECIPE = Recipe(epochs=2, batch_size=16, lr=1e-3, warmup_epochs=0, phase_ends=None)
PROXIES = ["length_distortion", "ntk_cond"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    prepare_classification("generated", out, image_size=32, seed=0, num_classes=3, train_size=48, val_size=24)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask"), {"w0": None, "w1": None}) as running:
        yield running


@pytest.fixture(scope="module")
def topologies():
    return sample_topologies(4, 0)


@pytest.fixture(scope="module")
def local_groundtruth(topologies, data, tmp_path_factory):
    """The ground-truth table of the local pool, the reference of every cluster run."""
    return train(topologies, data, tmp_path_factory.mktemp("local") / "groundtruth.csv", Engine.local(2))


@pytest.fixture
def archs(tmp_path, topologies):
    path = tmp_path / "archs.jsonl"
    write_records(path, [{"id": f"t{i}", "topology": str(t.scaled(width=4))} for i, t in enumerate(topologies[:3])])
    return path


def score(archs, data, out, engine):
    settings = ScoreSettings(image_size=32, batch_size=4, repeats=2, num_classes=3).from_images(data)
    score_file(archs, "asvit", PROXIES, settings, out, progress=False, engine=engine)
    return out.read_text()


def train(topologies, data, out, engine):
    records = [ArchRecord(f"arch-{i}", t, {}) for i, t in enumerate(topologies)]
    train_groundtruth(records, data, RECIPE, width=4, out=out, state_dir=out.parent / f"{out.stem}-state",
                      progress=False, engine=engine, seeds=2)
    return out.read_text()


@pytest.mark.e2e
def test_score_through_the_cluster_equals_the_local_pool(cluster, archs, data, tmp_path):
    local = score(archs, data, tmp_path / "local.csv", Engine.local(2))
    remote = score(archs, data, tmp_path / "dask.csv", Engine("dask", address=cluster.address))
    assert remote == local
    assert len(local.splitlines()) == 4


@pytest.mark.e2e
def test_groundtruth_through_the_cluster_equals_the_local_pool(cluster, topologies, data, tmp_path,
                                                              local_groundtruth):
    remote = train(topologies, data, tmp_path / "dask.csv", Engine("dask", address=cluster.address))
    assert remote == local_groundtruth
    assert len(remote.splitlines()) == 5


@pytest.mark.e2e
def test_a_worker_killed_mid_run_still_ends_with_the_same_table(topologies, data, tmp_path, local_groundtruth):
    from distributed import Client

    (tmp_path / "dask").mkdir()
    with dask_cluster(tmp_path / "dask", {"w0": None, "w1": None}) as running:
        result: dict[str, str] = {}
        run = threading.Thread(target=lambda: result.update(table=train(
            topologies, data, tmp_path / "dask.csv", Engine("dask", address=running.address))))
        with Client(running.address, set_as_default=False) as client:
            run.start()
            deadline = time.monotonic() + 120
            victim = None
            while victim is None and time.monotonic() < deadline:
                names = {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
                if client.processing().get(names.get("w0"), ()):
                    victim = names["w0"]
                time.sleep(0.02)
            assert victim is not None, "w0 never received a topology"
            running.kill("w0")
            run.join(timeout=300)
            assert victim not in client.scheduler_info(n_workers=-1)["workers"]
    assert result["table"] == local_groundtruth


@pytest.mark.e2e
def test_training_tasks_go_to_gpu_workers_one_at_a_time(tmp_path):
    with dask_cluster(tmp_path, {"cpu": None, "gpu": "GPU=1"}) as running:
        engine = Engine("dask", address=running.address)
        with engine.executor(gpu=True) as pool:
            ran_on = {pool.submit(os.getpid).result() for _ in range(6)}
        assert ran_on == {running.workers["gpu"].pid}
        with engine.executor() as pool:  # proxy tasks use every worker
            futures = [pool.submit(time.sleep, 0.3) for _ in range(4)]
            assert [f.result() for f in futures] == [None] * 4


@pytest.mark.e2e
def test_gpu_tasks_run_on_cpu_workers_when_the_cluster_has_no_gpu(cluster):
    with Engine("dask", address=cluster.address).executor(gpu=True) as pool:
        assert pool.submit(sum, [1, 2, 3]).result() == 6


def test_an_unreachable_scheduler_stops_with_one_line_naming_the_address(archs, data, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "scores.csv"
    with pytest.raises(EngineError, match=rf"^executor\.address: no Dask scheduler answers at {address} ") as error:
        score(archs, data, out, Engine("dask", address=address, connect_timeout=1))
    assert "\n" not in str(error.value)
    assert not out.exists()


@pytest.mark.e2e
def test_the_score_command_line_measures_on_the_cluster(cluster, archs, tmp_path):
    args = ["score", "--archs", str(archs), "--space", "asvit", "--proxies", "params,length_distortion",
            "--image-size", "32", "--repeats", "2", "--inputs", "noise"]
    main([*args, "--out", str(tmp_path / "local.csv"), "--workers", "2"])
    main([*args, "--out", str(tmp_path / "dask.csv"), "--dask", cluster.address])
    assert (tmp_path / "dask.csv").read_text() == (tmp_path / "local.csv").read_text()


def test_the_dask_engine_needs_an_address(monkeypatch):
    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    with pytest.raises(EngineError, match=rf"executor\.address: .*\${ADDRESS_VARIABLE}"):
        Engine("dask").scheduler_address()
    monkeypatch.setenv(ADDRESS_VARIABLE, "tcp://10.0.0.7:8786")
    assert Engine("dask").scheduler_address() == "tcp://10.0.0.7:8786"
    assert Engine("dask", address="tcp://127.0.0.1:1").scheduler_address() == "tcp://127.0.0.1:1"


def test_the_executor_params_build_the_engine_and_name_bad_keys():
    params = parse_params({"executor": {"engine": "dask", "address": "tcp://h:8786", "retries": 2}})
    assert Engine.from_params(params.executor, 3) == Engine("dask", 3, "tcp://h:8786", 10.0, 2)
    assert Engine.from_params(parse_params({}).executor, 2) == Engine.local(2)
    with pytest.raises(Exception, match=r"executor\.engine: "):
        parse_params({"executor": {"engine": "ray"}}, "params.yaml")


def test_where_the_work_runs_is_in_no_stage_dependency():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    keys = [key for stage in stages.values() for entry in stage.get("params", [])
            for key in (entry if isinstance(entry, dict) else {entry: None})]
    assert "groundtruth.recipe" in keys
    assert not [key for key in keys if key.startswith("executor") or key.endswith("workers")
                or key in ("groundtruth", "proxy")]


@pytest.mark.e2e
def test_a_killed_scoring_leaves_no_worker_behind(tmp_path):
    import signal
    import subprocess
    import sys

    import psutil

    write_records(tmp_path / "archs.jsonl", [{"id": f"a{i}", "topology": t.seed_string()}
                                             for i, t in enumerate(sample_topologies(12, seed=5))])
    scoring = subprocess.Popen(
        [sys.executable, "-m", "asvit.cli", "score", "--space", "asvit", "--archs", "archs.jsonl", "--proxies",
         "ntk_cond,length_distortion", "--inputs", "noise", "--image-size", "64", "--repeats", "3", "--workers", "2",
         "--out", "scores.csv"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(scoring.pid)
    deadline = time.monotonic() + 120
    while len(workers := parent.children(recursive=True)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)  # the resource tracker and the two pool workers
    assert len(workers) >= 3, workers
    time.sleep(2)  # the workers are computing
    scoring.send_signal(signal.SIGKILL)
    scoring.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], [p.cmdline()[-2:] for p in alive]
