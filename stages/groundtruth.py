"""Stage ``groundtruth``: train every sampled topology with one fixed recipe and record its
validation accuracy; continues with the topologies not yet done after an interruption (the
topology in progress resumes from its every-epoch checkpoint under checkpoints/groundtruth/)."""

from pathlib import Path

from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.executor import Engine
from asvit.groundtruth import train_groundtruth
from asvit.records import read_records
from asvit.tracking import stage_run

ARCHS = Path("artifacts/topologies.jsonl")
DATA = Path("data/cls")
OUT = Path("artifacts/groundtruth.csv")
STATE = Path("checkpoints/groundtruth")
METRICS = Path("metrics/groundtruth.json")
SECONDS = Path("metrics/seconds/groundtruth.json")  # each topology's training seconds, kept across resumes


@exit_on_user_error
def main() -> None:
    params = load_params()
    config = params.groundtruth
    records = read_records(ARCHS, params.space.record_format)
    with stage_run("groundtruth", {"groundtruth": config.model_dump(), "data": params.data.model_dump()}) as run:
        summary = train_groundtruth(records, DATA, config.recipe, config.width, OUT, STATE, seed=config.seed,
                                    engine=Engine.from_params(params.executor, config.workers), seeds=config.seeds,
                                    seconds=SECONDS)
        run.write_metrics(METRICS, summary)
        run.log_artifact(OUT)


if __name__ == "__main__":
    main()
