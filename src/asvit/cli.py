"""The ``asvit`` command line: one subcommand per library entry point (a registry, see COMMANDS)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from .errors import exit_on_user_error


def _add_score(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", choices=["asvit", "autoformer"], required=True)
    parser.add_argument("--archs", type=Path, required=True, help="architecture records (JSON lines)")
    parser.add_argument("--proxies", required=True, help="comma-separated proxy names")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", type=Path, required=True, help="CSV to write or continue")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16, help="images in the NTK batch")
    parser.add_argument("--num-classes", type=int, default=1000)


def _run_score(args: argparse.Namespace) -> None:
    from .proxies import ScoreSettings, score_file

    settings = ScoreSettings(image_size=args.image_size, batch_size=args.batch_size,
                             repeats=args.repeats, num_classes=args.num_classes, seed=args.seed)
    names = [n.strip() for n in args.proxies.split(",") if n.strip()]
    summary = score_file(args.archs, args.space, names, settings, args.out)
    print(json.dumps(summary, indent=2))


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], None]]] = {
    "score": ("score architectures with training-free proxies", _add_score, _run_score),
}


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
