"""Speed of the Gymnasium environment and of the agents of chapter 12b, side by side.

On the bundled S&P data at the chapter's sizes (20 stocks, window 30, 750 days): environment
steps per second with random actions (the price tensor built from the rows up to the
period at every step, exact costs), and the training throughput of each agent in
environment periods per second: the SB3 agents at the package's defaults (PPO, SAC,
recurrent PPO; fits of ``--timesteps`` steps, two evaluation rollouts included) and the DPG agent
(``EIIE(network="rnn", reward="simple")``, periods = gradient steps × batch 64). One torch
thread, medians of ``--repeats`` fits; the load average is recorded (shared machine).
Writes results/benchmarks/rl_<machine>.json.

    .venv/bin/python bench/rl.py [--timesteps 4096] [--repeats 3] [--machine NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from portfolio_lab._io import write_json
from portfolio_lab.data import load_prices
from portfolio_lab.models import EIIE, SB3Allocator
from portfolio_lab.models.env import PortfolioEnv
from portfolio_lab.timing import limit_threads, machine_name, machine_record

ROOT = Path(__file__).resolve().parents[1]


def env_steps_per_second(prices, steps: int, repeats: int) -> list[float]:
    env = PortfolioEnv(prices, window=30, random_start=True, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(steps, env.n_outputs))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        rates.append(steps / (time.perf_counter() - start))
    return rates


def fit_rate(template, prices, repeats: int, periods) -> list[float]:
    rates = []
    for r in range(repeats):
        model = template.clone(random_state=r)
        start = time.perf_counter()
        model.fit(prices)
        rates.append(periods(model) / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096)
    parser.add_argument("--dpg-steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--machine", default=machine_name())
    args = parser.parse_args()
    prices = load_prices("sp500").iloc[-1000:].iloc[:751]
    load_before = os.getloadavg()
    record: dict = {
        "machine": args.machine,
        "machine_info": machine_record(),
        "threads": 1,
        "assets": prices.shape[1],
        "window": 30,
        "days": len(prices) - 1,
        "repeats": args.repeats,
    }
    with limit_threads(1):
        rates = env_steps_per_second(prices, 2000, args.repeats)
        record["env_steps_per_second_median"] = statistics.median(rates)
        agents = {}
        for algo in ("ppo", "sac", "recurrent_ppo"):
            # two validation + in-sample rollouts per fit (the chapter makes ten per fit)
            template = SB3Allocator(
                algo, total_timesteps=args.timesteps, window=30, eval_every=args.timesteps // 2
            )
            rates = fit_rate(template, prices, args.repeats, lambda m: m.history_[-1]["step"])
            agents[algo] = {
                "periods_per_second_median": statistics.median(rates),
                "periods_per_second": rates,
                "timesteps": args.timesteps,
                "algo_kwargs": template.resolved_algo_kwargs(),
                "policy_kwargs": template.resolved_policy_kwargs(),
            }
            print(algo, f"{statistics.median(rates):.0f} periods/s")
        dpg = EIIE(network="rnn", reward="simple", window=30, steps=args.dpg_steps, batch_size=64,
                   validation_fraction=0.0667, eval_every=50)  # fmt: skip
        rates = fit_rate(dpg, prices, args.repeats, lambda m: m.steps * m.batch_size)
        agents["dpg_eiie_rnn"] = {
            "periods_per_second_median": statistics.median(rates),
            "periods_per_second": rates,
            "steps": args.dpg_steps,
            "batch_size": 64,
        }
        print("dpg", f"{statistics.median(rates):.0f} periods/s")
    record["agents"] = agents
    record["load_average_before_after"] = [list(load_before), list(os.getloadavg())]
    target = ROOT / "results" / "benchmarks" / f"rl_{args.machine}.json"
    write_json(target, record)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
