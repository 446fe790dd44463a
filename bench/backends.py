"""Benchmark: the same Markowitz solvers on NumPy, torch-CPU, and (with a GPU) CuPy / torch-cuda.

Tasks per size n: ``frontier`` (the closed-form efficient frontier, ``--targets`` points
from one factorization) and ``newton`` (equality-constrained Newton from the least-norm
start, one target). n = 20 is the bundled S&P 500 problem (daily log returns 1990-2022);
larger n are seeded factor models (``_common.make_factor_problem``). Each cell is the
median of ``--repeats`` calls after one warm-up call, single-threaded by default
(``--threads``; a multi-threaded BLAS wastes most of a tiny solve waking threads on a
small shared machine); GPU cells synchronize the device before the clock is read. Every
backend's weights are compared with NumPy's.

Usage: ``python bench/backends.py [--sizes 20 100 500 2000] [--repeats 7] [--quick]``.
Writes ``results/benchmarks/backends_<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_factor_problem, sp500_problem  # noqa: E402

from portfolio_lab._io import write_json  # noqa: E402
from portfolio_lab.backend import get_backend, gpu_available, to_numpy  # noqa: E402
from portfolio_lab.solvers import efficient_frontier, markowitz_newton  # noqa: E402
from portfolio_lab.timing import (  # noqa: E402
    device_sync,
    limit_threads,
    machine_name,
    machine_record,
    time_calls,
)

OUT = Path(__file__).resolve().parent.parent / "results" / "benchmarks"


def backends() -> list[tuple[str, str | None, str]]:
    """(name, torch device, label) of every backend usable on this machine."""
    found = [("numpy", None, "numpy"), ("torch", "cpu", "torch:cpu")]
    if gpu_available("cupy"):
        found.append(("cupy", None, "cupy"))
    if gpu_available("torch"):
        found.append(("torch", "cuda", "torch:cuda"))
    return found


def problem(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    if n == 20:
        mu, cov, _ = sp500_problem()
        return mu, cov, "bundled sp500, daily log returns 1990-2022"
    mu, cov = make_factor_problem(n, seed=n)
    return mu, cov, "seeded factor model (_common.make_factor_problem)"


def run(sizes: list[int], repeats: int, n_targets: int, progress: bool) -> list[dict[str, Any]]:
    specs = backends()
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(sizes) * len(specs), disable=not progress, desc="backends") as bar:
        for n in sizes:
            mu_np, cov_np, source = problem(n)
            targets_np = np.linspace(mu_np.min(), mu_np.max(), n_targets)
            mid = float(np.median(mu_np))
            reference: dict[str, np.ndarray] = {}
            for name, device, label in specs:
                asarray, _ = get_backend(name, device)
                mu, cov, targets = asarray(mu_np), asarray(cov_np), asarray(targets_np)
                sync = device_sync(name, device)
                calls = {
                    "frontier": lambda mu=mu, cov=cov, t=targets: efficient_frontier(mu, cov, t),
                    "newton": lambda mu=mu, cov=cov, r=mid: markowitz_newton(mu, cov, r),
                }
                for task, fn in calls.items():
                    times, out = time_calls(fn, repeats=repeats, sync=sync)
                    med = statistics.median(times)
                    weights = to_numpy(out.weights)
                    if label == "numpy":
                        reference[task] = weights
                    diff = float(np.nanmax(np.abs(weights - reference[task])))
                    rows.append(
                        {
                            "task": task,
                            "backend": label,
                            "n": n,
                            "median_s": med,
                            "repeats": repeats,
                            "times_s": times,
                            "max_abs_diff_vs_numpy": diff,
                            "n_iter": int(getattr(out, "n_iter", 0)) if task == "newton" else None,
                            "problem": source,
                        }
                    )
                bar.update(1)
    return rows


def speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = {(r["task"], r["n"]): r["median_s"] for r in rows if r["backend"] == "numpy"}
    return [
        {
            "task": r["task"],
            "backend": r["backend"],
            "n": r["n"],
            "numpy_over_backend": base[(r["task"], r["n"])] / r["median_s"],
        }
        for r in rows
        if r["backend"] != "numpy"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500, 2000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--targets", type=int, default=50, help="frontier points per call")
    parser.add_argument("--quick", action="store_true", help="sizes 20 100, 3 repeats")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS and torch threads (0: library defaults)"
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--machine", default=None, help="tag of the JSON name (default: detected)")
    args = parser.parse_args(argv)
    sizes, repeats = ([20, 100], 3) if args.quick else (args.sizes, args.repeats)

    import torch

    info = machine_record()
    with limit_threads(args.threads or None):
        info["threads"] = torch.get_num_threads()
        rows = run(sizes, repeats, args.targets, progress=not args.no_progress)
    tag = args.machine or machine_name()
    doc = {
        "benchmark": "backends",
        "machine": f"{tag}: {info['cpu_model']}, {info['cores']} cores, GPU {info['gpu'] or 'none'}",  # noqa: E501
        "machine_info": info,
        "sizes": sizes,
        "repeats": repeats,
        "n_targets": args.targets,
        "results": rows,
        "speedup_vs_numpy": speedups(rows),
        "notes": (
            "median wall time per call after one warm-up call; frontier = closed form for "
            f"{args.targets} targets from one factorization; newton = markowitz_newton from the "
            "least-norm start; CPU threads capped at machine_info.threads. Measured on a shared "
            "machine: see machine_info.load_average_1m."
        ),
    }
    target = write_json(args.out / f"backends_{tag}.json", doc)
    print(f"wrote {target}")
    try:
        import pandas as pd

        from portfolio_lab.artifacts import save_figure
        from portfolio_lab.plotting import plot_timings

        table = pd.DataFrame(rows)
        fig = plot_timings(table, title=f"backends on {tag} (median of {repeats})")
        save_figure(fig, args.out, f"backends_{tag}")
        print(table.pivot_table(index="n", columns=["task", "backend"], values="median_s"))
    except ImportError as exc:  # pragma: no cover - matplotlib/pandas are core deps
        print(f"no figure: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
