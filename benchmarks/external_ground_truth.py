"""Rank correlation of every proxy with accuracies nobody here produced: the 200 AutoFormer-space
ViTs of ViT-Bench-101 in ``../shared/benchmarks/vitbench101_autoformer.jsonl``.

    python benchmarks/external_ground_truth.py [--image-size 224] [--repeats 1] [--limit N] [--workers W]

Scores are written to (and resumed from) ``benchmarks/results/vitbench101_scores.csv``; the table
printed gives Kendall tau with its bootstrap 95% interval and Spearman rho of each proxy against
each accuracy column, with parameter count and FLOPs always beside the proxies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asvit.correlation import agreement_table, format_agreements, read_scores, read_truth
from asvit.proxies import PROXIES, ScoreSettings, score_file
from asvit.records import read_records

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT.parent / "shared" / "benchmarks" / "vitbench101_autoformer.jsonl"
OUT = ROOT / "benchmarks" / "results" / "vitbench101_scores.csv"
TRUTH_COLUMNS = ("c100_base_acc", "c100_kd_acc", "flower_base_acc", "flower_kd_acc", "chaoyang_base_acc",
                 "chaoyang_kd_acc", "imagenet_super_acc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", type=Path, default=TRUTH)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N architectures")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--workers", type=int, default=1, help="processes measuring in parallel")
    args = parser.parse_args()

    records = read_records(args.truth, "autoformer")[: args.limit]
    subset = args.out.with_suffix(".archs.jsonl")
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(args.truth.read_text().splitlines(keepends=True)[: len(records)]))
    settings = ScoreSettings(image_size=args.image_size, repeats=args.repeats)
    names = list(PROXIES)
    score_file(subset, "autoformer", names, settings, args.out, workers=args.workers)

    scores = read_scores(args.out)
    print(f"\n{len(records)} architectures, proxies at {args.image_size}px, {args.repeats} repeat(s)")
    for column in TRUTH_COLUMNS:
        print(f"\n{column}")
        print(format_agreements(agreement_table(scores, read_truth(args.truth, column))))


if __name__ == "__main__":
    main()
