"""Command line of portfolio-lab.

``run`` executes the notebooks, ``book`` builds, ``predict`` serves a model, ``sweep`` turns a
parameter grid into runs (here, or as a Kubernetes Indexed Job).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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
    run.add_argument(
        "--jobs",
        "-j",
        default="auto",
        metavar="N",
        help="chapters run at once (default auto: the cores, at most the chapters); each "
        "review runs after its own notebook, the report last",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="execute every notebook, also those whose inputs are unchanged since their "
        "last successful run in this run folder",
    )
    run.add_argument(
        "--book",
        action="store_true",
        help="then build the book of this run into <results-dir>/<run>/book/_build/html",
    )

    book = sub.add_parser("book", help="build the Jupyter Book from an executed run")
    book.add_argument("--run", default="default", help="run name (default: default)")
    book.add_argument("--results-dir", default="results", help="root of run folders")
    book.add_argument("--build-dir", default=None, help="output folder (default: book/)")
    book.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")

    pred = sub.add_parser(
        "predict",
        help="load a saved model and print the weights for the next period",
        description="Exit status 2 when the model is missing, the tickers differ from the "
        "model's, the history is too short, or a model that reads its held weights (EIIE) "
        "gets no --previous.",
    )
    pred.add_argument("--model", required=True, metavar="PATH", help="saved model folder")
    src = pred.add_mutually_exclusive_group()
    src.add_argument("--source", metavar="NAME", help="load_prices source (default: sp500)")
    src.add_argument("--prices", metavar="FILE", help="CSV (dates first) or parquet of prices")
    pred.add_argument("--asof", metavar="DATE", help="use prices up to this date")
    pred.add_argument(
        "--previous",
        metavar="FILE|cash",
        help="weights held now, cash included (JSON or CSV), or 'cash'; required by models "
        "that read their held weights (EIIE)",
    )
    pred.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pred.add_argument(
        "--out",
        metavar="DIR",
        help="also write the JSON record to DIR/<asof>.json and DIR/latest.json",
    )

    sweep = sub.add_parser(
        "sweep",
        help="turn a parameter grid into runs: a Kubernetes Indexed Job (--out) or here (--local)",
    )
    sweep.add_argument("--grid", required=True, metavar="FILE", help="grid YAML")
    where = sweep.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--out", metavar="DIR", help="write params/set-<k>.yaml, configmap.yaml and job.yaml"
    )
    where.add_argument("--local", action="store_true", help="run every set on this machine")
    sweep.add_argument("--results-dir", default="results", help="root of run folders (--local)")
    return parser


def _predict(args: argparse.Namespace) -> int:
    import json

    from .data import load_prices
    from .exceptions import DataError, InputError
    from .models.predict import load_model, predict_next, read_previous, read_prices_file

    try:
        model = load_model(args.model)
        previous = None
        if getattr(model, "uses_previous_weights", False):
            if args.previous is None:
                print(
                    f"portfolio-lab predict: error: a {type(model).__name__} trades from the "
                    "weights it holds; pass --previous FILE (JSON or CSV of the current weights, "
                    "cash included) or --previous cash",
                    file=sys.stderr,
                )
                return 2
            previous = read_previous(args.previous, model)
        elif args.previous is not None:
            print(
                f"portfolio-lab predict: note: a {type(model).__name__} does not read held "
                "weights; --previous is ignored",
                file=sys.stderr,
            )
        if args.prices:
            prices = read_prices_file(args.prices)
            origin = str(args.prices)
        else:
            source = args.source or "sp500"
            if source == "yahoo":  # the day's closes of the model's tickers
                prices = load_prices(
                    source, tickers=list(model.assets_), refresh=True, validate=False
                )
            else:
                prices = load_prices(source, validate=False)
            origin = source
        weights = predict_next(model, prices, asof=args.asof, previous=previous)
    except (InputError, DataError) as exc:
        print(f"portfolio-lab predict: error: {exc}", file=sys.stderr)
        return 2
    record = {
        "model": str(args.model),
        "class": type(model).__name__,
        "prices": origin,
        "asof": weights.name,
        "weights": {str(k): float(v) for k, v in weights.items()},
    }
    if previous is not None:
        record["previous"] = args.previous
    if args.out:
        from ._io import write_json

        for name in (str(weights.name), "latest"):
            write_json(Path(args.out) / f"{name}.json", record)
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"{type(model).__name__} from {args.model}; prices {origin} up to {weights.name}")
        print("weights for the next period:")
        print(weights.to_frame("weight").to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from . import sweep

    plan = sweep.load_grid(args.grid)
    if args.local:
        summaries = sweep.run_local(plan, results_dir=args.results_dir)
        for s in summaries:
            print(f"set {s.run}: {len(s.executed)} notebooks; artifacts under {s.results_dir}")
        return 0
    files = sweep.write_sweep(plan, args.out)
    print(
        f"sweep {plan.run!r}: {plan.size} parameter sets of {plan.notebook}; wrote "
        f"{len(files)} files under {args.out} (kubectl apply -f {args.out}/configmap.yaml "
        f"-f {args.out}/job.yaml)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portfolio-lab`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "predict":
        return _predict(args)
    from . import runner

    try:
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "run":
            summary = runner.run_notebooks(
                args.params,
                only=args.only,
                backend=args.backend,
                results_dir=args.results_dir,
                progress=not args.no_progress,
                jobs=args.jobs,
                force=args.force,
            )
            print(
                f"run {summary.run!r}: {len(summary.executed)} notebooks executed, "
                f"{len(summary.skipped)} unchanged, in {summary.wall_seconds:.1f} s wall "
                f"({summary.jobs} at once); artifacts and executed notebooks under "
                f"{summary.results_dir}; per-notebook seconds in {summary.timings}"
            )
            if args.book:
                html = runner.build_run_book(summary.run, results_dir=args.results_dir)
                print(f"book built: {html / 'index.html'}")
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
