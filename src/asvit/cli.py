"""The ``asvit`` command line: one subcommand per library entry point (a registry, see COMMANDS)."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

from .errors import AsvitError, exit_on_user_error
from .registry import Registry


def _add_score(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", choices=["asvit", "autoformer"], required=True)
    parser.add_argument("--archs", type=Path, required=True, help="architecture records (JSON lines)")
    parser.add_argument("--proxies", required=True, help="comma-separated proxy names")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", type=Path, required=True, help="CSV to write or continue")
    parser.add_argument("--seconds", type=Path, help="JSON ledger of each row's seconds per proxy, so that the "
                        "summary's cost covers rows resumed by a later run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16, help="images in the NTK batch")
    parser.add_argument("--inputs", choices=["data", "noise"], default="data",
                        help="the NTK batch, for the proxies that read images: training images of "
                        "--images (default) or standard-normal noise")
    parser.add_argument("--images", type=Path, help="a directory prepared by the data stage (e.g. data/cls) whose "
                        "training images form the NTK batch")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="processes measuring in parallel")
    parser.add_argument("--dask", metavar="ADDRESS", help="measure on the workers of the Dask scheduler at ADDRESS "
                        "(tcp://host:8786) instead of --workers local processes")
    parser.add_argument("--device", default="cpu", help="the timed proxy latency_ms: cpu, cuda or cuda:N (one image "
                        "of --image-size per call)")
    parser.add_argument("--threads", type=int, default=1, help="the timed proxy latency_ms: intra-op threads")


def _run_score(args: argparse.Namespace) -> None:
    from .deploy import LatencySettings
    from .executor import Engine
    from .proxies import get_proxy
    from .proxies.scoring import ScoreSettings, score_file

    names = [n.strip() for n in args.proxies.split(",") if n.strip()]
    latency = (LatencySettings(args.device, args.threads, 1, args.image_size)
               if any(get_proxy(name).timed for name in names) else None)
    settings = ScoreSettings(image_size=args.image_size, batch_size=args.batch_size,
                             repeats=args.repeats, num_classes=args.num_classes, seed=args.seed, latency=latency)
    if args.inputs == "noise" and args.images is not None:
        raise AsvitError("asvit score: --images and --inputs noise contradict each other; give one")
    if args.images is not None:
        settings = settings.from_images(args.images)
    elif args.inputs == "data" and any(get_proxy(name).reads_images for name in names):
        raise AsvitError("asvit score: give --images PATH (a directory prepared by the data stage, e.g. "
                         "data/cls) for the NTK batch, or --inputs noise")
    engine = Engine("dask", address=args.dask) if args.dask else Engine.local(args.workers)
    summary = score_file(args.archs, args.space, names, settings, args.out, engine=engine, seconds=args.seconds)
    print(json.dumps(summary, indent=2))


def _add_kendall(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scores", type=Path, required=True, help="score CSV written by `asvit score`")
    parser.add_argument("--truth", type=Path, required=True, help="ground truth: CSV or JSON lines")
    parser.add_argument("--truth-column", required=True, help="accuracy column, e.g. val_top1 or c100_base_acc")
    parser.add_argument("--out", type=Path, help="write the correlations as JSON")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)


def _run_kendall(args: argparse.Namespace) -> None:
    from .correlation import agreement_table, format_agreements, read_scores, read_truth

    table = agreement_table(read_scores(args.scores), read_truth(args.truth, args.truth_column),
                            resamples=args.resamples, seed=args.seed)
    print(format_agreements(table))
    if args.out:
        args.out.write_text(json.dumps({k: v.to_dict() for k, v in table.items()}, indent=2) + "\n")


def parse_counts(text: str) -> list[int]:
    """``8,16,32``: numbers of labelled architectures, each at least 2."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"a ranker needs at least 2 labelled architectures, got {text!r}")
    return sizes


def _add_predict(parser: argparse.ArgumentParser) -> None:
    from .predictors import RANKERS

    parser.add_argument("--fit", type=Path, required=True, help="ground truth: CSV or JSON lines, by id")
    parser.add_argument("--truth-column", required=True, help="accuracy column to fit")
    parser.add_argument("--scores", type=Path, required=True, help="score CSV written by `asvit score`")
    parser.add_argument("--out", type=Path, required=True, help="predictions CSV to write")
    parser.add_argument("--regressor", choices=list(RANKERS), default="ridge",
                        help="a regressor, or auto: chosen with the feature groups by inner cross-validation")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the reported tau")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, help="also write the fitted ranker as JSON")
    parser.add_argument("--learning-curve", type=parse_counts, metavar="N,N,...",
                        help="also the held-out tau when fitted on N labelled architectures, chosen at random or by "
                        "k-center, beside FLOPs (written to OUT with suffix .curve.csv)")
    parser.add_argument("--draws", type=int, default=10, help="draws averaged at each point of the learning curve")


def _run_predict(args: argparse.Namespace) -> None:
    from .correlation import rank_agreement, read_score_table, read_scores, read_truth
    from .predictors import curve_summary, format_curve, learned_ranking, learning_curve

    truth = read_truth(args.fit, args.truth_column)
    saved, predictions = learned_ranking(args.scores, truth, args.regressor, args.folds, args.seed)
    predictions.to_csv(args.out, index_label="id")
    if args.model:
        args.model.write_text(json.dumps(saved, indent=1) + "\n")
    cv = rank_agreement(predictions["cv_prediction"], predictions["truth"])
    print(f"fitted on {saved['fitted_on']} architectures, predicted {len(predictions)} into {args.out}; "
          f"{args.folds}-fold Kendall tau {cv.kendall_tau:.3f} [{cv.kendall_ci.low:.3f}, {cv.kendall_ci.high:.3f}]")
    if args.learning_curve:
        curve = learning_curve(read_score_table(args.scores), list(read_scores(args.scores).columns), truth,
                               args.regressor, args.learning_curve, args.draws, folds=args.folds, seed=args.seed)
        path = args.out.with_suffix(".curve.csv")
        curve.to_csv(path, index=False)
        print(f"learning curve ({args.draws} draws each; written to {path}):")
        print(format_curve(curve_summary(curve)))


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revisions", nargs="*", help="git revisions or experiment names to plot side by side "
                        "(default: the workspace)")
    parser.add_argument("--out", type=Path, default=Path("reports/plots.html"), help="HTML page to write")


def _run_report(args: argparse.Namespace) -> None:
    from .report import plot_specs, write_report

    plots = plot_specs(Path.cwd(), args.revisions)
    out = write_report(plots, args.out)
    empty = [p.id for p in plots if p.spec is None]
    print(f"wrote {out}: {len(plots) - len(empty)} plots" + (f"; no data for {', '.join(empty)}" if empty else ""))


def _add_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=120, help="widest table in characters")


def _run_compare(args: argparse.Namespace) -> None:
    from .compare import comparison, experiment_rows, render, tag_experiment_commits

    rows = experiment_rows(Path.cwd())
    header, cells, left_out = comparison(rows, args.width)
    print(render(header, cells))
    if left_out:
        print(textwrap.fill(f"(left out for width: {', '.join(left_out)})", args.width))
    tagged = tag_experiment_commits(rows)
    if tagged:
        print(f"recorded the experiment commit on {tagged} MLflow runs (tag dvc_exp_commit)")


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]
COMMANDS: Registry[Command] = Registry("command", {
    "score": ("score architectures with training-free proxies", _add_score, _run_score),
    "kendall": ("rank correlation of proxy scores with accuracies", _add_kendall, _run_kendall),
    "predict": ("fit the learned ranker on a ground truth and predict every scored architecture", _add_predict,
                _run_predict),
    "report": ("render every dvc.yaml plot to SVG in one offline HTML page", _add_report, _run_report),
    "compare": ("the experiments' key metrics and differing params and metrics in one narrow table", _add_compare,
                _run_compare),
})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asvit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    return parser


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    COMMANDS[args.command][2](args)


if __name__ == "__main__":
    main()
