"""Figures and timing tables for the programming notebooks.

Each plotting function takes plain NumPy / pandas data (convert solver outputs with
:func:`portfolio_lab._backend.to_numpy` first), draws one figure and returns it, so a
notebook can both display it and save it with :func:`portfolio_lab.artifacts.save_figure`.
No function here selects a matplotlib backend or calls ``plt.show``.

The timing helpers live in :mod:`portfolio_lab.timing` (shared with ``bench/``); the
names below that come from there (``median_time``, ``random_problem``, ``time_solvers``,
``limit_threads``, ``machine_info``, ``load_benchmarks``, ``TIMING_COLUMNS``) are
re-exported for older callers. :func:`plot_timings` draws their tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .exceptions import InputError, ShapeError
from .timing import (
    TIMING_COLUMNS,  # noqa: F401 - a module attribute here before timing.py existed
    limit_threads,
    load_benchmarks,
    machine_info,
    median_time,
    random_problem,
    time_solvers,
)

__all__ = [
    "plot_prices",
    "plot_returns",
    "plot_correlation",
    "plot_weights",
    "plot_weights_over_time",
    "plot_convergence",
    "plot_frontier",
    "plot_timings",
    "median_time",
    "random_problem",
    "time_solvers",
    "limit_threads",
    "machine_info",
    "load_benchmarks",
]


def _require_frame(frame: Any, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ShapeError(f"{what} is empty; pass at least one row and one column")
    return frame


def _colors(n: int) -> list[Any]:
    """N distinct line colours: tab10 up to 10, tab20 up to 20, then a continuous map."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("turbo")(x) for x in np.linspace(0.05, 0.95, n)]


def plot_prices(
    prices: pd.DataFrame, *, normalize: bool = True, log: bool = True, title: str | None = None
) -> Figure:
    """Plot price paths, optionally rebased to 1 on the first date and on a log axis.

    Parameters
    ----------
    prices : pandas.DataFrame, shape (T, n)
        Positive prices indexed by date, one column per asset.
    normalize : bool, default True
        Divide each column by its first value so all paths start at 1.
    log : bool, default True
        Use a logarithmic y axis (equal vertical distances are equal growth rates).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per asset.

    Raises
    ------
    InputError
        ``prices`` is not a DataFrame or holds non-positive values with ``log=True``.
    """
    prices = _require_frame(prices, "prices")
    data = prices / prices.iloc[0] if normalize else prices
    if log and not bool((data.to_numpy() > 0).all()):
        raise InputError("a log-scale price plot needs strictly positive prices")
    fig, ax = plt.subplots(figsize=(10, 5))
    for col, color in zip(data.columns, _colors(data.shape[1]), strict=True):
        ax.plot(data.index, data[col].to_numpy(), lw=0.8, color=color, label=str(col))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("date")
    ax.set_ylabel("price / first price" if normalize else "price")
    ax.set_title(title or ("normalized prices (log scale)" if log else "prices"))
    ax.legend(ncol=max(1, min(5, len(data.columns) // 4)), fontsize=7, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_returns(returns: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Plot return series over time and their distribution per asset.

    The top panel overlays every asset's series (thin, translucent) with the
    equal-weighted cross-sectional mean in black, which shows volatility clustering;
    the bottom panel holds one box per asset (whiskers at the 0.5 and 99.5 percentiles,
    the rest drawn as points), which shows the fat tails.

    Parameters
    ----------
    returns : pandas.DataFrame, shape (T, n)
        Returns indexed by date, one column per asset.
    title : str, optional
        Title of the top panel.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: time series (top) and box plots (bottom).
    """
    returns = _require_frame(returns, "returns")
    values = returns.to_numpy(dtype=float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), height_ratios=[3, 2])
    top.set_prop_cycle(color=_colors(values.shape[1]))
    top.plot(returns.index, values, lw=0.3, alpha=0.35)
    top.plot(returns.index, np.nanmean(values, axis=1), lw=0.4, color="black", label="mean")
    top.set_ylabel("return")
    top.set_title(title or "daily log returns (black: equal-weighted mean)")
    top.grid(alpha=0.3)
    bottom.boxplot(
        [col[np.isfinite(col)] for col in values.T],
        whis=(0.5, 99.5),
        flierprops={"markersize": 1.0, "alpha": 0.4},
    )
    bottom.set_xticks(
        range(1, values.shape[1] + 1), [str(c) for c in returns.columns], rotation=90, fontsize=7
    )
    bottom.set_ylabel("return")
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_correlation(corr: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Draw a correlation matrix as a heatmap on the fixed colour range [-1, 1].

    Parameters
    ----------
    corr : pandas.DataFrame, shape (n, n)
        Correlation matrix with asset names as index and columns.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One heatmap axes plus a colour bar.

    Raises
    ------
    ShapeError
        ``corr`` is not square.
    """
    corr = _require_frame(corr, "corr")
    if corr.shape[0] != corr.shape[1]:
        raise ShapeError(f"corr must be square, got shape {corr.shape}")
    n = corr.shape[0]
    size = min(12.0, 2.0 + 0.4 * n)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(corr.to_numpy(), vmin=-1.0, vmax=1.0, cmap="RdBu_r")
    ax.set_xticks(range(n), [str(c) for c in corr.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(n), [str(c) for c in corr.index], fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="correlation")
    ax.set_title(title or "correlation of daily log returns")
    fig.tight_layout()
    return fig


def plot_weights(
    weights: Mapping[str, Any] | Any,
    labels: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """Bar chart of one or several weight vectors over the same assets.

    Parameters
    ----------
    weights : array_like, shape (n,), or mapping of str to array_like, shape (n,)
        One weight vector, or several keyed by the legend label (grouped bars).
    labels : sequence of str, length n
        Asset names.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one bar group per asset.

    Raises
    ------
    ShapeError
        A weight vector's length differs from ``len(labels)``.
    """
    series = dict(weights) if isinstance(weights, Mapping) else {"weights": weights}
    if not series:
        raise InputError("weights mapping is empty")
    n = len(labels)
    arrays = {}
    for name, w in series.items():
        arr = np.asarray(w, dtype=float).ravel()
        if arr.shape != (n,):
            raise ShapeError(f"weights {name!r} has {arr.size} entries but there are {n} labels")
        arrays[name] = arr
    k = len(arrays)
    width = 0.8 / k
    pos = np.arange(n)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n + 2.0), 4))
    for i, (name, arr) in enumerate(arrays.items()):
        ax.bar(pos + (i - (k - 1) / 2) * width, arr, width=width, label=name)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(pos, [str(s) for s in labels], rotation=90, fontsize=8)
    ax.set_ylabel("weight")
    ax.set_title(title or "portfolio weights")
    if k > 1:
        ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_weights_over_time(weights: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Stacked area plot of portfolio weights through time.

    Parameters
    ----------
    weights : pandas.DataFrame, shape (T, n)
        Non-negative weights (rows summing to one), dates as the index.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = _require_frame(weights, "weights")
    values = frame.to_numpy(dtype=float)
    if (values < -1e-9).any():
        raise ShapeError("plot_weights_over_time needs non-negative (long-only) weights")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.stackplot(
        frame.index,
        values.T,
        labels=[str(c) for c in frame.columns],
        colors=_colors(frame.shape[1]),
    )
    ax.set_ylim(0, max(1.0, float(values.sum(axis=1).max())))
    ax.set_xlim(frame.index[0], frame.index[-1])
    ax.set_ylabel("weight")
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_convergence(
    decrements: Mapping[str, Sequence[float]],
    step_sizes: Mapping[str, Sequence[float]] | None = None,
    *,
    tol: float | None = None,
) -> Figure:
    """Plot Newton-decrement histories on a log axis, and optionally the step sizes.

    Parameters
    ----------
    decrements : mapping of str to sequence of float
        ``λ²/2`` per iterate for each labelled run (entry 0 at the starting point).
        Exact zeros are drawn at the smallest positive float so the log axis keeps them.
    step_sizes : mapping of str to sequence of float, optional
        Line-search step size per Newton step for the same runs; adds a second panel.
    tol : float, optional
        Stopping tolerance, drawn as a horizontal dashed line.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (decrements) or two side by side (decrements, step sizes).
    """
    if not decrements:
        raise InputError("decrements mapping is empty")
    ncols = 2 if step_sizes else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), squeeze=False)
    ax = axes[0, 0]
    floor = np.finfo(float).tiny
    for name, hist in decrements.items():
        arr = np.maximum(np.asarray(hist, dtype=float), floor)
        ax.semilogy(np.arange(arr.size), arr, marker="o", ms=3, label=name)
    if tol is not None:
        ax.axhline(tol, color="gray", ls="--", lw=0.8, label=f"tol = {tol:g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("Newton decrement λ²/2")
    ax.set_title("Newton decrement per iteration")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    if step_sizes:
        ax2 = axes[0, 1]
        for name, steps in step_sizes.items():
            arr = np.asarray(steps, dtype=float)
            ax2.plot(np.arange(1, arr.size + 1), arr, marker="o", ms=3, label=name)
        ax2.set_xlabel("Newton step")
        ax2.set_ylabel("line-search step size")
        ax2.set_ylim(0.0, 1.05)
        ax2.set_title("backtracking step sizes")
        ax2.legend(fontsize=8)
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_frontier(
    risks: Any,
    returns: Any,
    *,
    asset_risks: Any | None = None,
    asset_returns: Any | None = None,
    asset_labels: Sequence[str] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    title: str | None = None,
) -> Figure:
    """Plot an efficient frontier in the (risk, return) plane.

    Parameters
    ----------
    risks, returns : array_like, shape (k,)
        Standard deviation and expected return of each frontier portfolio (NaNs, from
        infeasible targets, are skipped).
    asset_risks, asset_returns : array_like, shape (n,), optional
        The individual assets, drawn as labelled dots.
    asset_labels : sequence of str, length n, optional
        Asset names for the dots.
    points : mapping of str to (risk, return), optional
        Marked portfolios, e.g. ``{"GMV": (s, m), "tangency": (s, m)}``.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ShapeError
        ``risks`` and ``returns`` (or the asset arrays) differ in length.
    """
    r = np.asarray(risks, dtype=float).ravel()
    m = np.asarray(returns, dtype=float).ravel()
    if r.shape != m.shape:
        raise ShapeError(f"risks has {r.size} entries but returns has {m.size}")
    ok = np.isfinite(r) & np.isfinite(m)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.plot(r[ok], m[ok], color="tab:blue", lw=1.8, label="frontier")
    if asset_risks is not None and asset_returns is not None:
        ar = np.asarray(asset_risks, dtype=float).ravel()
        am = np.asarray(asset_returns, dtype=float).ravel()
        if ar.shape != am.shape:
            raise ShapeError(f"asset_risks has {ar.size} entries but asset_returns has {am.size}")
        ax.scatter(ar, am, s=18, color="tab:gray", label="assets", zorder=3)
        if asset_labels is not None:
            if len(asset_labels) != ar.size:
                raise ShapeError(f"{len(asset_labels)} asset labels for {ar.size} assets")
            for x, y, name in zip(ar, am, asset_labels, strict=True):
                ax.annotate(
                    str(name), (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points"
                )
    markers = iter(["*", "D", "s", "^", "v", "P"])
    for name, (x, y) in (points or {}).items():
        ax.scatter([x], [y], s=120, marker=next(markers, "o"), zorder=4, label=name)
    ax.set_xlabel("risk (standard deviation)")
    ax.set_ylabel("expected return")
    ax.set_title(title or "efficient frontier")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_timings(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Plot median run time against problem size, one panel per task, one line per backend.

    Parameters
    ----------
    table : pandas.DataFrame
        Long table with columns ``task``, ``backend``, ``n`` and ``median_s`` (as made
        by :func:`portfolio_lab.timing.time_solvers`).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One log-log axes per task.

    Raises
    ------
    InputError
        A required column is missing.
    """
    table = _require_frame(table, "table")
    missing = {"task", "backend", "n", "median_s"} - set(table.columns)
    if missing:
        raise InputError(f"timing table lacks columns {sorted(missing)}")
    tasks = list(dict.fromkeys(table["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.0 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        sub = table[table["task"] == task]
        for backend, grp in sub.groupby("backend", sort=False):
            grp = grp.sort_values("n")
            ax.loglog(grp["n"], grp["median_s"], marker="o", label=str(backend))
        ax.set_xlabel("number of assets n")
        ax.set_ylabel("median time [s]")
        ax.set_title(str(task))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
