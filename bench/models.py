"""Learned-allocator speed: LSTMSharpe epochs and blocks, prediction latency, EIIE steps/s.

On the bundled S&P data (20 stocks, window 50, 64 units, batch 64): the time of one epoch
over a block of about 2 000 samples, of a whole block (100 epochs, early stopping off),
and of one prediction (``predict`` on a DataFrame, and the array path the backtest
policy uses), on the CPU with 1 and 2 torch threads, and on CUDA when torch sees a GPU.
EIIE: training steps per second of each network at 30 assets (the OLPS DJIA set), window
50, batch 109 (PGPortfolio's), batch construction and PVM update included. Medians of
repeats. Writes results/benchmarks/models_<machine>.json.

    .venv/bin/python bench/models.py [--epochs 100] [--repeats 3] [--machine NAME]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from portfolio_lab._io import write_json
from portfolio_lab.data import load_prices
from portfolio_lab.models import EIIE, LSTMSharpe
from portfolio_lab.timing import limit_threads, machine_name, machine_record, time_calls

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
        window = prices.iloc[-51:]
        lat, _ = time_calls(lambda: fitted.predict(window), repeats=200, warmup=5)
        out["predict_ms_median"] = 1e3 * statistics.median(lat)
        rel = window.to_numpy()[1:] / window.to_numpy()[:-1]
        lat2, _ = time_calls(lambda: fitted.predict_relatives(rel), repeats=200, warmup=5)
        out["predict_relatives_ms_median"] = 1e3 * statistics.median(lat2)
    return out


def eiie_steps(network: str, threads: int | None, device: str, repeats: int, steps: int) -> dict:
    prices = load_prices("olps:djia")  # 30 assets, 507 days
    out: dict = {"network": network, "device": device, "threads": threads}
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
    args = parser.parse_args()
    cpu_threads = (1,) if args.quick else (1, 2)

    import torch

    runs = [time_device("cpu", t, args.epochs, args.repeats) for t in cpu_threads]
    gpu = torch.cuda.is_available()
    if gpu:
        runs.append(time_device("cuda", None, args.epochs, args.repeats))
    cpu_steps = {"cnn": 300, "rnn": 100, "lstm": 40}
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
    record = {
        "benchmark": "models",
        "machine": args.machine,
        "machine_info": machine_record(),
        "model": "LSTMSharpe(window=50, hidden_size=64, batch_size=64), bundled sp500",
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "runs": runs,
        "eiie": eiie,
        "note": "wall-clock medians; a block is one full fit without early stopping",
    }
    target = args.out / f"models_{args.machine}.json"
    write_json(target, record)
    print(f"wrote {target}")
    for e in eiie:
        print(
            f"EIIE {e['network']:4s} {e['device']} threads={e['threads']}: "
            f"{e['steps_per_second_median']:.0f} steps/s"
        )
    for r in runs:
        print(
            f"{r['device']:5s} threads={r['threads']}: "
            f"epoch {r['seconds_per_epoch_median']:.3f} s, "
            f"block ({r['block']['epochs']} epochs) {r['seconds_per_block']:.1f} s, "
            f"predict {r['predict_ms_median']:.2f} ms, array path "
            f"{r['predict_relatives_ms_median']:.2f} ms"
        )


if __name__ == "__main__":
    main()
