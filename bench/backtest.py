"""Backtester speed: ten fixed-weight strategies on the bundled S&P data (8312 days, 20 stocks).

Times the vectorized path (weights_vectorized + costs by a fixed point vectorized across
periods) against the per-period loop, both with exact proportional costs, plus one
walk-forward GMV run (loop only). Reports the median of repeats and checks that both
paths give the same wealth. Writes results/benchmarks/backtest_<machine>.json.

    .venv/bin/python bench/backtest.py [--repeats 5] [--loop-repeats 3] [--machine NAME]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from portfolio_lab._io import write_json
from portfolio_lab.backtest import BuyAndHold, ConstantRebalanced, MarkowitzPolicy, run
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=3)
    parser.add_argument("--fee", type=float, default=0.0025)
    parser.add_argument("--machine", default=machine_name())
    args = parser.parse_args()

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
    target = ROOT / "results" / "benchmarks" / f"backtest_{args.machine}.json"
    write_json(target, record)
    print(f"wrote {target}")
    for key, value in record["seconds_median"].items():
        print(f"{key:45s} {value:8.3f} s")
    print(f"speed-up {record['speedup_loop_over_vectorized']:.1f}x, max wealth gap {gap:.2e}")


if __name__ == "__main__":
    main()
