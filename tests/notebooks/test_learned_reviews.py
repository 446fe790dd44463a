"""The reviews of chapters 10-12 fail when an artifact is tampered as a real bug would.

Each test copies the CI run's artifacts of one chapter to a fresh run, changes one of them
the way a bug would (a PVM row read one period late, the relative of the next period,
a baseline's wealth off in the fourth digit), runs only the review and expects it to fail
on the check that should catch it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.notebooks


def tampered_review(
    run_dir: Path, chapter: str, mutate: Callable[[Path], None], tmp_path: Path
) -> None:
    """Copy ``run_dir/chapter`` to a run ``tampered``, apply ``mutate``, run the review."""
    from portfolio_lab.runner import run_notebooks

    results = tmp_path / "results"
    target = results / "tampered" / chapter
    shutil.copytree(run_dir / chapter, target)
    mutate(target)
    params = tmp_path / "tampered.yaml"
    params.write_text("run: tampered\n")
    run_notebooks(params, only=[f"{chapter}_review"], results_dir=results, progress=False)


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def pvm_read_one_row_late(folder: Path) -> None:
    """The batch read PVM row t (what it is about to overwrite) instead of row t - 1."""
    pvm = np.load(folder / "pvm.npy")

    def edit(lb: dict) -> None:
        per = np.asarray(lb["periods"], dtype=int)
        read = pvm[per]
        drifted = read * np.asarray(lb["relatives_read"])
        lb["pvm_read"] = read.tolist()
        lb["previous"] = (drifted / drifted.sum(axis=1, keepdims=True)).tolist()

    _edit_json(folder / "last_batch.json", edit)


def relatives_of_the_next_period(folder: Path) -> None:
    """The PVM rows were drifted by y_{t+1} (the relative the batch is about to earn)."""

    def edit(lb: dict) -> None:
        y = np.asarray(lb["relatives_read"])
        nxt = np.vstack([y[1:], y[-1:]])
        drifted = np.asarray(lb["pvm_read"]) * nxt
        lb["relatives_read"] = nxt.tolist()
        lb["previous"] = (drifted / drifted.sum(axis=1, keepdims=True)).tolist()

    _edit_json(folder / "last_batch.json", edit)


def baseline_off_in_the_fourth_digit(folder: Path) -> None:
    path = next(folder.glob("base_*_ucrp.parquet"))
    frame = pd.read_parquet(path)
    frame.iloc[-1, 0] *= 1.0003
    frame.to_parquet(path)


def olmar_off_in_the_fourth_digit(folder: Path) -> None:
    """An OLPS strategy's saved wealth, as a wrong parameter or timing would change it."""
    path = next(folder.glob("base_*_olmar.parquet"))
    frame = pd.read_parquet(path)
    frame.iloc[-1, 0] *= 0.9997
    frame.to_parquet(path)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (olmar_off_in_the_fourth_digit, "baselines' final wealth by direct loops"),
        (pvm_read_one_row_late, "first PVM row read"),
        (relatives_of_the_next_period, "relatives that drifted the PVM"),
        (baseline_off_in_the_fourth_digit, "baselines' final wealth by direct loops"),
    ],
)
def test_review_11_fails_on_a_tampered_artifact(ci_run, tmp_path, mutate, match) -> None:
    from portfolio_lab.runner import NotebookFailed

    summary, _ = ci_run
    with pytest.raises(NotebookFailed, match=match):
        tampered_review(summary.results_dir, "11_rl_eiie", mutate, tmp_path)


def batch_into_validation(folder: Path) -> None:
    """A fit batch bounded by the end of the fit data instead of the validation start."""
    batch = json.loads((folder / "config.json").read_text())["batch_size"]
    path = next(iter(sorted(folder.glob("batches_log_seed*.parquet"))))
    log = pd.read_parquet(path)
    fit_rows = int(log["rows"].min())
    k = log.index[log["rows"] == fit_rows][0]
    log.loc[k, "start"] = fit_rows - 1 - batch  # its last relative is the last fit day's
    log.to_parquet(path)


def baseline_12_off_in_the_fourth_digit(folder: Path) -> None:
    path = folder / "base_ubah.parquet"
    frame = pd.read_parquet(path)
    frame.iloc[-1, 0] *= 0.9997
    frame.to_parquet(path)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (batch_into_validation, "before the validation start"),
        (baseline_12_off_in_the_fourth_digit, "baselines' final wealth by direct loops"),
    ],
)
def test_review_12_fails_on_a_tampered_artifact(ci_run, tmp_path, mutate, match) -> None:
    from portfolio_lab.runner import NotebookFailed

    summary, _ = ci_run
    with pytest.raises(NotebookFailed, match=match):
        tampered_review(summary.results_dir, "12_rl_rnn_colombia", mutate, tmp_path)


def weights_one_period_early(folder: Path) -> None:
    """Seed 0's schedule holds each weight a period early, as a model reading y_{t+1} would."""
    seed = json.loads((folder / "config.json").read_text())["seeds"][0]
    path = folder / f"weights_seed{seed}.parquet"
    frame = pd.read_parquet(path)
    frame.iloc[:-1] = frame.iloc[1:].to_numpy()
    frame.to_parquet(path)


def ucrp_metric_off_in_the_fourth_digit(folder: Path) -> None:
    def edit(metrics: dict) -> None:
        for per_fee in metrics.values():
            per_fee["UCRP"]["final_wealth"] *= 1.0003

    _edit_json(folder / "metrics.json", edit)


def fit_trained_on_its_first_test_day(folder: Path) -> None:
    """Seed 0's second fit consumed the relative of the first day it trades (one row late)."""
    from portfolio_lab.models import evaluation

    config = json.loads((folder / "config.json").read_text())
    prices, _ = evaluation.prices_for(config["universe"], start=config["start"], end=config["end"])
    p = prices[config["tickers"]].to_numpy()
    returns = p[1:] / p[:-1] - 1.0
    seen = pd.read_parquet(folder / "seen.parquet")
    t_1 = config["first_fit"] + config["refit_every"]  # first day block 1 trades
    rows = (seen.run_seed == config["seeds"][0]) & (seen.refit == 1)
    rows &= seen.landmark == "validation_last"
    k = int(rows.sum())
    seen.loc[rows, config["tickers"]] = returns[t_1 - k + 1 : t_1 + 1]  # the block ends at t_1
    seen.to_parquet(folder / "seen.parquet")


def gmv_metric_off_in_the_fourth_digit(folder: Path) -> None:
    def edit(metrics: dict) -> None:
        metrics[str(json.loads((folder / "config.json").read_text())["headline_fee"])]["GMV[LW]"][
            "final_wealth"
        ] *= 0.9997

    _edit_json(folder / "metrics.json", edit)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (fit_trained_on_its_first_test_day, "trains strictly before it trades"),
        (gmv_metric_off_in_the_fourth_digit, "GMV and max-Sharpe final wealth"),
        (weights_one_period_early, "unchanged without the future"),
        (ucrp_metric_off_in_the_fourth_digit, "baseline wealths by direct loops"),
    ],
)
def test_review_10_fails_on_a_tampered_artifact(ci_run, tmp_path, mutate, match) -> None:
    from portfolio_lab.runner import NotebookFailed

    summary, _ = ci_run
    with pytest.raises(NotebookFailed, match=match):
        tampered_review(summary.results_dir, "10_lstm_sharpe", mutate, tmp_path)
