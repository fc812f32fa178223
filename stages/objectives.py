"""Stage ``objectives``: what the searches of each objective of ``outcome.objectives`` maximise, one file
``artifacts/objectives/<objective>.json`` per objective with only what that objective uses: nothing for
the paper's reward, the proxies of ``predictor.aggregate`` for the rank aggregation, the fitted ranker
for ``predictor``. Each search depends on its objective's file alone, so a new ground truth re-runs only
the searches that read the ranker."""

from pathlib import Path

from asvit.atomic import write_json
from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.search.objective import objective_spec
from asvit.tracking import stage_run

RANKER = Path("artifacts/predictor.json")
OUT = Path("artifacts/objectives")


@exit_on_user_error
def main() -> None:
    params = load_params()
    names = params.outcome.objectives
    logged = {"outcome": {"objectives": names}, "predictor": {"aggregate": params.predictor.aggregate}}
    with stage_run("objectives", logged) as run:
        for name in names:
            path = OUT / f"{name}.json"
            write_json(path, objective_spec(name, params.predictor.aggregate, RANKER), indent=1, sort_keys=True)
            run.log_artifact(path)
    print(f"search objectives: {', '.join(names)}")


if __name__ == "__main__":
    main()
