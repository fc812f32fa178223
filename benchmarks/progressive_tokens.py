"""Progressive re-tokenization against training at full tokenization throughout: the same network,
data, recipe, seed and epochs, trained both ways side by side in one run on the embedded generated
dataset. Prints the training-MACs ratio (measured run and formula), the training wall-time ratio and
both final validation accuracies. Goal: at least 30% less training time, at most 1 point lower top-1.

    python benchmarks/progressive_tokens.py [--epochs 10] [--width 16] [--image-size 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from asvit.config import Recipe
from asvit.data import open_classification, prepare_classification
from asvit.models import ASViT
from asvit.space import Topology
from asvit.train import fit, measured_macs, phase_cost, phase_schedule, relative_macs

PAPER_SEED = "8,2,3|4,1,2|4,1,4|4,1,6|32"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", default=PAPER_SEED, help="seed or scaled form")
    parser.add_argument("--width", type=int, default=16, help="stage-1 width C")
    parser.add_argument("--image-size", type=int, default=128, help="stride 16 needs at least 128 px")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    topology = Topology.parse(args.topology).scaled(width=args.width)
    with tempfile.TemporaryDirectory() as tmp:
        prepare_classification("generated", Path(tmp), image_size=args.image_size, seed=args.seed,
                               num_classes=args.classes, train_size=args.train_size, val_size=args.val_size)
        train_set, val_set = open_classification(Path(tmp), "train"), open_classification(Path(tmp), "val")
        results = {}
        for label, ends in (("full", None), ("progressive", [0.27, 0.44])):
            recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup_epochs=1,
                            phase_ends=ends)
            torch.manual_seed(args.seed)
            model = ASViT(topology, num_classes=args.classes)
            start = time.perf_counter()
            result = fit(model, train_set, val_set, recipe, seed=args.seed, desc=label)
            results[label] = (result, time.perf_counter() - start)

    full, full_wall = results["full"]
    prog, prog_wall = results["progressive"]
    cost = phase_cost(topology, args.image_size, phase_schedule(args.epochs, topology.kernels[0], [0.27, 0.44]),
                      args.classes)
    print(f"topology {topology.scaled_string()} at {args.image_size} px, {args.epochs} epochs, "
          f"{args.train_size} training images, {args.threads} threads")
    print("strides per epoch (progressive): " + " ".join(str(r.stride) for r in prog.history))
    model = ASViT(topology, num_classes=args.classes)
    full_macs, formula = measured_macs(model, args.image_size), relative_macs(topology, args.image_size, args.classes)
    for phase in phase_schedule(args.epochs, topology.kernels[0], [0.27, 0.44]):
        measured = measured_macs(model, args.image_size, phase.stride, phase.dilation)
        print(f"  stride {phase.stride:2d} dilation {phase.dilation}: {phase.end - phase.start} epochs, MACs "
              f"{measured / full_macs:.3f} of full tokenization measured, {formula[phase.stride]:.3f} by formula")
    print(f"training MACs ratio progressive / full: {prog.train_macs / full.train_macs:.3f} "
          f"(formula {cost:.3f})")
    print(f"training time ratio progressive / full: {prog.train_seconds / full.train_seconds:.3f} "
          f"({prog.train_seconds:.1f} s / {full.train_seconds:.1f} s)")
    print(f"wall time ratio with validation:        {prog_wall / full_wall:.3f} "
          f"({prog_wall:.1f} s / {full_wall:.1f} s)")
    print(f"final top-1: progressive {prog.top1:.2f}%, full {full.top1:.2f}% "
          f"(difference {prog.top1 - full.top1:+.2f} points)")


if __name__ == "__main__":
    main()
