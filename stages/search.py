"""Stage ``search@<objective>-<method>``: one seed search (docs/design.md section 7) over the 13
decisions by ``method`` (REINFORCE or a baseline), maximising the objective described by
``artifacts/objectives/<objective>.json``. Every search measured the same way shares one proxy cache
(checkpoints/proxies/), so a topology is measured once for all of them; an interrupted search resumes
from checkpoints/search/<objective>-<method>/ (local state, not a pipeline output).
``artifacts/seeds/<objective>-<method>.json`` holds only what the search found, so an identical
search leaves what reads it cached; its seconds and cache hits go to
``metrics/search/<objective>-<method>.json``, and what measuring each topology it drew cost to the
ledger ``metrics/seconds/search/<objective>-<method>.json`` (a topology already there keeps its
recorded seconds, so a repeated search rewrites it byte for byte)."""

import argparse
import json
from pathlib import Path

from asvit.atomic import write_csv, write_json
from asvit.config import load_params
from asvit.deploy import LatencySettings
from asvit.errors import AsvitError, exit_on_user_error
from asvit.executor import Engine
from asvit.proxies.scoring import ScoreSettings
from asvit.scaling import seed_latency_limit
from asvit.search.objective import make_objective
from asvit.search.reward import REWARD_METRICS
from asvit.search.runner import HISTORY_COLUMNS, run_search
from asvit.search.scorer import ProxyScorer
from asvit.table import read_ledger, total_seconds
from asvit.tracking import stage_run

DATA = Path("data/cls")  # the NTK batch's images (proxy.inputs: data)
CACHE = Path("checkpoints/proxies")


@exit_on_user_error
def main(objective_name: str, method: str) -> None:
    params = load_params()
    name = f"{objective_name}-{method}"
    spec_path = Path(f"artifacts/objectives/{objective_name}.json")
    spec = json.loads(spec_path.read_text()) if spec_path.is_file() else {}
    if spec.get("objective") != objective_name:
        raise AsvitError(f"outcome.objectives: {spec_path} does not describe {objective_name!r}; "
                         f"run the objective stage first (dvc repro search@{name})")
    objective = make_objective(spec, params.search.reward_window)
    limit = params.search.max_latency_ms
    too_slow = (seed_latency_limit(limit, params.grow, params.proxy.num_classes,
                                   LatencySettings.from_params(params.hardware)) if limit is not None else None)
    settings = ScoreSettings.from_params(params.proxy, DATA)
    engine = Engine.from_params(params.executor, params.proxy.workers)
    out = Path(f"artifacts/seeds/{name}.json")
    plot = Path(f"plots/search/{name}.csv")
    metrics = Path(f"metrics/search/{name}.json")
    seconds = Path(f"metrics/seconds/search/{name}.json")
    logged = {"search": {**params.search.model_dump(), "objective": objective_name, "method": method},
              "proxy": params.proxy.model_dump(exclude={"names"}),
              **({"hardware": params.hardware.model_dump()} if too_slow else {})}
    with stage_run(f"search@{name}", logged) as run, ProxyScorer(settings, engine) as scorer:
        result = run_search(params.search, scorer, scorer.description, Path(f"checkpoints/search/{name}"),
                            objective=objective, method=method, cache_dir=CACHE, too_slow=too_slow)
        summary = {"seed": result.seed_topology.seed_string(), "method": method, "objective": objective_name,
                   "proxies": {m: result.values[m] for m in REWARD_METRICS}, "steps": result.steps}
        if too_slow and too_slow(result.seed_topology):
            print(f"warning: search.max_latency_ms: the seed {summary['seed']} itself is over "
                  f"{limit} ms (the policy's most likely topology was never penalised)")
        write_json(out, summary)
        recorded = read_ledger(seconds)
        ledger = {topology: recorded.get(topology, spent) for topology, spent in result.ledger.items()}
        write_json(seconds, ledger, indent=1)
        write_csv(plot, result.history, HISTORY_COLUMNS)
        for row in result.history:
            run.log_metrics({k: row[k] for k in ("reward", "entropy", *REWARD_METRICS)}, step=row["step"])
        run.write_metrics(metrics, {"objective": objective_name, "method": method, "seed_proxies": summary["proxies"],
                                    "steps": result.steps, "topologies_measured": result.measured,
                                    "cache_hits": result.cache_hits, "search_seconds": round(result.seconds, 1),
                                    "proxy_seconds": round(total_seconds(ledger), 1)})
        run.log_artifact(out)
        run.log_artifact(plot)
    print(f"{name}: seed {summary['seed']} after {result.steps} steps ({result.cache_hits} cache hits, "
          f"{result.seconds:.0f} s): " + ", ".join(f"{m} {v:.4g}" for m, v in summary["proxies"].items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("objective", help="a search objective (outcome.objectives)")
    parser.add_argument("method", help="a search method (outcome.methods)")
    arguments = parser.parse_args()
    main(arguments.objective, arguments.method)
