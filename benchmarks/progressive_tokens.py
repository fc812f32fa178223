"""Progressive re-tokenization against full tokenization throughout: the same network, data, recipe,
seed and epochs, trained both ways side by side in one run on the embedded generated dataset.

Prints the MACs of each phase relative to full tokenization (measured and by formula), the
training-MACs ratio, the training wall-time ratio and both final validation accuracies.
Goal: at least 30% less training time with at most 1 point lower top-1.

    python benchmarks/progressive_tokens.py [--epochs 24] [--width 16] [--image-size 128] [--threads 1]

The default takes about 8 minutes on 2 CPU cores. Much shorter schedules (e.g. --epochs 12) leave
too few full-tokenization epochs to recover from the accuracy dip at each phase switch.
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
PHASE_ENDS = [0.27, 0.44]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", default=PAPER_SEED, help="seed or scaled form")
    parser.add_argument("--width", type=int, default=16, help="stage-1 width C")
    parser.add_argument("--image-size", type=int, default=128, help="stride 16 needs at least 128 px")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--val-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    topology = Topology.parse(args.topology).scaled(width=args.width)
    phases = phase_schedule(args.epochs, topology.kernels[0], PHASE_ENDS)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        prepare_classification("generated", Path(tmp), image_size=args.image_size, seed=args.seed,
                               num_classes=args.classes, train_size=args.train_size, val_size=args.val_size)
        train_set, val_set = open_classification(Path(tmp), "train"), open_classification(Path(tmp), "val")
        for label, ends in (("full", None), ("progressive", PHASE_ENDS)):
            recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup_epochs=1,
                            phase_ends=ends)
            torch.manual_seed(args.seed)
            model = ASViT(topology, num_classes=args.classes)
            start = time.perf_counter()
            result = fit(model, train_set, val_set, recipe, seed=args.seed, desc=label)
            runs[label] = (result, time.perf_counter() - start)

    (full, full_wall), (prog, prog_wall) = runs["full"], runs["progressive"]
    print(f"topology {topology.scaled_string()} at {args.image_size} px, {args.classes} classes, "
          f"{args.train_size} training images, {args.epochs} epochs, {args.threads} threads")
    model = ASViT(topology, num_classes=args.classes)
    full_macs, formula = measured_macs(model, args.image_size), relative_macs(topology, args.image_size, args.classes)
    for phase in phases:
        measured = measured_macs(model, args.image_size, phase.stride, phase.dilation)
        seconds = [r.seconds for r in prog.history[phase.start:phase.end]]
        print(f"  stride {phase.stride:2d} dilation {phase.dilation}: epochs {phase.start}-{phase.end - 1}, MACs "
              f"{measured / full_macs:.3f} of full tokenization measured, {formula[phase.stride]:.3f} by formula, "
              f"{sum(seconds) / max(1, len(seconds)):.1f} s per training epoch")
    print(f"  full tokenization throughout: {full.train_seconds / args.epochs:.1f} s per training epoch")
    print(f"training MACs ratio progressive / full: {prog.train_macs / full.train_macs:.3f} "
          f"(formula {phase_cost(topology, args.image_size, phases, args.classes):.3f})")
    print(f"training time ratio progressive / full: {prog.train_seconds / full.train_seconds:.3f} "
          f"({prog.train_seconds:.1f} s / {full.train_seconds:.1f} s)")
    print(f"wall time ratio, validation included:   {prog_wall / full_wall:.3f} "
          f"({prog_wall:.1f} s / {full_wall:.1f} s)")
    print(f"final top-1: progressive {prog.top1:.2f}%, full {full.top1:.2f}% "
          f"(difference {prog.top1 - full.top1:+.2f} points)")
    print("top-1 per epoch, full:        " + " ".join(f"{r.val_top1:.1f}" for r in full.history))
    print("top-1 per epoch, progressive: " + " ".join(f"{r.val_top1:.1f}" for r in prog.history))


if __name__ == "__main__":
    main()
