"""Stage ``objective``: what the seed search maximises (``search.objective``), written to
``artifacts/objective.json`` with only what that objective uses: nothing for the paper's reward, the
proxies of ``predictor.aggregate`` for the rank aggregation, the fitted ranker for ``predictor``. A
new ground truth therefore re-runs the search only when the search reads the ranker."""

from pathlib import Path

from asvit.atomic import write_json
from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.search.objective import objective_spec
from asvit.tracking import stage_run

RANKER = Path("artifacts/predictor.json")
OUT = Path("artifacts/objective.json")


@exit_on_user_error
def main() -> None:
    params = load_params()
    logged = {"search": {"objective": params.search.objective}, "predictor": {"aggregate": params.predictor.aggregate}}
    with stage_run("objective", logged) as run:
        spec = objective_spec(params.search.objective, params.predictor.aggregate, RANKER)
        write_json(OUT, spec, indent=1, sort_keys=True)
        run.log_artifact(OUT)
    print(f"search objective: {params.search.objective}")


if __name__ == "__main__":
    main()
