"""Stage ``objective@<objective>``: what the searches of one objective maximise, written to
``artifacts/objectives/<objective>.json`` with only what that objective uses: nothing for the paper's
reward, the proxies of ``predictor.aggregate`` for the rank aggregation, the fitted ranker for
``predictor``. A new ground truth therefore re-runs only the searches that read the ranker."""

import argparse
from pathlib import Path

from asvit.atomic import write_json
from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.search.objective import objective_spec
from asvit.tracking import stage_run

RANKER = Path("artifacts/predictor.json")


@exit_on_user_error
def main(name: str) -> None:
    params = load_params()
    out = Path(f"artifacts/objectives/{name}.json")
    logged = {"objective": name, "predictor": {"aggregate": params.predictor.aggregate}}
    with stage_run(f"objective@{name}", logged) as run:
        write_json(out, objective_spec(name, params.predictor.aggregate, RANKER), indent=1, sort_keys=True)
        run.log_artifact(out)
    print(f"search objective: {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("objective", help="a search objective (outcome.objectives)")
    main(parser.parse_args().objective)
