"""Read the training-budget study (``bench/training_budget.py``) and choose a budget from it.

The study trains each EIIE agent once per seed for up to 30 000 steps and evaluates the
frozen agent at log-spaced step counts: in-sample log growth against 1/N on the training
days, validation and test fAPV at the headline cost, and the distance from uniform. The
chapters show it (:func:`plot_training_budget`) and take their default number of steps
from it (:func:`choose_budget`): the smallest step count at which in-sample growth has
plateaued, capped by what the chapter can afford, with a sentence that states which of
the two decided.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = [
    "load_budget_study",
    "budget_table",
    "choose_budget",
    "plot_training_budget",
    "in_sample_growth",
]


def load_budget_study(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``training_budget_<machine>.json`` record.

    Raises
    ------
    InputError
        No such file, or not a training-budget record.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(
            f"no training-budget study at {file}; run .venv/bin/python bench/training_budget.py"
        )
    doc = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("benchmark") != "training_budget":
        raise InputError(f"{file} is not a training-budget record")
    return doc


def budget_table(record: dict[str, Any]) -> pd.DataFrame:
    """Per agent, seed and step count: the study's numbers in one long table.

    Returns
    -------
    pandas.DataFrame
        Columns ``agent, seed, steps`` and, per segment (``train``, ``validation``,
        ``test``), ``<segment>_<metric>`` for ``log_growth``, ``log_growth_1n``,
        ``fapv``, ``fapv_1n``, ``dist_uniform``, ``n_eff``, ``turnover``; plus
        ``train_gain`` (in-sample log growth minus 1/N's, per day).
    """
    rows = []
    for run in record["runs"]:
        for c in run["checkpoints"]:
            row: dict[str, Any] = {"agent": run["agent"], "seed": run["seed"], "steps": c["steps"]}
            for seg in ("train", "validation", "test"):
                for key, value in c[seg].items():
                    row[f"{seg}_{key}"] = value
            rows.append(row)
    table = pd.DataFrame(rows)
    table["train_gain"] = table["train_log_growth"] - table["train_log_growth_1n"]
    return table.sort_values(["agent", "seed", "steps"]).reset_index(drop=True)


def choose_budget(
    record: dict[str, Any],
    agents: list[str],
    *,
    cap: int | None = None,
    tol: float = 0.1,
    min_distance: float = 0.05,
) -> dict[str, Any]:
    """Choose the default number of steps for a chapter whose agents are ``agents``.

    For each agent the plateau is the first step count whose seed-mean in-sample gain over
    1/N comes within ``tol`` of its climb to the best (the rest of the way is at most
    ``tol`` of the whole climb). The budget is the largest plateau among ``agents``,
    capped at ``cap`` (the chapter's compute limit). Optimization counts as failed for an
    agent whose in-sample gain is not positive, or whose test weights are still within
    ``min_distance`` (½‖w − 1/N‖₁) of 1/N: it has not left its near-uniform start.

    Returns
    -------
    dict
        ``steps`` (the budget), ``plateau`` (agent -> step count), ``capped`` (whether the
        cap decided), ``at_budget`` (agent -> seed means at the study step nearest the
        budget: ``train_gain``, ``test_fapv``, ``test_fapv_1n``, ``dist_uniform``,
        ``n_eff``), ``beats_1n_in_sample`` (agent -> bool at the budget) and
        ``sentence``, the statement a chapter prints.
    """
    table = budget_table(record)
    missing = [a for a in agents if a not in set(table["agent"])]
    if missing:
        raise InputError(f"the study has no runs of {missing}; it holds {sorted(set(table.agent))}")
    means = table.groupby(["agent", "steps"]).mean(numeric_only=True).reset_index()
    plateau, at, beats = {}, {}, {}
    for a in agents:
        m = means[means.agent == a].sort_values("steps")
        gain = m["train_gain"].to_numpy()
        best, first = gain.max(), gain[0]
        need = best - tol * abs(best - first)
        plateau[a] = int(m["steps"].to_numpy()[int(np.argmax(gain >= need))])
    want = max(plateau.values())
    steps = want if cap is None else min(want, int(cap))
    for a in agents:
        m = means[means.agent == a].sort_values("steps")
        k = int(np.argmin(np.abs(np.log(m["steps"].to_numpy() / steps))))
        r = m.iloc[k]
        at[a] = {
            "study_steps": int(r["steps"]),
            "train_gain": float(r["train_gain"]),
            "test_fapv": float(r["test_fapv"]),
            "test_fapv_1n": float(r["test_fapv_1n"]),
            "dist_uniform": float(r["test_dist_uniform"]),
            "n_eff": float(r["test_n_eff"]),
        }
        beats[a] = bool(r["train_gain"] > 0 and r["test_dist_uniform"] >= min_distance)
    capped = cap is not None and want > int(cap)
    parts = [
        f"{a}: in-sample gain over 1/N {at[a]['train_gain'] * 1e4:+.2f} bp/day and "
        f"½‖w − 1/N‖₁ = {at[a]['dist_uniform']:.2f} at {at[a]['study_steps']} steps, "
        f"plateau at {plateau[a]}"
        for a in agents
    ]
    if capped:
        head = (
            f"In-sample growth plateaus only at {want} steps; this chapter trains {steps} "
            f"steps, the most its time share affords, so every conclusion below holds at "
            f"this budget ({steps} steps) and not beyond it."
        )
    else:
        head = (
            f"Default budget {steps} steps: the smallest step count at which in-sample "
            f"growth has plateaued for every agent of the chapter; conclusions hold at this "
            f"budget."
        )
    failed = [a for a in agents if not beats[a]]
    tail = (
        " In the study optimization failed for "
        + ", ".join(failed)
        + ": it does not beat 1/N on its own training days, or has not left the near-uniform "
        "start, so its test results say nothing about the market."
        if failed
        else " In the study every agent beats 1/N on its own training days at this budget, so "
        "optimization succeeded in sample."
    )
    return {
        "steps": int(steps),
        "plateau": plateau,
        "capped": bool(capped),
        "at_budget": at,
        "beats_1n_in_sample": beats,
        "sentence": head + " " + "; ".join(parts) + "." + tail,
    }


def plot_training_budget(
    record: dict[str, Any], agents: list[str] | None = None, *, budget: int | None = None
) -> Any:
    """Four panels over the step count (log scale), one line per agent, a band over seeds.

    In-sample gain over 1/N (bp/day), validation and test fAPV over 1/N's, and the test
    distance from uniform ½‖w − 1/N‖₁. A dotted vertical line marks ``budget``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    table = budget_table(record)
    agents = agents or sorted(set(table["agent"]))
    table = table.assign(
        val_ratio=table["validation_fapv"] / table["validation_fapv_1n"],
        test_ratio=table["test_fapv"] / table["test_fapv_1n"],
        gain_bp=1e4 * table["train_gain"],
    )
    panels = [
        ("gain_bp", "in-sample log growth − 1/N's (bp/day)", 0.0),
        ("val_ratio", "validation fAPV / 1/N's", 1.0),
        ("test_ratio", "test fAPV / 1/N's", 1.0),
        ("test_dist_uniform", "test ½‖w − 1/N‖₁", None),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for j, agent in enumerate(agents):
        sub = table[table.agent == agent]
        g = sub.groupby("steps")
        for ax, (col, _, _) in zip(axes, panels, strict=True):
            mean, lo, hi = g[col].mean(), g[col].min(), g[col].max()
            ax.plot(
                mean.index, mean.to_numpy(), marker="o", ms=3, color=plt.cm.tab10(j), label=agent
            )
            ax.fill_between(
                mean.index, lo.to_numpy(), hi.to_numpy(), color=plt.cm.tab10(j), alpha=0.15
            )
    for ax, (_, label, ref) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("training steps")
        ax.set_title(label, fontsize=9)
        if ref is not None:
            ax.axhline(ref, color="black", lw=0.8)
        if budget is not None:
            ax.axvline(budget, color="grey", ls=":", lw=1.2)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Training budget ({len(set(table.seed))} seeds: mean, band min..max; "
        f"{record['protocol']['fee']:.2%} per side)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def in_sample_growth(
    model: Any, prices: pd.DataFrame, first: int, stop: int, fee: float
) -> dict[str, float]:
    """Mean daily log growth of a fitted EIIE and of 1/N on relatives ``first .. stop - 1``.

    The agent rolls over ``prices`` holding its own drifted weights
    (:meth:`~portfolio_lab.models.EIIE.rollout`); its schedule on the segment is charged
    by the backtester at ``fee``, as is 1/N (``MarkowitzPolicy("equal_weight",
    rebalance_every=21)``, the chapters' baseline) on the same days. An agent that does
    not beat 1/N here, on days it trained on, has failed to optimize.

    Returns
    -------
    dict
        ``agent``, ``one_over_n`` (per day) and ``gain`` (their difference).
    """
    from ..backtest import MarkowitzPolicy, ScheduledWeights, run

    L = int(model.window)
    if first < L - 1 or stop > len(prices) - 1 or stop - first < 2:
        raise InputError(f"segment {first}..{stop} does not fit {len(prices)} price rows")
    roll = model.rollout(prices.iloc[: stop + 1]).to_numpy()  # row i: price row L - 1 + i
    schedule = roll[first - (L - 1) : stop - (L - 1)]
    sub = prices.iloc[first : stop + 1]
    agent = run(ScheduledWeights(schedule), sub, fee=fee, cash=True)
    ew = run(MarkowitzPolicy("equal_weight", window=21, rebalance_every=21), sub, fee=fee)
    days = stop - first
    a, b = np.log(agent.final_wealth) / days, np.log(ew.final_wealth) / days
    return {"agent": float(a), "one_over_n": float(b), "gain": float(a - b)}
