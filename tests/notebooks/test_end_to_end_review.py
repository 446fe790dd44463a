"""The chapter-14 review fails when an artifact is wrong in the ways a real bug would make it.

One CI-size run of ``14_end_to_end`` (and its review, which must pass); then, per tamper, a
copy of its artifacts is damaged and the review alone is run on the copy: it must fail and
name the check that caught the damage.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portfolio_lab.runner import NotebookFailed, run_notebooks

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[2]
NB = "14_end_to_end"


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run chapter 14 and its review with ci.yaml; return the artifact folder."""
    results = tmp_path_factory.mktemp("results")
    run_notebooks(REPO / "notebooks" / "params" / "ci.yaml", only=[NB], results_dir=results,
                  progress=False)  # fmt: skip
    return results / "ci" / NB


def _edit_json(folder: Path, name: str, fun: Callable[[dict], None]) -> None:
    path = folder / f"{name}.json"
    data = json.loads(path.read_text())
    fun(data)
    path.write_text(json.dumps(data))


def _non_optimal_weights(folder: Path) -> None:
    """A solver that stops early: one problem's weights moved off the optimum (still feasible)."""

    def move(data: dict) -> None:
        w = np.array(data["rows"][0]["weights"])
        i, j = int(np.argmax(w)), int(np.argmin(w))
        shift = 0.02 * w[i]
        w[i] -= shift
        w[j] += shift
        data["rows"][0]["weights"] = w.tolist()

    _edit_json(folder, "problems", move)


def _wrong_gradient(folder: Path) -> None:
    """A backward pass that drops a term: every saved gradient off by 10 %."""

    def scale(data: dict) -> None:
        for row in data["rows"]:
            row["gradient"] = (1.1 * np.array(row["gradient"])).tolist()

    _edit_json(folder, "problems", scale)


def _look_ahead(folder: Path) -> None:
    """A policy that peeks one day ahead: the first test weeks trade tomorrow's weights."""
    config = json.loads((folder / "config.json").read_text())
    path = folder / "weights_e2e_seed0.parquet"
    w = pd.read_parquet(path)
    first, h = config["first_fit"], config["horizon"]
    stop = first + 5 * h
    w.iloc[first:stop] = w.iloc[first + 1 : stop + 1].to_numpy()
    w.to_parquet(path)


def _wrong_metric(folder: Path) -> None:
    """A metric computed on the wrong slice: one seed's saved Sharpe ratio 2 % off."""

    def bump(data: dict) -> None:
        fee = str(json.loads((folder / "config.json").read_text())["headline_fee"])
        data[fee]["E2E (Sharpe) seed 1"]["sharpe"] *= 1.02

    _edit_json(folder, "metrics", bump)


def _too_few_seeds(folder: Path) -> None:
    """A run that quietly drops seeds: only four left."""
    _edit_json(folder, "config", lambda c: c.update(seeds=c["seeds"][:4]))


TAMPERS = {
    "non-optimal weights": (_non_optimal_weights, "saved weights vs Clarabel"),
    "wrong gradient": (_wrong_gradient, "central differences of Clarabel"),
    "look-ahead": (_look_ahead, "unchanged when the future is replaced"),
    "wrong metric": (_wrong_metric, "Sharpe by formula"),
    "too few seeds": (_too_few_seeds, "number of seeds"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS), ids=list(TAMPERS))
def test_review_fails_on_a_tampered_artifact(e2e_run: Path, tmp_path: Path, tamper: str) -> None:
    damage, check = TAMPERS[tamper]
    results = tmp_path / "results"
    folder = results / "tampered" / NB
    shutil.copytree(e2e_run, folder)
    damage(folder)
    params = tmp_path / "tampered.yaml"
    params.write_text("run: tampered\nnotebooks:\n  14_end_to_end_review: {n_fd: 2}\n")
    with pytest.raises(NotebookFailed, match=check):
        run_notebooks(params, only=[f"{NB}_review"], results_dir=results, progress=False)
