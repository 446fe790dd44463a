"""Backtester speed: ten fixed-weight strategies on the bundled S&P data (8312 days, 20 stocks).

Times the vectorized path (weights_vectorized + costs by a fixed point vectorized across
periods) against the per-period loop, both with exact proportional costs, plus one
walk-forward GMV run (loop only). Reports the median of repeats and checks that both
paths give the same wealth.

Second part (``olps``): CORN, B^K, B^NN and Cover's UP on NYSE(O) (5651 days x 36 stocks)
against universal-portfolios' implementations in the same run (it has no B^K). UP and our
CORN run on the whole dataset; universal's CORN and BNN (pandas loops, minutes per
thousand days) and our B^K / B^NN (51 log-optimal experts a day, quadratic in the days)
run on the first ``--prefix`` days, ours on the same prefix for the ratio. Final wealths
and their relative gaps are recorded beside the times. Writes
results/benchmarks/backtest_<machine>.json.

    .venv/bin/python bench/backtest.py [--repeats 5] [--loop-repeats 3] [--prefix 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from portfolio_lab._io import write_json
from portfolio_lab.backtest import BuyAndHold, ConstantRebalanced, MarkowitzPolicy, baseline, run
from portfolio_lab.data import load_prices
from portfolio_lab.timing import machine_name, machine_record, time_calls

ROOT = Path(__file__).resolve().parents[1]


def strategies(n: int) -> list:
    rng = np.random.default_rng(0)
    out = [ConstantRebalanced(name="CRP(1/N)"), BuyAndHold(name="BAH(1/N)")]
    for i in range(4):
        out.append(ConstantRebalanced(rng.dirichlet(np.ones(n)), name=f"CRP(random {i})"))
        out.append(BuyAndHold(rng.dirichlet(np.ones(n)), name=f"BAH(random {i})"))
    return out


CPU: dict[str, float] = {}


def time_all(prices, *, vectorized: bool, fee: float, repeats: int) -> tuple[float, list]:
    times, cpu, results = [], [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        results = [
            run(p, prices, fee=fee, vectorized=vectorized) for p in strategies(prices.shape[1])
        ]
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[f"ten_strategies_{'vectorized' if vectorized else 'loop'}_fee={fee}"] = statistics.median(
        cpu
    )
    return statistics.median(times), results


def _universal_run(make, prices) -> tuple[float, float]:
    import warnings

    algo = make()  # a fresh algorithm per repeat (universal's algorithms keep state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        res = algo.run(prices.reset_index(drop=True))
        return time.perf_counter() - start, float(res.total_wealth)


def _ours_run(name: str, prices, **params) -> tuple[float, float]:
    start = time.perf_counter()
    res = run(baseline(name, **params), prices)
    return time.perf_counter() - start, float(res.final_wealth)


def _median_of(fn, repeats: int) -> tuple[float, float]:
    out = [fn() for _ in range(repeats)]
    wealths = {w for _, w in out}
    if len(wealths) != 1:
        raise RuntimeError(f"repeats disagree on the final wealth: {sorted(wealths)}")
    return statistics.median(t for t, _ in out), out[-1][1]


def olps_record(prefix: int, repeats: int) -> dict:
    """Time CORN, B^K, B^NN and UP (ours and universal-portfolios') on NYSE(O)."""
    import logging

    import universal.algos as ualgos

    logging.getLogger().setLevel(logging.ERROR)
    prices = load_prices("olps:nyse_o")
    head = prices.iloc[: prefix + 1]
    rec: dict = {
        "data": {
            "source": "olps:nyse_o",
            "periods": len(prices) - 1,
            "assets": prices.shape[1],
            "prefix_periods": prefix,
        },
        "universal_portfolios": _version("universal-portfolios"),
        "rows": {},
    }

    def row(key, ours, theirs, days, note):
        (t_o, w_o), (t_u, w_u) = ours, theirs
        rec["rows"][key] = {
            "periods": days,
            "ours_s": t_o,
            "universal_s": t_u if t_u == t_u else None,
            "speedup": (t_u / t_o) if t_u == t_u else None,  # NaN != NaN: not timed
            "ours_wealth": w_o,
            "universal_wealth": w_u if w_u == w_u else None,
            "relative_wealth_gap": (abs(w_o / w_u - 1) if w_u == w_u else None),
            "repeats": repeats,
            "note": note,
        }
        print(f"{key:22s} {days:5d} days  ours {t_o:8.2f} s  universal {t_u:8.2f} s", flush=True)

    def universal_up():
        np.random.seed(0)  # noqa: NPY002 - universal's UP samples with the global generator
        return ualgos.UP(eval_points=10000)

    up_u = _median_of(lambda: _universal_run(universal_up, prices), repeats)
    up_algo = universal_up()
    up_algo.init_step(prices)  # draws the points exactly as the timed runs did
    points = np.asarray(up_algo.W)
    up_same = _median_of(lambda: _ours_run("up", prices, points=points), repeats)
    row(
        "up_same_points",
        up_same,
        up_u,
        len(prices) - 1,
        "same variant: our UP on universal's 10^4 points (vectorized blocks)",
    )
    row(
        "up_default",
        _median_of(lambda: _ours_run("up", prices), repeats),
        (float("nan"), up_u[1]),
        len(prices) - 1,
        "our default sample (10^4 Dirichlet points, seed 0)",
    )
    nan = (float("nan"), float("nan"))
    row(
        "corn_full",
        _median_of(lambda: _ours_run("corn", prices), repeats),
        nan,
        len(prices) - 1,
        "ours only on the whole dataset (universal's CORN would take tens of minutes)",
    )
    corn_u = _median_of(
        lambda: _universal_run(lambda: ualgos.CORN(window=5, rho=0.1), head), repeats
    )
    row(
        "corn_prefix",
        _median_of(lambda: _ours_run("corn", head), repeats),
        corn_u,
        prefix,
        "same expert; universal learns one day earlier and solves with SLSQP (cash allowed); "
        "with our solver and warm-up in universal's loop the wealth agrees to 1e-8 "
        "(tests/backtest/test_baselines_olps_set.py)",
    )
    corn_same = _median_of(
        lambda: _universal_run(lambda: _corn_same_variant(ualgos), head), repeats
    )
    relatives = np.vstack([np.ones((1, head.shape[1])), head.to_numpy()[1:] / head.to_numpy()[:-1]])

    def corn_on_rows() -> tuple[float, float]:
        start = time.perf_counter()
        same_w = baseline("corn").weights_path(relatives)
        return time.perf_counter() - start, float(np.prod(np.sum(same_w * relatives, axis=1)))

    corn_same_ours = _median_of(corn_on_rows, repeats)
    row(
        "corn_prefix_same_variant",
        corn_same_ours,
        corn_same,
        prefix,
        "universal's CORN loop with our log-optimal solver and the toolbox warm-up, ours on "
        "universal's rows (a leading row of ones): the same variant; universal's time here "
        "includes our solver, so it is not its own speed",
    )
    bnn_u = _median_of(lambda: _universal_run(lambda: ualgos.BNN(k=5, l=10), head), repeats)
    row(
        "bnn_prefix",
        _median_of(lambda: _ours_run("bnn", head), repeats),
        bnn_u,
        prefix,
        "different variants: ours is the survey's mixture of 51 experts, universal one expert "
        "(k = 5, 10 neighbours); wealths are not comparable, times are per strategy",
    )
    row(
        "bk_prefix",
        _median_of(lambda: _ours_run("bk", head), repeats),
        nan,
        prefix,
        "universal-portfolios has no B^K",
    )
    return rec


def _corn_same_variant(ualgos):
    from portfolio_lab.backtest.baselines import log_optimal

    class SameVariant(ualgos.CORN):
        def step_fast(self, x, last_b, history):
            if len(history) <= self.window + 1:
                self.t += 1
                return np.full(len(x), 1.0 / len(x))
            return super().step_fast(x, last_b, history)

        def optimal_weights(self, X):
            return log_optimal(X.to_numpy())

    algo = SameVariant(window=5, rho=0.1)
    algo.step = algo.step_fast
    return algo


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=3)
    parser.add_argument("--fee", type=float, default=0.0025)
    parser.add_argument("--machine", default=machine_name())
    parser.add_argument("--prefix", type=int, default=1000, help="days of the slow OLPS runs")
    parser.add_argument("--olps-repeats", type=int, default=3)
    parser.add_argument("--skip-olps", action="store_true")
    parser.add_argument(
        "--only-olps",
        action="store_true",
        help="rerun only the olps section, keeping the rest of an existing JSON",
    )
    args = parser.parse_args()
    target = ROOT / "results" / "benchmarks" / f"backtest_{args.machine}.json"
    if args.only_olps:
        import json

        record = json.loads(target.read_text())
        record["olps"] = olps_record(args.prefix, args.olps_repeats)
        record["olps"]["machine_info"] = machine_record()
        write_json(target, record)
        print(f"wrote the olps section of {target}")
        return

    prices = load_prices("sp500")
    run(ConstantRebalanced(), prices.iloc[:50], fee=args.fee)  # warm imports
    vec_s, vec = time_all(prices, vectorized=True, fee=args.fee, repeats=args.repeats)
    vec0_s, _ = time_all(prices, vectorized=True, fee=0.0, repeats=args.repeats)
    loop_s, loop = time_all(prices, vectorized=False, fee=args.fee, repeats=args.loop_repeats)
    gap = max(
        float(np.max(np.abs(a.wealth.to_numpy() / b.wealth.to_numpy() - 1)))
        for a, b in zip(vec, loop, strict=True)
    )
    wf_times, _ = time_calls(
        lambda: run(
            MarkowitzPolicy("gmv", "sample", window=252, rebalance_every=21), prices, fee=args.fee
        ),
        repeats=args.loop_repeats,
        warmup=0,
    )

    record = {
        "benchmark": "backtest",
        "machine": args.machine,
        "machine_info": machine_record(),
        "data": {"source": "sp500", "periods": len(prices) - 1, "assets": prices.shape[1]},
        "strategies": [r.name for r in vec],
        "fee": args.fee,
        "cost_model": "exact",
        "repeats": {"vectorized": args.repeats, "loop": args.loop_repeats},
        "seconds_median": {
            "ten_strategies_vectorized": vec_s,
            "ten_strategies_vectorized_no_costs": vec0_s,
            "ten_strategies_loop": loop_s,
            "walk_forward_gmv_sample_w252_r21_loop": statistics.median(wf_times),
        },
        "cpu_seconds_median": CPU,
        "note": "wall-clock medians on a shared machine; cpu_seconds are less sensitive to load",
        "speedup_loop_over_vectorized": loop_s / vec_s,
        "max_relative_wealth_gap_vectorized_vs_loop": gap,
        "final_wealth": {r.name: r.final_wealth for r in vec},
    }
    if not args.skip_olps:
        record["olps"] = olps_record(args.prefix, args.olps_repeats)
    write_json(target, record)
    print(f"wrote {target}")
    for key, value in record["seconds_median"].items():
        print(f"{key:45s} {value:8.3f} s")
    print(f"speed-up {record['speedup_loop_over_vectorized']:.1f}x, max wealth gap {gap:.2e}")


if __name__ == "__main__":
    main()
