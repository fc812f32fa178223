"""Stage ``grow``: the scaling rule (docs/design.md section 8) grows the seed topology of
``grow.seed_file`` (a search's artifacts/seeds/<objective>-<method>.json, or the supernet
evolution's) into the family ``asvit-g00`` (the seed topology at real width), ``asvit-g01``, ...
(one per growth step), each target of ``grow.targets`` naming the largest member within it (under
``grow.budget``: parameters, MACs or latency on ``hardware.*``); proxies go through the searches'
shared cache (checkpoints/proxies/), and an interrupted growth resumes from checkpoints/grow/ (local
resume state, not pipeline outputs). Its seconds, cache hits and the member of each target go to
``metrics/grow.json``."""

from dataclasses import asdict
from pathlib import Path

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.deploy import LatencySettings
from asvit.errors import exit_on_user_error
from asvit.executor import Engine
from asvit.proxies.scoring import ScoreSettings
from asvit.records import write_records
from asvit.scaling import grow_family, read_seed_topology
from asvit.search.scorer import ProxyScorer
from asvit.tracking import stage_run

DATA = Path("data/cls")  # the NTK batch's images (proxy.inputs: data)
CACHE = Path("checkpoints/proxies")
STATE = Path("checkpoints/grow")
OUT = Path("artifacts/family.jsonl")
PLOT = Path("plots/family.csv")
METRICS = Path("metrics/grow.json")
PLOT_COLUMNS = ("step", "name", "params", "macs", "latency_ms", "length_distortion", "ntk_cond")


@exit_on_user_error
def main() -> None:
    params = load_params()
    seed_topology = read_seed_topology(Path(params.grow.seed_file))
    settings = ScoreSettings.from_params(params.proxy, DATA)
    budget = params.grow.budget
    latency = LatencySettings.from_params(params.hardware) if budget == "latency_ms" else None
    logged = {"seed_topology": seed_topology.seed_string(), "grow": params.grow.model_dump(),
              "proxy": params.proxy.model_dump(exclude={"names"}),
              **({"hardware": params.hardware.model_dump()} if latency else {})}
    engine = Engine.from_params(params.executor, params.proxy.workers)
    with stage_run("grow", logged) as run, ProxyScorer(settings, engine) as scorer:
        result = grow_family(seed_topology, params.grow, scorer, scorer.description, params.proxy.num_classes, STATE,
                             cache_dir=CACHE, latency=latency)
        members = [asdict(m) for m in result.members]
        write_records(OUT, members)
        write_csv(PLOT, members, PLOT_COLUMNS)
        for m in members:
            run.log_metrics({k: m[k] for k in PLOT_COLUMNS[2:] if m[k] is not None}, step=m["step"])
        chosen = {target: m["name"] for m in members for target in m["targets"]}
        targets = {f"{t:.10g}": chosen.get(t) for t in params.grow.targets}
        run.write_metrics(METRICS, {"members": len(members), "largest_member_params": members[-1]["params"],
                                    "budget": budget, "targets": targets,
                                    "cache_hits": result.cache_hits, "grow_seconds": round(result.seconds, 1)})
        run.log_artifact(OUT)
        run.log_artifact(PLOT)
    print(f"{len(members)} members, stopped: {result.stop_reason} ({result.seconds:.0f} s)")
    for m in result.members:
        timed = f" {m.latency_ms:7.2f} ms (IQR {m.latency_iqr_ms:.2f})" if m.latency_ms is not None else ""
        named = f"  <- {budget} target {', '.join(f'{t:g}' for t in m.targets)}" if m.targets else ""
        print(f"  {m.name}  {m.topology:<40} {m.params / 1e6:7.2f}M params {m.macs / 1e9:7.2f}G MACs{timed} "
              f"L^E {m.length_distortion:.4g} kappa {m.ntk_cond:.4g}{named}")
    for target, name in targets.items():
        if name is None:
            print(f"warning: grow.targets {target}: even the seed asvit-g00 is over it, so no member is named for it")


if __name__ == "__main__":
    main()
