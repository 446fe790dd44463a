"""The pieces of the chapter that trains one agent three ways (``12_rl_sb3``).

Timed multi-seed walk-forward runs, the in-sample check against 1/N (so a failure to
learn is named as such), learning curves on one axis of environment periods, a compute
table, and the environment replay that the review repeats by its own loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..backtest import ConstantRebalanced, run
from ._base import BaseAllocator
from .evaluation import SeedRun, run_seeds
from .replay import FittedPolicy

__all__ = [
    "timed_seeds",
    "insample_growth",
    "learning_curves",
    "compute_record",
    "plot_learning_curves",
    "env_replay",
]


def timed_seeds(
    estimator: BaseAllocator,
    prices: pd.DataFrame,
    *,
    seeds: Sequence[int],
    first_fit: int,
    fee: float,
    progress: bool = False,
    desc: str = "seeds",
) -> tuple[list[SeedRun], list[float]]:
    """Run :func:`~portfolio_lab.models.evaluation.run_seeds` seed by seed, timing each.

    One fit at ``first_fit`` (no refit), then the agent trades to the end, frozen.

    Returns
    -------
    tuple
        ``(runs, seconds)``: one :class:`SeedRun` and one wall time (fit and test) per seed.
    """
    from tqdm import tqdm

    runs, seconds = [], []
    for seed in tqdm(list(seeds), disable=not progress, desc=desc, leave=False):
        started = time.perf_counter()
        runs += run_seeds(
            estimator, prices, seeds=[seed], first_fit=first_fit, refit_every=10**9,
            fee=fee, progress=False,
        )  # fmt: skip
        seconds.append(time.perf_counter() - started)
    return runs, seconds


def insample_growth(
    model: BaseAllocator, prices: pd.DataFrame, *, start: int, stop: int, fee: float
) -> dict[str, float]:
    """Mean log growth per period of a fitted model and of 1/N over periods ``[start, stop)``.

    Both start from cash at ``start`` and pay ``fee`` per side in the backtester; 1/N is
    rebalanced every period over the risky assets.

    Parameters
    ----------
    model : BaseAllocator
        Fitted, holding cash (its ``predict_relatives`` is called period by period).
    prices : pandas.DataFrame, shape (T + 1, n)
    start, stop : int
        Periods (``start >= model.predict_rows - 1``, ``stop <= T``).
    fee : float

    Returns
    -------
    dict
        ``agent``, ``uniform`` (mean log growth per period) and ``excess`` (their difference).
    """
    cut = prices.iloc[: stop + 1]
    agent = run(FittedPolicy(model, start=start, before="cash"), cut, fee=fee, cash=True)
    n = prices.shape[1]
    uniform = run(
        ConstantRebalanced(np.concatenate([[0.0], np.full(n, 1.0 / n)])),
        prices.iloc[start : stop + 1],
        fee=fee,
        cash=True,
    )
    a = float(np.mean(np.log1p(agent.returns.to_numpy()[start:])))
    u = float(np.mean(np.log1p(uniform.returns.to_numpy())))
    return {"agent": a, "uniform": u, "excess": a - u}


def learning_curves(runs: dict[str, list[SeedRun]]) -> pd.DataFrame:
    """Long frame of every agent's training records on one axis of environment periods.

    SB3 agents: ``periods`` = environment steps. EIIE agents: gradient steps times the
    batch size (the periods a mini-batch holds), so both axes count periods the agent
    learned from.

    Parameters
    ----------
    runs : dict of str to list of SeedRun

    Returns
    -------
    pandas.DataFrame
        Columns ``agent``, ``seed``, ``periods``, ``train_reward`` (mean net simple return
        per period of the training samples), ``train_log_growth`` (SB3: deterministic
        in-sample mean log growth; NaN for EIIE), ``val_log_growth``.
    """
    rows = []
    for agent, rs in runs.items():
        for r in rs:
            m = r.last_model
            batch = int(getattr(m, "batch_size", 1)) if not hasattr(m, "algo") else 1
            for h in m.history_:
                rows.append(
                    {
                        "agent": agent,
                        "seed": int(r.seed),
                        "periods": int(h["step"]) * batch,
                        "train_reward": h.get("train_reward", h.get("reward")),
                        "train_log_growth": h.get("train_log_growth"),
                        "val_log_growth": h.get("val_log_growth"),
                    }
                )
    frame = pd.DataFrame(rows)
    for c in ("train_reward", "train_log_growth", "val_log_growth"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


def compute_record(model: BaseAllocator, seconds: float) -> dict[str, float]:
    """Environment periods, gradient steps and wall seconds of one fit.

    Returns
    -------
    dict
        ``periods`` (environment steps, or steps × batch for EIIE), ``gradient_steps``,
        ``seconds``.
    """
    if hasattr(model, "algo"):
        periods = int(model.history_[-1]["step"]) if model.history_ else 0
        grads = int(getattr(model, "gradient_steps_", 0) or 0)
    else:
        steps = int(model.steps)
        periods, grads = steps * int(model.batch_size), steps
    return {"periods": periods, "gradient_steps": grads, "seconds": float(seconds)}


def plot_learning_curves(
    curves: pd.DataFrame, column: str, *, reference: float | None = None, ax: Any = None
) -> Any:
    """Mean over seeds of ``column`` against periods, with the seeds' min-max band.

    Parameters
    ----------
    curves : pandas.DataFrame
        From :func:`learning_curves`.
    column : str
    reference : float, optional
        A horizontal line (1/N's in-sample growth).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    agents = list(dict.fromkeys(curves["agent"]))  # one color per agent in every panel
    for agent, g in curves.dropna(subset=[column]).groupby("agent", sort=False):
        stats = g.groupby("periods")[column].agg(["mean", "min", "max"])
        color = plt.cm.tab10(agents.index(agent) % 10)
        label = f"{agent} ({g.seed.nunique()} seeds)"
        ax.plot(stats.index, stats["mean"], color=color, label=label)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.2)
    if reference is not None:
        ax.axhline(reference, color="black", ls=":", lw=1, label="1/N")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("periods learned from (environment steps; EIIE: steps × batch)")
    ax.set_ylabel(column.replace("_", " "))
    ax.legend(fontsize=7)
    return ax


def env_replay(model: Any, env: Any, *, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Play a fitted SB3 agent deterministically on ``env`` from ``weights`` (default cash).

    The agent's recurrent state starts afresh.

    Returns
    -------
    dict
        See :func:`portfolio_lab.models.sb3.rollout`.
    """
    from .sb3 import rollout

    model.reset_state()
    out = rollout(
        lambda obs, first: model.act(obs),
        env,
        options=None if weights is None else {"weights": weights},
    )
    model.reset_state()
    return out
