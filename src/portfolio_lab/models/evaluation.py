"""Walk-forward evaluation of a learned allocator over several seeds, with costs.

The protocol of the LSTM chapter: fit on everything before a test block, trade the block
out of sample, refit on the expanded history, and so on; run it once per seed; re-cost
each seed's weight schedule at every fee level (the schedule does not depend on the fee),
and summarize each metric as the mean and the spread over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm

from ..backtest import BacktestResult, ScheduledWeights, run
from ..backtest import metrics as bm
from ..exceptions import DataError, InputError
from ._base import BaseAllocator
from .policy import WalkForwardPolicy

__all__ = [
    "SeedRun",
    "prices_for",
    "first_period_on_or_after",
    "run_seeds",
    "recost",
    "seed_table",
    "schedule_frame",
    "seen_frame",
    "parse_override",
]


@dataclass(frozen=True)
class SeedRun:
    """One seed's walk-forward run.

    Attributes
    ----------
    seed : int
        ``random_state`` of the template estimator.
    result : BacktestResult
        The whole simulation (at the ``fee`` of :func:`run_seeds`).
    fit_log : list of dict
        The policy's refit records (see :class:`WalkForwardPolicy`).
    last_model : BaseAllocator
        The model of the last block.
    """

    seed: int
    result: BacktestResult
    fit_log: list[dict[str, Any]]
    last_model: BaseAllocator


def prices_for(
    universe: str, *, fallback: str = "sp500", **kwargs: Any
) -> tuple[pd.DataFrame, str]:
    """Prices of a bundled source or of a Yahoo universe whose cache is complete.

    Parameters
    ----------
    universe : str
        A :func:`~portfolio_lab.data.list_sources` name (e.g. ``"sp500"``) or a universe of
        :func:`~portfolio_lab.data.list_universes` (``"zhang2020"``, ``"twse50"``...).
    fallback : str
        Bundled source used when the universe's yfinance cache is missing.
    **kwargs
        ``start`` / ``end`` for :func:`~portfolio_lab.data.load_prices`.

    Returns
    -------
    tuple
        ``(prices, note)``: the note says which data were used and why.
    """
    from ..data import list_sources, list_universes, load_prices
    from ..data._yahoo import cache_path

    if universe in list_sources() and universe != "yahoo":
        return load_prices(universe, **kwargs), f"bundled dataset {universe!r}"
    if universe not in list_universes():
        raise InputError(
            f"unknown universe {universe!r}; use a bundled source {list_sources()} or a "
            f"universe {list_universes()}"
        )
    from ..data import load_universe

    tickers = load_universe(universe).tickers
    cached = sum(cache_path(t).exists() for t in tickers)
    if cached == len(tickers):
        try:
            return load_prices(
                "yahoo", universe=universe, **kwargs
            ), f"yfinance cache of {universe!r}"
        except DataError as err:
            note = f"the yfinance cache of {universe!r} could not be used ({err})"
    else:
        note = f"the yfinance cache holds {cached} of {len(tickers)} tickers of {universe!r}"
    return load_prices(fallback, **kwargs), f"{note}; using the bundled {fallback!r} instead"


def first_period_on_or_after(prices: pd.DataFrame, date: Any) -> int:
    """Index of the first price relative dated on or after ``date`` (relatives 0 = row 1)."""
    pos = int(prices.index[1:].searchsorted(pd.Timestamp(date)))
    if pos >= len(prices) - 1:
        raise InputError(f"{date} is after the last date of the prices")
    return pos


def run_seeds(
    estimator: BaseAllocator,
    prices: pd.DataFrame,
    *,
    seeds: Sequence[int],
    first_fit: int,
    refit_every: int,
    train_window: int | None = None,
    rebalance_every: int = 1,
    benchmark: Any = None,
    progress: bool = True,
    desc: str = "seeds",
    fee: float = 0.0,
    features: Any = None,
) -> list[SeedRun]:
    """Run ``WalkForwardPolicy(estimator.clone(random_state=seed))`` for each seed, fee 0.

    Parameters
    ----------
    estimator : BaseAllocator
        Template (its own ``random_state`` is replaced by each seed).
    prices : pandas.DataFrame, shape (T + 1, n)
    seeds : sequence of int
    first_fit, refit_every, train_window, rebalance_every
        See :class:`WalkForwardPolicy`.
    benchmark : Series, optional
        Benchmark prices on the same dates.
    progress : bool
        tqdm over seeds.
    desc : str
    features : mapping of str to DataFrame, optional
        Extra price features handed to the policy (see :class:`WalkForwardPolicy`).
    fee : float
        Cost per side of the simulation (the schedule of a model that learns online, or
        reads its held weights, depends on it; otherwise 0 and :func:`recost` later).

    Returns
    -------
    list of SeedRun
        Runs with a cash column when the estimator outputs cash.
    """
    out = []
    for seed in tqdm(list(seeds), disable=not progress, desc=desc, leave=False):
        policy = WalkForwardPolicy(
            estimator.clone(random_state=int(seed)),
            refit_every=refit_every,
            train_window=train_window,
            rebalance_every=rebalance_every,
            first_fit=first_fit,
            columns=[str(c) for c in prices.columns],
            name=f"{type(estimator).__name__}[seed={seed}]",
            features=features,
        )
        cash = bool(estimator.outputs_cash)
        result = run(policy, prices, fee=fee, benchmark=benchmark, cash=cash)
        assert policy.estimator_ is not None
        out.append(SeedRun(int(seed), result, list(policy.fit_log_), policy.estimator_))
    return out


def recost(
    result: BacktestResult,
    prices: pd.DataFrame,
    fee: float,
    *,
    since: Any = None,
    benchmark: Any = None,
    name: str | None = None,
) -> BacktestResult:
    """Charge the same weight schedule ``fee`` per side with the engine's exact costs.

    Parameters
    ----------
    result : BacktestResult
        A run on ``prices`` (any fee).
    prices : pandas.DataFrame
        The prices of that run.
    fee : float
        Proportional cost on each side.
    since : date-like, optional
        Keep dates from here on (wealth rebased to 1).
    benchmark : Series, optional
    name : str, optional

    Returns
    -------
    BacktestResult
    """
    policy = ScheduledWeights(result.weights, name=name or result.name)
    cash = "cash" in result.weights.columns and "cash" not in prices.columns
    out = run(policy, prices, fee=fee, benchmark=benchmark, cash=cash)
    return out if since is None else out.since(since)


def seed_table(
    results: dict[Any, BacktestResult],
    *,
    reference: pd.Series | None = None,
    bootstrap_samples: int = 1000,
) -> pd.DataFrame:
    """Metrics of each run, one row per run, plus alpha over ``reference`` returns.

    Parameters
    ----------
    results : dict
        Label -> run (all on the same dates).
    reference : pandas.Series, optional
        Returns of a baseline (e.g. 1/N) on those dates: adds ``alpha_vs_ref_annual``,
        ``alpha_vs_ref_t`` and ``beta_vs_ref``.
    bootstrap_samples : int

    Returns
    -------
    pandas.DataFrame
    """
    rows = {}
    for label, res in results.items():
        row = bm.summary(
            res.returns,
            benchmark=res.benchmark_returns,
            turnover=res.turnover,
            periods_per_year=res.periods_per_year,
            bootstrap_samples=bootstrap_samples,
        )
        if reference is not None:
            reg = bm.alpha_beta(
                res.returns.to_numpy(),
                reference.to_numpy(),
                periods_per_year=res.periods_per_year,
                hac_lags="auto",
            )
            d = reg.to_dict()
            row["alpha_vs_ref_annual"] = d["alpha_annual"]
            row["alpha_vs_ref_t"] = d["alpha_t"]
            row["beta_vs_ref"] = d["beta"]
        rows[label] = row
    return pd.DataFrame(rows).T


def schedule_frame(
    fit_log: list[dict[str, Any]], prices: pd.DataFrame, n_periods: int
) -> pd.DataFrame:
    """Dates of each refit's training rows and of the test block it trades.

    Parameters
    ----------
    fit_log : list of dict
        A :class:`WalkForwardPolicy` log.
    prices : pandas.DataFrame
        The simulated prices (relative ``t`` is dated ``prices.index[t + 1]``).
    n_periods : int
        Number of relatives of the run.

    Returns
    -------
    pandas.DataFrame
        ``refit, seed, train_first, train_last, test_first, test_last, epochs_run,
        best_epoch`` (dates of relatives).
    """
    dates = prices.index[1:]
    rows = []
    for i, rec in enumerate(fit_log):
        stop = fit_log[i + 1]["t"] if i + 1 < len(fit_log) else n_periods
        rows.append(
            {
                "refit": rec["refit"],
                "seed": rec["seed"],
                "train_first": dates[rec["train_start"]],
                "train_last": dates[rec["train_stop"] - 1],
                "test_first": dates[rec["t"]],
                "test_last": dates[stop - 1],
                "epochs_run": rec["epochs_run"],
                "best_epoch": rec["best_epoch"],
            }
        )
    return pd.DataFrame(rows)


def seen_frame(runs: Sequence[SeedRun], columns: Sequence[str]) -> pd.DataFrame:
    """Every refit's record of the targets its loss consumed (``fit_log[k]["seen"]``).

    Parameters
    ----------
    runs : sequence of SeedRun
    columns : sequence of str
        Asset names (the columns of the recorded rows).

    Returns
    -------
    pandas.DataFrame
        One row per recorded target row: ``run_seed, refit, landmark, row`` and the
        assets' returns (``landmark`` is ``train_first``, ``train_last`` or
        ``validation_last``; ``row`` counts within its block).
    """
    rows = []
    for r in runs:
        for rec in r.fit_log:
            seen = rec.get("seen") or {}
            for landmark, block in seen.items():
                for j, values in enumerate(block or []):
                    rows.append([r.seed, rec["refit"], landmark, j, *values])
    return pd.DataFrame(rows, columns=["run_seed", "refit", "landmark", "row", *map(str, columns)])


def parse_override(text: str) -> dict[str, Any]:
    """Parse ``"name:value"`` or ``"name=value"`` (value read as YAML: ``window:20``).

    Raises
    ------
    InputError
        Neither ``:`` nor ``=`` in the text.
    """
    import yaml

    name, sep, value = str(text).replace("=", ":", 1).partition(":")
    if not sep or not name.strip():
        raise InputError(f"an override must read 'name:value', got {text!r}")
    return {name.strip(): yaml.safe_load(value)}
