"""Stage ``payoff@<family>`` (one per ``outcome.family``): the family payoff (docs/design.md section 15).
For every member of ``train.models`` (trained by ``train``, results in ``metrics/train.json``) the
baseline family's member at its MACs is trained with the same ``train`` recipe and seed. The two fronts
of top-1 against MACs and the area between them go to ``metrics/payoff/<family>.json`` and
``plots/payoff/<family>.csv``. A baseline member with the grown member's own architecture (the uniform
family's first) has the grown member's result and is not trained again. Each training checkpoints
every epoch under checkpoints/payoff/<family>/ and resumes."""

import argparse
import json
from pathlib import Path

import torch

from asvit.atomic import write_csv
from asvit.config import load_params
from asvit.data import dataset_info, open_classification
from asvit.errors import AsvitError, exit_on_user_error
from asvit.models import build_network
from asvit.outcome.family import BASELINE_FAMILIES, front_gap
from asvit.outcome.references import macs_of
from asvit.records import read_records
from asvit.tracking import stage_run
from asvit.train import check_fit, fit, select_members

FAMILY = Path("artifacts/family.jsonl")
TRAINED = Path("metrics/train.json")
DATA = Path("data/cls")
CHECKPOINTS = Path("checkpoints/payoff")
PLOT_COLUMNS = ["family", "member", "arch", "macs", "top1"]


@exit_on_user_error
def main(baseline: str) -> None:
    params = load_params()
    train = params.train
    recipe = train.recipe()
    build = BASELINE_FAMILIES.lookup(baseline)
    grown = select_members(FAMILY, train.models)
    results = json.loads(TRAINED.read_text())
    untrained = [name for name in grown if name not in results]
    if untrained:
        raise AsvitError(f"{TRAINED}: no result for {', '.join(untrained)} of train.models; run the train stage first")
    info = dataset_info(DATA)
    size, classes = info["image_size"], info["num_classes"]
    seed = read_records(FAMILY, "asvit")[0].arch  # the grown family's start: the seed at real width
    grown_macs = {name: results[name]["macs"] for name in grown}  # train's count, at the same image size
    matched = {name: build(seed, grown_macs[name], size, classes) for name in grown}
    train_set, val_set = open_classification(DATA, "train"), open_classification(DATA, "val")
    for arch in matched.values():
        check_fit(recipe, arch, size, len(train_set), key="train")
    members, rows = {}, []
    with stage_run(f"payoff@{baseline}", {"train": train.model_dump(), "family": baseline}) as run:
        for name, arch in matched.items():
            entry = {"arch": str(arch), "macs": macs_of(arch, size, classes)}
            if arch == grown[name]:
                entry.update(params=results[name]["params"], top1=results[name]["top1"], same_as_grown=True)
            else:
                torch.manual_seed(train.seed)
                model = build_network(arch, classes, size, recipe.drop_path)
                result = fit(model, train_set, val_set, recipe, checkpoint_dir=CHECKPOINTS / baseline / name,
                             seed=train.seed, key="train", desc=f"{baseline} at {name}", workers=train.workers)
                entry.update(params=sum(p.numel() for p in model.parameters()), top1=result.top1,
                             train_seconds=result.train_seconds, same_as_grown=False)
            members[name] = {"grown": {"arch": grown[name].scaled_string(), "macs": grown_macs[name],
                                       "params": results[name]["params"], "top1": results[name]["top1"]},
                             baseline: entry}
            rows += [{"family": "grown", "member": name, **members[name]["grown"]},
                     {"family": baseline, "member": name, **entry}]
            run.log_metrics({f"{name}.top1": entry["top1"]})
        gap = front_gap([(m["grown"]["macs"], m["grown"]["top1"]) for m in members.values()],
                        [(m[baseline]["macs"], m[baseline]["top1"]) for m in members.values()])
        write_csv(Path(f"plots/payoff/{baseline}.csv"), rows, PLOT_COLUMNS)
        run.write_metrics(Path(f"metrics/payoff/{baseline}.json"),
                          {"baseline": baseline, "members": members, "front_gap": gap})
    print(f"grown family against {baseline}: mean gap {gap['mean_gap']:+.2f} top-1 points over "
          f"{gap['doublings']:.2f} doublings of MACs (area {gap['area']:+.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", help="a baseline family of outcome.family")
    main(parser.parse_args().family)
