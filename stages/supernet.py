"""Stage ``supernet``: the one-shot supernet baseline over the configured space (docs/design.md
section 11). Trains a weight-sharing supernet one uniformly drawn subnet per step on the training
images less the last ``supernet.heldout`` (checkpoints under checkpoints/supernet/, resumed after an
interruption), writes every sampled architecture's inherited-weight accuracy on the held-out images
(the ``supernet`` column of the Kendall study) and the best architecture of an evolutionary search
over the supernet, in the form of a search's seed file (artifacts/seeds/)."""

import time
from dataclasses import asdict
from pathlib import Path

from asvit.atomic import write_csv, write_json
from asvit.config import load_params
from asvit.data import dataset_info, open_classification
from asvit.errors import exit_on_user_error
from asvit.records import read_records
from asvit.supernet.baseline import score_inherited, search_supernet, subnet_params, train_supernet
from asvit.supernet.spaces import supernet_setup
from asvit.supernet.training import heldout_split
from asvit.tracking import stage_run
from asvit.train import check_fit
from asvit.train.checkpoint import atomic_save

ARCHS = Path("artifacts/topologies.jsonl")
DATA = Path("data/cls")
OUT = Path("artifacts/supernet.csv")
SEED = Path("artifacts/supernet_seed.json")
WEIGHTS = Path("artifacts/supernet.pt")
STATE = Path("checkpoints/supernet")
TRAINING_PLOT = Path("plots/supernet.csv")
EVOLUTION_PLOT = Path("plots/supernet_evolution.csv")
METRICS = Path("metrics/supernet.json")
SECONDS = Path("metrics/seconds/supernet.json")  # each architecture's inherited-accuracy seconds


@exit_on_user_error
def main() -> None:
    params = load_params()
    config = params.supernet
    recipe = config.training_recipe()
    records = read_records(ARCHS, params.space.record_format)
    info = dataset_info(DATA)
    train_set, heldout_set = heldout_split(open_classification(DATA, "train"), config.heldout)
    setup = supernet_setup(params, info["num_classes"], info["image_size"])
    check_fit(recipe, setup.spec, info["image_size"], len(train_set), key="supernet.recipe")
    for record in records:  # every sampled architecture fits the supernet before any training
        setup.check(setup.network(record.arch))

    logged = {"supernet": config.model_dump(), "space": params.space.model_dump()}
    with stage_run("supernet", logged) as run:
        def on_epoch(history):
            write_csv(TRAINING_PLOT, [asdict(r) for r in history])
            run.log_metrics({"loss": history[-1].loss, "heldout_top1_largest": history[-1].val_top1},
                            step=len(history))

        trained = train_supernet(setup, train_set, heldout_set, recipe, config.seed, STATE, on_epoch=on_epoch)
        write_csv(TRAINING_PLOT, [asdict(r) for r in trained.history])  # also when every epoch was resumed
        atomic_save(setup.supernet.state_dict(), WEIGHTS)
        settings = {"supernet": str(setup.spec), "recipe": recipe.model_dump(), "seed": config.seed,
                    "heldout": config.heldout, "data": info}
        inherited = score_inherited(setup, records, heldout_set, OUT, settings, config.eval_batch_size,
                                    seconds=SECONDS)

        start = time.perf_counter()
        evolution = search_supernet(setup, heldout_set, config.evolution, config.eval_batch_size)
        evolution_seconds = time.perf_counter() - start
        write_csv(EVOLUTION_PLOT, [asdict(row) for row in evolution.history])
        write_json(SEED, {**setup.record(evolution.best), "method": "supernet-evolution",
                          "inherited_top1": evolution.best_fitness, "params": subnet_params(setup, evolution.best)})
        run.write_metrics(METRICS, {
            "architectures": len(records), "train_seconds": trained.train_seconds,
            "resumed_epochs": trained.resumed_epochs, "heldout_top1_largest": trained.top1,
            "inherited_seconds_per_architecture": inherited["seconds_per_architecture"],
            "inherited_measured_now": inherited["measured_now"], "evolution_seconds": evolution_seconds,
            "evolution_evaluations": len(evolution.evaluated), "best_inherited_top1": evolution.best_fitness})
        for path in (OUT, SEED):
            run.log_artifact(path)
    print(f"supernet: largest subnet {trained.top1:.2f}% held-out top-1 after {trained.train_seconds:.0f} s; "
          f"evolution's best {evolution.best_fitness:.2f}% ({SEED})")


if __name__ == "__main__":
    main()
