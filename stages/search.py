"""Stage ``search``: the seed topology (DESIGN.md section 7) from REINFORCE or a baseline over the
13 decisions, scored with L^E and kappa; an interrupted search resumes from artifacts/search_state/."""

from pathlib import Path

from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.search import HISTORY_COLUMNS, REWARD_METRICS, ProxyScorer, run_search, write_csv, write_json
from asvit.tracking import stage_run

STATE = Path("artifacts/search_state")
OUT = Path("artifacts/seed.json")
PLOT = Path("plots/search.csv")


@exit_on_user_error
def main() -> None:
    params = load_params()
    settings = params.proxy.score_settings()
    logged = {"search": params.search.model_dump(), "proxy": params.proxy.model_dump(exclude={"names"})}
    with stage_run("search", logged) as run, ProxyScorer(settings, params.proxy.workers) as scorer:
        result = run_search(params.search, scorer, scorer.description, STATE)
        summary = {"seed": result.seed.seed_string(), "method": params.search.method,
                   "proxies": {m: result.values[m] for m in REWARD_METRICS}, "steps": result.steps,
                   "distinct": result.steps - result.cache_hits, "cache_hits": result.cache_hits,
                   "seconds": round(result.seconds, 1)}
        write_json(OUT, summary)
        write_csv(PLOT, result.history, HISTORY_COLUMNS)
        for row in result.history:
            run.log_metrics({k: row[k] for k in ("reward", "entropy", *REWARD_METRICS)}, step=row["step"])
        run.log_metrics({"seed": summary["proxies"], "cache_hits": result.cache_hits, "seconds": result.seconds})
        run.log_artifact(OUT)
        run.log_artifact(PLOT)
    print(f"seed {summary['seed']} after {result.steps} steps ({result.cache_hits} cache hits, "
          f"{result.seconds:.0f} s): " + ", ".join(f"{m} {v:.4g}" for m, v in summary["proxies"].items()))


if __name__ == "__main__":
    main()
