"""Training budget of the EIIE agents: does the verdict change with more gradient steps?

For each agent (the CNN EIIE of chapter 11 on two OLPS datasets and the bundled S&P
stocks, chapter 12's RNN agent with its simple-return and its log reward on the bundled S&P
stocks) and
each seed, ONE long training run under the chapters' protocol (last 1 000 days, 70 %
training, 5 % validation, 25 % test, window 30, batch 64, Adam 10⁻³, 0.25 % per side) is
stopped at log-spaced step counts (300 ... 30 000); at each, the frozen agent is rolled over
all days holding its own drifted weights (:meth:`EIIE.rollout`) and its weight schedule is
charged by the backtester at the headline cost on each segment:

- in-sample: mean daily log growth on the training days, against 1/N (the chapters'
  ``MarkowitzPolicy("equal_weight", rebalance_every=21)``) on the same days;
- validation and test fAPV (final wealth, 1 at the segment's start);
- distance from uniform: ½‖w − 1/N‖₁ (1/N over the assets, no cash) and the effective
  number of holdings ``1/Σw²`` (cash included), averaged over the test days.

No checkpoint is chosen (the validation periods never enter a batch); online learning is
off, so the numbers isolate the training budget. Each (agent, seed) run is cached under
``results/training_budget_parts/`` so an interrupted study resumes; the merged record goes
to ``results/benchmarks/training_budget_<machine>.json``.

    .venv/bin/python bench/training_budget.py [--seeds 0 1 2] [--threads 1]
        [--agents cnn:olps:djia ...] [--max-steps 30000] [--machine NAME]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from portfolio_lab import backtest
from portfolio_lab._io import write_json
from portfolio_lab.backtest import MarkowitzPolicy, ScheduledWeights
from portfolio_lab.data import load_prices
from portfolio_lab.models import EIIE
from portfolio_lab.timing import limit_threads, machine_name, machine_record

ROOT = Path(__file__).resolve().parents[1]
AGENTS = {
    "cnn:olps:djia": ("cnn", "olps:djia", "log"),
    "cnn:olps:tse": ("cnn", "olps:tse", "log"),
    "cnn:sp500": ("cnn", "sp500", "log"),
    "rnn-simple:sp500": ("rnn", "sp500", "simple"),
    "rnn-log:sp500": ("rnn", "sp500", "log"),
}
PROTOCOL = {
    "max_periods": 1000,
    "train_share": 0.70,
    "val_share": 0.05,
    "window": 30,
    "batch_size": 64,
    "lr": 1e-3,
    "sample_bias": 0.005,
    "fee": 0.0025,
}


def log_steps(first: int, last: int, count: int) -> list[int]:
    """``count`` log-spaced step counts from ``first`` to ``last`` (rounded, distinct)."""
    raw = np.geomspace(first, last, count)
    out = sorted({int(round(v, -1 if v < 1000 else -2)) for v in raw} | {first, last})
    return out


def splits(prices, protocol: dict) -> tuple[int, int]:
    """Last training-target row and last fit row (relatives before them) of ``prices``."""
    n_rel = len(prices) - 1
    train_end = int(round(protocol["train_share"] * n_rel))
    fit_end = int(round((protocol["train_share"] + protocol["val_share"]) * n_rel))
    return train_end, fit_end


def segment_metrics(schedule, prices, a: int, b: int, fee: float) -> dict:
    """Backtest the agent's schedule on relatives a .. b-1 (price rows a .. b) at ``fee``."""
    sub = prices.iloc[a : b + 1]
    res = backtest.run(ScheduledWeights(schedule[a:b]), sub, fee=fee, cash=True)
    ew = backtest.run(MarkowitzPolicy("equal_weight", window=21, rebalance_every=21), sub, fee=fee)
    days = b - a
    w = res.weights.to_numpy()
    n = w.shape[1] - 1
    uniform = np.r_[0.0, np.full(n, 1.0 / n)]
    return {
        "days": days,
        "log_growth": float(np.log(res.final_wealth) / days),
        "log_growth_1n": float(np.log(ew.final_wealth) / days),
        "fapv": float(res.final_wealth),
        "fapv_1n": float(ew.final_wealth),
        "turnover": float(res.turnover.mean()),
        "dist_uniform": float(0.5 * np.abs(w - uniform).sum(axis=1).mean()),
        "n_eff": float((1.0 / (w**2).sum(axis=1)).mean()),
        "max_weight": float(w.max(axis=1).mean()),
    }


def run_one(agent: str, seed: int, steps: list[int], protocol: dict, bar: tqdm) -> dict:
    """One long run of ``agent`` with ``seed``, evaluated at every count in ``steps``."""
    network, source, reward = AGENTS[agent]
    prices = load_prices(source).iloc[-protocol["max_periods"] :]
    train_end, fit_end = splits(prices, protocol)
    fit = prices.iloc[: fit_end + 1]
    val_fraction = 1.0 - (train_end + 1) / len(fit)
    model = EIIE(
        network=network,
        reward=reward,
        window=protocol["window"],
        batch_size=protocol["batch_size"],
        lr=protocol["lr"],
        sample_bias=protocol["sample_bias"],
        commission=protocol["fee"],
        steps=steps[0],
        eval_every=steps[0],  # one evaluation at the end: the last state is kept
        validation_fraction=val_fraction,
        random_state=seed,
    )
    start = time.perf_counter()
    model.fit(fit)
    rows = []
    done = steps[0]
    for target in steps:
        if target > done:
            model.eval_every = max(100, (target - done) // 10)
            model.train_more(target - done)
            bar.update(target - done)
            done = target
        else:
            bar.update(target)
        L = protocol["window"]
        roll = model.rollout(prices).to_numpy()
        schedule = np.vstack([np.tile(roll[:1], (L - 1, 1)), roll])  # row t: price row t
        fee = protocol["fee"]
        rec = {"steps": target, "seconds": time.perf_counter() - start}
        rec["train"] = segment_metrics(schedule, prices, L - 1, train_end, fee)
        rec["validation"] = segment_metrics(schedule, prices, train_end, fit_end, fee)
        rec["test"] = segment_metrics(schedule, prices, fit_end, len(prices) - 1, fee)
        rec["train_reward"] = model.history_[-1]["reward"]
        rows.append(rec)
    return {
        "agent": agent,
        "network": network,
        "dataset": source,
        "reward": reward,
        "seed": seed,
        "assets": prices.shape[1],
        "days": {
            "train": train_end - (L - 1),
            "validation": fit_end - train_end,
            "test": len(prices) - 1 - fit_end,
        },
        "dates": {
            "first": str(prices.index[0].date()),
            "test_first": str(prices.index[fit_end + 1].date()),
            "last": str(prices.index[-1].date()),
        },
        "checkpoints": rows,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Seed means per agent and step count, and the plateau step of in-sample growth."""
    out = []
    for agent in sorted({r["agent"] for r in runs}):
        rs = [r for r in runs if r["agent"] == agent]
        steps = [c["steps"] for c in rs[0]["checkpoints"]]
        table = []
        for k, s in enumerate(steps):
            cs = [r["checkpoints"][k] for r in rs if len(r["checkpoints"]) > k]
            row = {"steps": s, "seeds": len(cs)}
            for seg in ("train", "validation", "test"):
                for key in (
                    "log_growth",
                    "log_growth_1n",
                    "fapv",
                    "fapv_1n",
                    "dist_uniform",
                    "n_eff",
                ):
                    vals = np.array([c[seg][key] for c in cs])
                    row[f"{seg}_{key}"] = float(vals.mean())
                    if key in ("log_growth", "fapv"):
                        row[f"{seg}_{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            table.append(row)
        out.append({"agent": agent, "steps": steps, "table": table, "plateau": plateau(table)})
    return out


def plateau(table: list[dict], tol: float = 0.1) -> dict:
    """Smallest step count whose in-sample gain over 1/N is within ``tol`` of the best.

    The gain is the mean daily log growth minus 1/N's on the training days; the plateau
    step is the first whose gain reaches ``best - tol * |best - first|`` (the rest of the
    way to the best is at most ``tol`` of the whole climb).
    """
    gain = np.array([r["train_log_growth"] - r["train_log_growth_1n"] for r in table])
    best, first = gain.max(), gain[0]
    need = best - tol * abs(best - first)
    k = int(np.argmax(gain >= need))
    return {
        "steps": table[k]["steps"],
        "gain_per_day": float(gain[k]),
        "best_gain_per_day": float(best),
        "first_gain_per_day": float(first),
        "beats_1n_in_sample": bool(gain[k] > 0),
        "rule": f"first step count whose in-sample log-growth gain over 1/N is within {tol:.0%} "
        "of the climb to its best",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="*", default=list(AGENTS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=30000)
    parser.add_argument("--points", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--machine", default=machine_name())
    parser.add_argument("--merge-only", action="store_true")
    args = parser.parse_args()
    steps = log_steps(300, args.max_steps, args.points)
    parts = ROOT / "results" / "training_budget_parts"
    parts.mkdir(parents=True, exist_ok=True)
    todo = [(a, s) for a in args.agents for s in args.seeds]
    if not args.merge_only:
        bar = tqdm(total=len(todo) * steps[-1], desc="training budget", unit="step")
        with limit_threads(args.threads):
            for agent, seed in todo:
                part = parts / f"{agent.replace(':', '_')}_seed{seed}_{steps[-1]}.json"
                if part.exists():
                    bar.update(steps[-1])
                    continue
                bar.set_postfix(agent=agent, seed=seed)
                write_json(part, run_one(agent, seed, steps, PROTOCOL, bar))
        bar.close()
    runs = [json.loads(p.read_text()) for p in sorted(parts.glob(f"*_{steps[-1]}.json"))]
    import torch

    record = {
        "benchmark": "training_budget",
        "machine": args.machine,
        "machine_info": machine_record(),
        "torch": torch.__version__,
        "threads": args.threads,
        "protocol": PROTOCOL,
        "steps": steps,
        "agents": {
            a: dict(zip(("network", "dataset", "reward"), AGENTS[a], strict=True)) for a in AGENTS
        },
        "summary": summarize(runs),
        "runs": runs,
        "note": "one long run per (agent, seed), evaluated at each step count without "
        "checkpoint choice or online learning; costs at the headline 0.25 % per side",
    }
    target = ROOT / "results" / "benchmarks" / f"training_budget_{args.machine}.json"
    write_json(target, record)
    print(f"wrote {target}")
    for s in record["summary"]:
        p = s["plateau"]
        print(
            f"{s['agent']}: plateau at {p['steps']} steps, in-sample gain over 1/N "
            f"{p['gain_per_day']:+.5f}/day (best {p['best_gain_per_day']:+.5f})"
        )


if __name__ == "__main__":
    main()
