"""Stage ``search``: the seed topology (docs/design.md section 7) from REINFORCE or a baseline over the
13 decisions, maximising the objective of ``artifacts/objective.json`` (the paper's L^E and kappa
reward by default); an interrupted search resumes from checkpoints/search/
(local resume state and proxy cache, not a pipeline output). ``artifacts/seed.json`` holds only what
the search found, so an identical search leaves ``grow`` cached; its seconds and cache hits go to
``metrics/search.json``."""

import json
from pathlib import Path

from asvit.atomic import write_csv, write_json
from asvit.config import load_params
from asvit.errors import AsvitError, exit_on_user_error
from asvit.executor import Engine
from asvit.proxies.scoring import ScoreSettings
from asvit.search.objective import make_objective
from asvit.search.reward import REWARD_METRICS
from asvit.search.runner import HISTORY_COLUMNS, run_search
from asvit.search.scorer import ProxyScorer
from asvit.tracking import stage_run

DATA = Path("data/cls")  # the NTK batch's images (proxy.inputs: data)
OBJECTIVE = Path("artifacts/objective.json")
STATE = Path("checkpoints/search")
OUT = Path("artifacts/seed.json")
PLOT = Path("plots/search.csv")
METRICS = Path("metrics/search.json")


@exit_on_user_error
def main() -> None:
    params = load_params()
    spec = json.loads(OBJECTIVE.read_text()) if OBJECTIVE.is_file() else {}
    if spec.get("objective") != params.search.objective:
        raise AsvitError(f"search.objective: {OBJECTIVE} does not describe {params.search.objective!r}; "
                         "run the objective stage first (dvc repro search)")
    objective = make_objective(spec, params.search.reward_window)
    settings = ScoreSettings.from_params(params.proxy, DATA)
    engine = Engine.from_params(params.executor, params.proxy.workers)
    logged = {"search": params.search.model_dump(), "proxy": params.proxy.model_dump(exclude={"names"})}
    with stage_run("search", logged) as run, ProxyScorer(settings, engine, objective.proxies) as scorer:
        result = run_search(params.search, scorer, scorer.description, STATE, objective=objective)
        summary = {"seed": result.seed_topology.seed_string(), "method": params.search.method,
                   "proxies": {m: result.values[m] for m in REWARD_METRICS}, "steps": result.steps}
        write_json(OUT, summary)
        write_csv(PLOT, result.history, HISTORY_COLUMNS)
        for row in result.history:
            run.log_metrics({k: row[k] for k in ("reward", "entropy", *REWARD_METRICS)}, step=row["step"])
        run.write_metrics(METRICS, {"objective": params.search.objective, "seed_proxies": summary["proxies"],
                                    "steps": result.steps, "topologies_measured": result.measured,
                                    "cache_hits": result.cache_hits, "search_seconds": round(result.seconds, 1)})
        run.log_artifact(OUT)
        run.log_artifact(PLOT)
    print(f"seed {summary['seed']} after {result.steps} steps ({result.cache_hits} cache hits, "
          f"{result.seconds:.0f} s): " + ", ".join(f"{m} {v:.4g}" for m, v in summary["proxies"].items()))


if __name__ == "__main__":
    main()
