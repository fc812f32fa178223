"""A tiny profile of ``score`` and ``groundtruth`` on the local pool beside the same work through a
Dask cluster on this machine, measured side by side in one run, with the cluster's own start-up.

    python benchmarks/executor_overhead.py [--topologies 8] [--workers 2] [--epochs 2]

The cluster is a ``distributed.LocalCluster`` of ``--workers`` single-threaded worker processes on
127.0.0.1, the same count as the local pool. Prints the seconds of each, their ratio (Dask / local),
the cluster's start-up seconds, and checks that both engines wrote the same tables.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from asvit.config import Recipe
from asvit.data import prepare_classification
from asvit.executor import Engine
from asvit.groundtruth import train_groundtruth
from asvit.proxies.scoring import ScoreSettings, score_file
from asvit.records import ArchRecord, write_records
from asvit.space import sample_topologies


def run_profile(engine: Engine, topologies: list, data: Path, out: Path, epochs: int) -> dict[str, float]:
    """Seconds of scoring and of training the topologies on ``engine``; tables written under ``out``."""
    out.mkdir()
    archs = out / "archs.jsonl"
    write_records(archs, [{"id": f"t{i}", "topology": str(t.scaled(width=8))} for i, t in enumerate(topologies)])
    settings = ScoreSettings(image_size=32, batch_size=8, repeats=2, num_classes=10).from_images(data)
    start = time.perf_counter()
    score_file(archs, "asvit", ["length_distortion", "ntk_cond", "params"], settings, out / "scores.csv",
               progress=False, engine=engine)
    scored = time.perf_counter()
    recipe = Recipe(epochs=epochs, batch_size=32, lr=2e-3, warmup_epochs=0, phase_ends=None)
    records = [ArchRecord(f"arch-{i}", t, {}) for i, t in enumerate(topologies)]
    train_groundtruth(records, data, recipe, width=8, out=out / "groundtruth.csv", state_dir=out / "state",
                      progress=False, engine=engine, seeds=2)
    return {"score": scored - start, "groundtruth": time.perf_counter() - scored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topologies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="local processes and Dask workers")
    parser.add_argument("--epochs", type=int, default=2, help="ground-truth epochs per topology and seed")
    args = parser.parse_args()

    from distributed import LocalCluster

    topologies = sample_topologies(args.topologies, 0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "cls"
        prepare_classification("generated", data, image_size=32, seed=0, num_classes=10, train_size=256,
                               val_size=256)
        local = run_profile(Engine.local(args.workers), topologies, data, root / "local", args.epochs)
        start = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            startup = time.perf_counter() - start
            remote = run_profile(Engine("dask", address=cluster.scheduler_address), topologies, data,
                                 root / "dask", args.epochs)
        same = all((root / "local" / name).read_text() == (root / "dask" / name).read_text()
                   for name in ("scores.csv", "groundtruth.csv"))

    print(f"{args.topologies} topologies, {args.workers} workers of one thread each")
    print(f"{'':12} {'local s':>8} {'dask s':>8} {'dask/local':>10}")
    for part in ("score", "groundtruth"):
        print(f"{part:12} {local[part]:8.2f} {remote[part]:8.2f} {remote[part] / local[part]:10.2f}")
    total_local, total_remote = sum(local.values()), sum(remote.values())
    print(f"{'total':12} {total_local:8.2f} {total_remote:8.2f} {total_remote / total_local:10.2f}")
    print(f"Dask cluster start-up (scheduler + {args.workers} workers): {startup:.2f} s")
    print(f"tables identical: {same}")


if __name__ == "__main__":
    main()
