"""Stage ``outcome``: what each design method's pick is worth once trained (docs/design.md section 15).
Every search's seed, the supernet evolution's best architecture and the hand-designed references (at
the median sampled architecture's MACs) are trained exactly like the ground truth (its recipe, width,
data and seeds) and ranked among the sampled architectures: ``metrics/outcome.json`` and
``plots/outcome.csv``. Training resumes like the ground truth's (rows of ``artifacts/outcome.csv``,
checkpoints under checkpoints/outcome/)."""

import statistics
from pathlib import Path

import pandas as pd

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info
from asvit.errors import exit_on_user_error
from asvit.executor import Engine
from asvit.groundtruth import train_groundtruth
from asvit.outcome.picks import distinct_records, macs, reference_picks, search_picks, supernet_pick
from asvit.outcome.summary import PLOT_COLUMNS, outcome_summary, plot_rows
from asvit.records import read_records
from asvit.table import read_ledger, total_seconds
from asvit.tracking import stage_run

ARCHS = Path("artifacts/topologies.jsonl")
DATA = Path("data/cls")
TRUTH = Path("artifacts/groundtruth.csv")
SEEDS = Path("artifacts/seeds")
SEARCH_LEDGERS = Path("metrics/seconds/search")
SUPERNET_SEED = Path("artifacts/supernet_seed.json")
SUPERNET_HISTORY = Path("plots/supernet.csv")  # the supernet's training epochs, with their seconds
SUPERNET_METRICS = Path("metrics/supernet.json")
LEDGERS = [Path(f"metrics/seconds/{stage}.json") for stage in ("score", "groundtruth")]
OUT = Path("artifacts/outcome.csv")
STATE = Path("checkpoints/outcome")
SECONDS = Path("metrics/seconds/outcome.json")
PLOT = Path("plots/outcome.csv")
METRICS = Path("metrics/outcome.json")
SEARCH_SPACE = "asvit"  # the seed searches run over the As-ViT space


@exit_on_user_error
def main() -> None:
    params = load_params()
    config, truth = params.outcome, params.groundtruth
    records = read_records(ARCHS, params.space.record_format)
    info = dataset_info(DATA)
    size = (truth.width, info["image_size"], info["num_classes"])
    sampled_macs = {r.id: macs(r.arch, *size) for r in records}
    target = int(statistics.median(sampled_macs.values()))
    left_out, picks = {}, []
    if params.space.record_format == SEARCH_SPACE:
        truth_seconds = sum(total_seconds(read_ledger(ledger)) for ledger in LEDGERS)
        picks += search_picks(config.objectives, config.methods, SEEDS, SEARCH_LEDGERS, truth_seconds)
    else:
        left_out = {name: f"the seed searches run over the As-ViT space, not {params.space.name}'s"
                    for name in config.searches()}
    supernet_seconds = (pd.read_csv(SUPERNET_HISTORY)["seconds"].sum()
                        + pd.read_json(SUPERNET_METRICS, typ="series")["evolution_seconds"])
    picks.append(supernet_pick(SUPERNET_SEED, params.space.record_format, float(supernet_seconds)))
    picks += reference_picks(config.references, target, info["image_size"], info["num_classes"])
    logged = {"outcome": config.model_dump(), "groundtruth": truth.model_dump(), "target_macs": target}
    with stage_run("outcome", logged) as run:
        trained = train_groundtruth(distinct_records(picks), DATA, truth.recipe, truth.width, OUT, STATE,
                                    seed=truth.seed, seeds=truth.seeds, key="groundtruth", seconds=SECONDS,
                                    engine=Engine.from_params(params.executor, truth.workers), desc="outcome")
        rows = pd.read_csv(OUT, dtype={"id": str}).set_index("id")
        sampled = pd.read_csv(TRUTH, dtype={"id": str}).set_index("id")
        summary = outcome_summary(picks, rows, sampled, {p.name: macs(p.arch, *size) for p in picks},
                                  truth.seeds, target)
        summary.update(left_out=left_out, trained_now=trained["trained_now"], resumed=trained["resumed"])
        write_csv(PLOT, plot_rows(summary, sampled, sampled_macs), PLOT_COLUMNS)
        run.write_metrics(METRICS, summary)
        run.log_artifact(OUT)
    for name, entry in summary["picks"].items():
        print(f"{name:<26} top-1 {entry['top1']:6.2f} +- {entry['interval95']:.2f}  percentile "
              f"{entry['percentile']:5.1f}  regret {entry['regret']:+6.2f}  {entry['macs'] / 1e6:6.2f}M MACs")


if __name__ == "__main__":
    main()
