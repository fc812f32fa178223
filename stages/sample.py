"""Stage ``sample``: draw distinct architectures from the configured search space, uniformly or
(``sample.labels: diverse``) spread over it by greedy k-center."""

from pathlib import Path

from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.features import sample_labelled
from asvit.records import write_records
from asvit.space import space_for
from asvit.tracking import stage_run

OUT = Path("artifacts/topologies.jsonl")


@exit_on_user_error
def main() -> None:
    params = load_params()
    space = params.space
    records = sample_labelled(space_for(space), params.sample.count, params.sample.seed, params.sample.labels)
    with stage_run("sample", {"space": params.space.model_dump(), "sample": params.sample.model_dump()}) as run:
        write_records(OUT, records)
        run.log_metrics({"architectures_sampled": len(records)})
        run.log_artifact(OUT)
    print(f"wrote {len(records)} architectures to {OUT}")


if __name__ == "__main__":
    main()
