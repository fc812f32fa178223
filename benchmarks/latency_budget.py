"""Does a parameter budget buy a latency budget? Measured on this machine, side by side.

1. The sampled topologies (``artifacts/topologies.jsonl``, the ``sample`` stage's) at one real
   stage-1 width (``grow.width_scale`` x ``grow.proxy_width``): parameters, MACs at
   ``hardware.image_size`` and forward latency on ``hardware.*`` (median and interquartile range), then
   Kendall tau of parameters and of MACs against latency.
2. The family of ``grow.seed_file`` grown by the scaling rule (proxies through the pipeline's cache,
   ``checkpoints/proxies``) until a member passes ``grow.max_params``, every member timed. The growth
   path does not depend on the budget, only which members the targets name does. For each latency
   target T (``--targets``, milliseconds; default: halfway, on a log scale, between consecutive
   members' latencies):
   - the latency budget names the largest member measured within T;
   - a parameter budget names the largest member within P(T) = T x (the seed member's parameters per
     millisecond), the parameters a user who timed only the seed would budget for T;
   each with its latency and how far it overshoots (+) or undershoots (-) T.

Run: ``python benchmarks/latency_budget.py [--targets 10,20,40] [--threads 1] [--image-size 224]``
after ``dvc repro sample`` (and a grow seed: ``dvc repro grow``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

from asvit.config import load_params
from asvit.deploy import LatencySettings
from asvit.executor import Engine
from asvit.proxies.scoring import ScoreSettings
from asvit.records import read_records
from asvit.scaling import (
    assign_targets,
    grow_family,
    read_seed_topology,
    real_latency_meter,
    real_size_counters,
)
from asvit.search.scorer import ProxyScorer

ROOT = Path(__file__).resolve().parent.parent


def parse_targets(text: str) -> list[float]:
    return [float(t) for t in text.split(",")]


def sampled(params, settings: LatencySettings) -> list[dict[str, float]]:
    """Parameters, MACs and latency of every sampled topology at the family's real stage-1 width, counted
    and timed as the scaling rule counts and times its members."""
    width = params.grow.width_scale * params.grow.proxy_width
    count_params, count_macs = real_size_counters(params.proxy.num_classes, settings.image_size)
    time_network = real_latency_meter(params.proxy.num_classes, settings)
    rows = []
    for record in tqdm(read_records(ROOT / "artifacts/topologies.jsonl", "asvit"), desc="sampled", unit="topology"):
        topology = record.arch.scaled(width=width)
        latency = time_network(topology)
        rows.append({"params": count_params(topology), "macs": count_macs(topology),
                     "latency_ms": latency.median_ms, "iqr_ms": latency.iqr_ms})
    return rows


def grown(params, settings: LatencySettings, workers: int):
    """The family grown until a member passes grow.max_params, every member timed on ``settings``."""
    grow = params.grow.model_copy(update={"budget": "latency_ms", "targets": [1e9]})
    scores = ScoreSettings.from_params(params.proxy, ROOT / "data/cls")
    with ProxyScorer(scores, Engine.local(workers)) as scorer:
        return grow_family(read_seed_topology(ROOT / params.grow.seed_file), grow, scorer, scorer.description,
                           params.proxy.num_classes, cache_dir=ROOT / "checkpoints/proxies", latency=settings).members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=parse_targets, default=None, help="latency targets, ms")
    parser.add_argument("--threads", type=int, default=None, help="default hardware.threads")
    parser.add_argument("--image-size", type=int, default=None, help="default hardware.image_size")
    parser.add_argument("--workers", type=int, default=2, help="processes measuring the growth's proxies")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    settings = LatencySettings.from_params(params.hardware)
    settings = replace(settings, threads=args.threads or settings.threads,
                       image_size=args.image_size or settings.image_size)
    print(f"timed on {settings.device}, {settings.threads} thread(s), batch {settings.batch_size}, "
          f"{settings.image_size} px")

    rows = sampled(params, settings)
    latency = np.array([r["latency_ms"] for r in rows])
    print(f"\n{len(rows)} sampled topologies at real width {params.grow.width_scale * params.grow.proxy_width}: "
          f"latency {latency.min():.2f} to {latency.max():.2f} ms (median IQR "
          f"{np.median([r['iqr_ms'] for r in rows]):.2f} ms)")
    print(f"{'size measure':<14}{'Kendall tau with latency':>26}")
    for measure in ("params", "macs"):
        tau = stats.kendalltau([r[measure] for r in rows], latency).statistic
        print(f"{measure:<14}{tau:>26.3f}")

    members = grown(params, settings, args.workers)
    times = [m.latency_ms for m in members]
    targets = args.targets or sorted(float(np.sqrt(a * b)) for a, b in zip(times, times[1:]) if b > a)
    per_ms = members[0].params / members[0].latency_ms
    by_latency = assign_targets(members, "latency_ms", targets)
    print(f"\nfamily of {params.grow.seed_file}: {len(members)} members, "
          + ", ".join(f"{m.name} {m.params / 1e6:.2f}M {m.latency_ms:.2f} ms" for m in members))
    print(f"{'target':>9} | {'latency budget':<29} | {'P(T)':>7} {'parameter budget':<29}")
    for target in targets:
        chosen = next((m for m in by_latency if target in m.targets), None)
        budget = target * per_ms
        within = [m for m in members if m.params <= budget]
        cells = [f"{m.name} {m.latency_ms:7.2f} ms {m.latency_ms / target - 1:+7.1%}" if m else f"{'none within':<29}"
                 for m in (chosen, within[-1] if within else None)]
        print(f"{target:>6.2f} ms | {cells[0]} | {budget / 1e6:6.2f}M {cells[1]}")


if __name__ == "__main__":
    main()
