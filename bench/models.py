"""Learned-allocator speed: LSTMSharpe epochs and blocks, prediction latency, EIIE steps/s.

On the bundled S&P data (20 stocks, window 50, 64 units, batch 64): the time of one epoch
over a block of about 2 000 samples, of a whole block (100 epochs, early stopping off),
and of one prediction (``predict`` on a DataFrame, and the array path the backtest
policy uses), on the CPU with 1 and 2 torch threads, and on CUDA when torch sees a GPU.
EIIE: training steps per second of each network at 30 assets (the OLPS DJIA set), window
50, batch 109 (PGPortfolio's), batch construction and PVM update included. Medians of
repeats; each two-thread run records ``two_core_probe`` before and after it (two copies of a
compute loop on two threads against one alone: 1.0 when the second core is free, 2.0 when
the host lends only one), since this VM's second vCPU is at times contended. Writes
results/benchmarks/models_<machine>.json.

Beside each training rate, its floor: one bare forward + backward + Adam step of the same
network on one fixed batch already on the device (no sampling, no PVM, no logging), the
most torch itself allows; ``overhead`` is the fit's time per step over the floor's, minus
one. LSTMSharpe's floor is the same on one block of ``batch_size`` samples. Peak memory of
one LSTMSharpe fit at 500 assets, window 50, 2 000 samples (synthetic prices) is the peak
resident set of a fresh process (``ru_maxrss``) minus the one it had after its imports.

    .venv/bin/python bench/models.py [--epochs 100] [--repeats 3] [--machine NAME]
        [--only eiie|lstm|memory]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from portfolio_lab._io import write_json
from portfolio_lab.data import load_prices
from portfolio_lab.models import EIIE, LSTMSharpe
from portfolio_lab.timing import limit_threads, machine_name, machine_record, time_calls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import two_core_probe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def block_prices(samples: int = 2000, window: int = 50):
    """Prices giving ``samples`` training + validation samples at ``window``."""
    prices = load_prices("sp500")
    return prices.iloc[-(samples + window + 1) :]


def time_device(device: str, threads: int | None, epochs: int, repeats: int) -> dict:
    prices = block_prices()
    out: dict = {"device": device, "threads": threads}
    with limit_threads(threads):
        model = LSTMSharpe(epochs=1, random_state=0, device=device, patience=10**6)
        model.fit(prices)  # warm-up: imports, allocator, kernels
        per_epoch = []
        for r in range(repeats):
            start = time.perf_counter()
            LSTMSharpe(epochs=5, random_state=r, device=device, patience=10**6).fit(prices)
            per_epoch.append((time.perf_counter() - start) / 5)
        out["seconds_per_epoch_median"] = statistics.median(per_epoch)
        start = time.perf_counter()
        fitted = LSTMSharpe(epochs=epochs, random_state=0, device=device, patience=10**6).fit(
            prices
        )
        out["seconds_per_block"] = time.perf_counter() - start
        out["block"] = {
            "epochs": len(fitted.history_),
            "train_samples": fitted.n_samples_["train"],
            "validation_samples": fitted.n_samples_["validation"],
            "assets": prices.shape[1],
        }
        out.update(lstm_floor(prices, device, repeats))
        window = prices.iloc[-51:]
        lat, _ = time_calls(lambda: fitted.predict(window), repeats=200, warmup=5)
        out["predict_ms_median"] = 1e3 * statistics.median(lat)
        rel = window.to_numpy()[1:] / window.to_numpy()[:-1]
        lat2, _ = time_calls(lambda: fitted.predict_relatives(rel), repeats=200, warmup=5)
        out["predict_relatives_ms_median"] = 1e3 * statistics.median(lat2)
    return out


def _rate(step, count: int, repeats: int, sync=None) -> float:
    """Median calls per second of ``step`` over ``repeats`` runs of ``count`` calls."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            step()
        if sync is not None:
            sync()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def lstm_floor(prices, device: str, repeats: int, steps: int = 30) -> dict:
    """LSTMSharpe's training steps per second against a bare step on one block."""
    import torch

    from portfolio_lab.models import sharpe_loss
    from portfolio_lab.models.lstm_sharpe import _allocate

    model = LSTMSharpe(epochs=1, random_state=0, device=device, patience=10**6).fit(prices)
    n_steps = int(np.ceil(model.n_samples_["train"] / model.batch_size))
    start = time.perf_counter()
    LSTMSharpe(epochs=3, random_state=1, device=device, patience=10**6).fit(prices)
    fit_rate = 3 * n_steps / (time.perf_counter() - start)
    net = model.module_.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    r = prices.to_numpy()[1:] / prices.to_numpy()[:-1] - 1.0
    ends = np.arange(49, 49 + model.batch_size)
    inputs = model._window_inputs(r, ends, device)
    x = inputs(torch.arange(len(ends), device=device))
    y = torch.as_tensor(r[ends + 1], dtype=torch.float32, device=device)

    def step():
        w = _allocate(net(x), None, False)
        loss = sharpe_loss(w[None], y[None], cost=0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    floor = _rate(step, steps, repeats, sync)
    return {
        "steps_per_second": fit_rate,
        "floor_steps_per_second": floor,
        "overhead": floor / fit_rate - 1.0,
        "note_floor": "fit rate includes validation once per epoch and batch assembly",
    }


def _memory_child(queue, assets: int, window: int, samples: int) -> None:
    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    rets = rng.normal(3e-4, 0.015, (samples + window + 1, assets))
    idx = pd.bdate_range("2000-01-03", periods=len(rets) + 1)
    prices = pd.DataFrame(np.vstack([np.ones(assets), np.cumprod(1 + rets, axis=0)]), index=idx)
    prices.columns = [f"S{i}" for i in range(assets)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    LSTMSharpe(window=window, epochs=1, random_state=0, patience=10**6).fit(prices)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "rss_after_imports_mib": before / 1024,
            "peak_rss_mib": after / 1024,
            "fit_peak_increase_mib": (after - before) / 1024,
            "fit_seconds": seconds,
        }
    )


def lstm_memory(assets: int = 500, window: int = 50, samples: int = 2000) -> dict:
    """Peak memory of one LSTMSharpe fit (one epoch) in a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(queue, assets, window, samples))
    proc.start()
    out = queue.get(timeout=1800)
    proc.join()
    out.update(
        {"assets": assets, "window": window, "samples": samples, "epochs": 1, "goal_mib": 1024}
    )
    return out


def eiie_floor(model, steps: int, repeats: int) -> float:
    """Bare forward + backward + Adam steps per second of a fitted EIIE's network."""
    import torch

    from portfolio_lab.models.eiie import training_reward

    net = model.module_.train()
    opt = model._opt.__class__(net.parameters(), **model._opt.defaults)  # the fit's optimizer
    B, L = int(model.batch_size), int(model.window)
    x = model._x[100 : 100 + B].clone()
    held = model._pvm[100 + L - 2 : 100 + L - 2 + B].float().clone()
    prev = held[:, 1:].clone()
    y = model._y32[100 + L : 100 + L + B].clone()

    def step():  # the fit's reward (batch cost reference), as a fit step computes it
        w = net(x, prev)
        loss = -training_reward(w, held, y, float(model.commission), model.reward,
                                model.cost_reference)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    sync = torch.cuda.synchronize if x.is_cuda else None
    return _rate(step, steps, repeats, sync)


def eiie_steps(network: str, threads: int | None, device: str, repeats: int, steps: int) -> dict:
    prices = load_prices("olps:djia")  # 30 assets, 507 days
    out: dict = {"network": network, "device": device, "threads": threads}
    if device == "cpu" and (threads or 1) > 1:
        out["two_core_probe_before"] = two_core_probe()
    with limit_threads(threads):
        EIIE(network=network, steps=5, batch_size=109, device=device, random_state=0).fit(prices)
        rates = []
        for r in range(repeats):
            model = EIIE(
                network=network, steps=steps, batch_size=109, device=device, random_state=r
            )
            start = time.perf_counter()
            model.fit(prices)
            rates.append(steps / (time.perf_counter() - start))
        out["steps_per_second_median"] = statistics.median(rates)
        out["floor_steps_per_second"] = eiie_floor(model, steps, repeats)
        out["overhead"] = out["floor_steps_per_second"] / out["steps_per_second_median"] - 1.0
        out["steps_per_second_all"] = rates
    if "two_core_probe_before" in out:
        out["two_core_probe_after"] = two_core_probe()
    out.update({"assets": prices.shape[1], "window": 50, "batch_size": 109, "steps": steps})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--machine", default=machine_name())
    # issue 20 (scripts/gpu_check.sh): a smoke mode for its --dry-run, and an output folder
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one CPU thread count, 10 EIIE steps"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    parser.add_argument("--only", choices=["eiie", "lstm", "memory"], default=None)
    args = parser.parse_args()
    cpu_threads = (1,) if args.quick else (1, 2)

    import torch

    target = args.out / f"models_{args.machine}.json"
    gpu = torch.cuda.is_available()
    old = json.loads(target.read_text()) if target.exists() and args.only else {}
    runs, eiie, memory = old.get("runs", []), old.get("eiie", []), old.get("lstm_memory")
    if args.only in (None, "lstm"):
        runs = [time_device("cpu", t, args.epochs, args.repeats) for t in cpu_threads]
        if gpu:
            runs.append(time_device("cuda", None, args.epochs, args.repeats))
    if args.only in (None, "eiie"):
        cpu_steps = {"cnn": 600, "rnn": 100, "lstm": 40}
        eiie = [
            eiie_steps(net, t, "cpu", args.repeats, 10 if args.quick else cpu_steps[net])
            for net in ("cnn", "lstm", "rnn")
            for t in cpu_threads
        ]
        if gpu:
            eiie += [
                eiie_steps(net, None, "cuda", args.repeats, 10 if args.quick else 300)
                for net in ("cnn", "lstm", "rnn")
            ]
    if args.only in (None, "memory") and not args.quick:
        memory = lstm_memory()
    record = {
        "benchmark": "models",
        "machine": args.machine,
        "machine_info": machine_record(),
        "model": "LSTMSharpe(window=50, hidden_size=64, batch_size=64), bundled sp500",
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "runs": runs,
        "eiie": eiie,
        "lstm_memory": memory,
        "note": "wall-clock medians; a block is one full fit without early stopping",
    }
    write_json(target, record)
    print(f"wrote {target}")
    for e in eiie:
        print(
            f"EIIE {e['network']:4s} {e['device']} threads={e['threads']}: "
            f"{e['steps_per_second_median']:.0f} steps/s, floor "
            f"{e.get('floor_steps_per_second', float('nan')):.0f} "
            f"(overhead {e.get('overhead', float('nan')):+.0%})"
            + (
                f", two-core probe {e['two_core_probe_before']:.2f} / "
                f"{e['two_core_probe_after']:.2f}"
                if "two_core_probe_before" in e
                else ""
            )
        )
    if memory:
        print(
            f"LSTMSharpe fit at {memory['assets']} assets: "
            f"peak RSS {memory['peak_rss_mib']:.0f} MiB "
            f"(+{memory['fit_peak_increase_mib']:.0f} MiB over the imports)"
        )
    for r in runs:
        print(
            f"{r['device']:5s} threads={r['threads']}: "
            f"epoch {r['seconds_per_epoch_median']:.3f} s, "
            f"block ({r['block']['epochs']} epochs) {r['seconds_per_block']:.1f} s, "
            f"predict {r['predict_ms_median']:.2f} ms, array path "
            f"{r['predict_relatives_ms_median']:.2f} ms; "
            f"{r.get('steps_per_second', float('nan')):.1f} steps/s, floor "
            f"{r.get('floor_steps_per_second', float('nan')):.1f}"
        )


if __name__ == "__main__":
    main()
