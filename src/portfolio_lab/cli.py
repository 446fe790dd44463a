"""Command line: ``portfolio-lab run`` executes the notebooks, ``portfolio-lab book`` builds."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .exceptions import PortfolioLabError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portfolio-lab",
        description="Run portfolio-lab's notebooks with papermill and build the book.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute programming notebooks, then their reviews")
    run.add_argument(
        "--params",
        default="notebooks/params/default.yaml",
        help="YAML parameter file (default: notebooks/params/default.yaml)",
    )
    run.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this notebook (e.g. 03_lagrange; its review runs too); repeatable",
    )
    run.add_argument("--backend", choices=["numpy", "torch", "cupy"], help="array backend")
    run.add_argument("--results-dir", default="results", help="root of run folders")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    book = sub.add_parser("book", help="build the Jupyter Book from an executed run")
    book.add_argument("--run", default="default", help="run name (default: default)")
    book.add_argument("--results-dir", default="results", help="root of run folders")
    book.add_argument("--build-dir", default=None, help="output folder (default: book/)")
    book.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portfolio-lab`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    from . import runner

    try:
        if args.command == "run":
            summary = runner.run_notebooks(
                args.params,
                only=args.only,
                backend=args.backend,
                results_dir=args.results_dir,
                progress=not args.no_progress,
            )
            total = sum(summary.seconds.values())
            print(
                f"run {summary.run!r}: {len(summary.executed)} notebooks in {total:.1f} s; "
                f"artifacts and executed notebooks under {summary.results_dir}"
            )
        else:
            html = runner.build_book(
                args.run,
                results_dir=args.results_dir,
                build_dir=args.build_dir,
                strict=not args.no_strict,
            )
            print(f"book built: {html / 'index.html'}")
    except PortfolioLabError as exc:
        print(f"portfolio-lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
