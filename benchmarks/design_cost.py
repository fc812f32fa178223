"""Cost of the paper-scale design (500 REINFORCE steps + growth to the 80M-parameter target) on this
machine's CPUs, projected from a measured fraction of it. The paper reports 12 V100-hours; the goal
here is at most 1 hour on 2 CPU cores.

Paper settings throughout: 224 px, 5 repeats, 1000 classes, L^E and kappa.

1. Proxy cost per seed topology (C = 32, depth 1), side by side: one process with all torch threads
   vs a pool of ``--workers`` single-threaded processes (the ratio is the pool's speed-up).
2. The REINFORCE search itself for ``--steps`` steps (default ``--fraction`` of 500) on the pool,
   through the proxy cache: seconds per measured topology and the cache hit rate.
3. Growth along the paper's path from the seed (h = 8, depth 1 per stage) to As-ViT Large (h = 45,
   depths 5,2,5,2, 87.6M parameters at real width 180): 10 steps, at most 16 candidates each. At
   ``--fraction`` of the steps (at least the first and the last, evenly spaced) one candidate's
   proxies are measured once each on one thread, as a pool worker runs them (a step costs
   16 candidates x repeats x those seconds / workers), with the peak memory of this process, and
   one real-width parameter count is timed; the other steps are interpolated.

With ``--full`` it instead runs the whole design as the search and grow stages do: 500 REINFORCE
steps, then the scaling rule from the seed found until a member reaches 80M parameters (limit 110M),
and prints the measured hours, the seed and the family. Its state is kept under ``--state``, so an
interrupted run resumes.

Run: ``python benchmarks/design_cost.py [--fraction 0.02 | --steps N | --full] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from asvit.config import load_params
from asvit.executor import Engine
from asvit.models import ASViT
from asvit.proxies.scoring import ScoreSettings, score_network
from asvit.scaling import grow_family, real_size_counters
from asvit.search.reward import REWARD_METRICS
from asvit.search.runner import run_search
from asvit.search.scorer import ProxyScorer
from asvit.space import Topology, sample_topology

PAPER_SEED = Topology.parse("8,2,3|4,1,2|4,1,4|4,1,6|32")
PAPER = load_params(Path(__file__).resolve().parent.parent / "configs/paper.yaml")  # search and growth settings
PAPER_STEPS = PAPER.search.steps  # 500
SETTINGS = ScoreSettings(image_size=224, batch_size=16, repeats=5, num_classes=1000, seed=0)
GROWTH_STAGES = (3, 1, 3, 1, 3, 1, 3, 1, 2, 4)  # stage that gains a block at each step: ends at 5,2,5,2
START_WIDTH, END_WIDTH, WIDTH_SCALE, CANDIDATES = 8, 45, 4, 16


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def growth_path() -> list[tuple[tuple[int, ...], int]]:
    """(depths, proxy width h) after each of the 10 steps; h grows geometrically from 8 to 45."""
    depths, path = [1, 1, 1, 1], []
    for k, stage in enumerate(GROWTH_STAGES, start=1):
        depths[stage - 1] += 1
        path.append((tuple(depths), round(START_WIDTH * (END_WIDTH / START_WIDTH) ** (k / len(GROWTH_STAGES)))))
    return path


def compare_processes(count: int, workers: int) -> tuple[float, float]:
    """Seconds per seed topology: one process vs the pool."""
    topologies = [sample_topology(random.Random(i)) for i in range(count)]
    with ProxyScorer(SETTINGS) as serial, ProxyScorer(SETTINGS, Engine.local(workers)) as pool:
        list(pool(topologies[:1], REWARD_METRICS))  # start the workers outside the timing
        _, one = timed(lambda: list(serial(topologies, REWARD_METRICS)))
        _, many = timed(lambda: list(pool(topologies, REWARD_METRICS)))
    return one / count, many / count


def measure_search(steps: int, workers: int) -> float:
    """Run ``steps`` REINFORCE steps on the pool; return the projected seconds of 500 steps."""
    with ProxyScorer(SETTINGS, Engine.local(workers)) as scorer, tempfile.TemporaryDirectory() as state:
        result = run_search(PAPER.search.model_copy(update={"steps": steps}), scorer, scorer.description, Path(state),
                            progress=False, cache_dir=Path(state))
    per_topology = result.seconds / result.measured
    hit_rate = result.cache_hits / result.steps
    total = PAPER_STEPS * (1 - hit_rate) * per_topology
    print(f"\n2. REINFORCE: {result.steps} steps in {result.seconds:.0f} s, {result.measured} topologies measured "
          f"({per_topology:.1f} s each), cache hit rate {hit_rate:.0%}")
    print(f"   projected {PAPER_STEPS} steps at this hit rate: {total / 60:.1f} min (an upper bound: the hit rate "
          "rises as the policy converges)")
    return total


def measure_growth(fraction: float, workers: int) -> float:
    """Measure candidates at a fraction of the paper's growth steps; return the projected seconds."""
    path = growth_path()
    sampled = sorted({int(k) for k in np.linspace(0, len(path) - 1, max(2, round(fraction * len(path)))).round()})
    count_params, count_macs = real_size_counters(SETTINGS.num_classes, SETTINGS.image_size)
    once = replace(SETTINGS, repeats=1)
    torch.set_num_threads(1)
    measured = {}
    print(f"\n3. growth: {len(path)} steps x {CANDIDATES} candidates; measuring steps "
          f"{', '.join(str(k + 1) for k in sampled)}")
    for k in sampled:
        depths, width = path[k]
        proxy = PAPER_SEED.scaled(depths, width=width)
        real = PAPER_SEED.scaled(depths, width=WIDTH_SCALE * width)
        seconds = score_network(lambda: ASViT(proxy, num_classes=once.num_classes), REWARD_METRICS, once).seconds
        candidate = SETTINGS.repeats * sum(seconds.values()) / workers
        params, params_s = timed(lambda: count_params(real))
        _, macs_s = timed(lambda: count_macs(real))
        measured[k] = CANDIDATES * (candidate + params_s) + macs_s
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"   step {k + 1:2d}: {real.scaled_string():<34} {params / 1e6:5.1f}M params; one repeat "
              + ", ".join(f"{n} {t:.1f} s" for n, t in seconds.items())
              + f"; parameter count {params_s:.1f} s -> step {measured[k] / 60:.1f} min; peak memory {peak:.1f} GiB")
    total = float(np.interp(range(len(path)), list(measured), list(measured.values())).sum())
    print(f"   projected growth: {total / 60:.1f} min")
    return total


def run_design(workers: int, state: Path) -> float:
    """The whole paper-scale design on the pool, resuming from ``state``; return its seconds."""
    with ProxyScorer(SETTINGS, Engine.local(workers)) as scorer:
        search = run_search(PAPER.search, scorer, scorer.description, state / "search", cache_dir=state / "proxies")
        print(f"\nsearch: seed {search.seed_topology.seed_string()} after {search.steps} steps in "
              f"{search.seconds / 60:.1f} min "
              f"({search.cache_hits} cache hits): "
              + ", ".join(f"{m} {search.values[m]:.4g}" for m in REWARD_METRICS))
        family = grow_family(search.seed_topology, PAPER.grow, scorer, scorer.description, SETTINGS.num_classes,
                             state / "grow", cache_dir=state / "proxies")
    print(f"growth: {len(family.members)} members in {family.seconds / 60:.1f} min, stopped: {family.stop_reason}")
    for m in family.members:
        print(f"  {m.name}  {m.topology:<40} {m.params / 1e6:7.2f}M params {m.macs / 1e9:6.2f}G MACs "
              f"L^E {m.length_distortion:.4g} kappa {m.ntk_cond:.4g}")
    return search.seconds + family.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.02, help="fraction of the design to measure")
    parser.add_argument("--steps", type=int, help="search steps to run (default: fraction x 500)")
    parser.add_argument("--workers", type=int, default=2, help="pool processes (one per core)")
    parser.add_argument("--compare", type=int, default=2, help="topologies in the one-process/pool comparison")
    parser.add_argument("--full", action="store_true", help="run the whole design instead of projecting it")
    parser.add_argument("--state", type=Path, default=Path(__file__).parent / "results" / "design_state",
                        help="where --full keeps its resumable state")
    args = parser.parse_args()

    print(f"paper settings: {SETTINGS.image_size} px, {SETTINGS.repeats} repeats, {SETTINGS.num_classes} classes; "
          f"pool of {args.workers} single-threaded workers")
    if args.full:
        total = run_design(args.workers, args.state)
        print(f"\nfull design on this machine: {total / 3600:.2f} h; paper: 12 V100-hours; goal: 1 h on 2 CPU cores "
              f"-> {'met' if total <= 3600 else f'x{total / 3600:.1f} over'}")
        return
    one, many = compare_processes(args.compare, args.workers)
    print(f"\n1. proxies of one seed topology: one process {one:.1f} s, pool {many:.1f} s "
          f"-> pool speed-up x{one / many:.2f}")
    search = measure_search(args.steps or max(1, round(args.fraction * PAPER_STEPS)), args.workers)
    grow = measure_growth(args.fraction, args.workers)
    total = search + grow
    print(f"\nprojected full design on this machine: {total / 3600:.2f} h "
          f"(search {search / 3600:.2f} h + growth {grow / 3600:.2f} h); paper: 12 V100-hours; "
          f"goal: 1 h on 2 CPU cores -> {'met' if total <= 3600 else f'x{total / 3600:.1f} over'}")


if __name__ == "__main__":
    main()
