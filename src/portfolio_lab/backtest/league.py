"""One league table for every family of allocators: same dates, same costs, same inference.

A strategy enters the table as a *schedule*: the weights it chose for each test period
(``BacktestResult.weights`` of a causal run, restricted to the test dates). Every schedule is
re-costed by the one backtester from an all-cash start on the first test day, so every entry
pays its entry trade and every later trade at the same rate; the weights themselves do not
depend on the fee (drift does not depend on costs), so one causal run serves every fee.

:func:`league_table` then judges every entry with :mod:`.inference`: the Sharpe ratio with
its stationary-bootstrap interval, the Ledoit-Wolf paired test against the benchmark entry,
Newey-West alpha against it, turnover, drawdown, membership in the model confidence set and
in StepM's set of strategies superior to the benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, ShapeError
from . import inference
from . import metrics as bm
from .engine import run
from .result import BacktestResult
from .strategies import ScheduledWeights

__all__ = [
    "with_cash",
    "test_schedule",
    "seed_average",
    "recost_schedules",
    "league_table",
    "accepted_better",
    "count_trials",
    "markowitz_schedules",
    "select_olps",
    "saved_schedule",
    "judge",
    "seed_averaged_against",
]


def with_cash(weights: pd.DataFrame) -> pd.DataFrame:
    """Return ``weights`` with a leading ``"cash"`` column (zeros when the strategy holds none).

    Parameters
    ----------
    weights : pandas.DataFrame, shape (T, n) or (T, n + 1)

    Returns
    -------
    pandas.DataFrame, shape (T, n + 1)
    """
    if "cash" in weights.columns:
        cols = ["cash", *[c for c in weights.columns if c != "cash"]]
        return weights[cols]
    out = weights.copy()
    out.insert(0, "cash", 0.0)
    return out


def test_schedule(result: BacktestResult, start: Any, end: Any = None) -> pd.DataFrame:
    """Return the weights a causal run chose on the test dates ``[start, end]``, with cash.

    Parameters
    ----------
    result : BacktestResult
        A run that covers the test dates.
    start, end : date-like
        First and last test date (``end`` default: the run's last date).

    Returns
    -------
    pandas.DataFrame, shape (T_test, n + 1)
    """
    w = result.weights
    keep = w.index >= pd.Timestamp(start)
    if end is not None:
        keep &= w.index <= pd.Timestamp(end)
    out = w.loc[keep]
    if out.empty:
        raise InputError(f"{result.name}: no weights on the test dates {start} .. {end}")
    if out.index[0] != w.index[w.index >= pd.Timestamp(start)][0]:
        raise InputError(f"{result.name}: the run does not cover the first test date {start}")
    return with_cash(out)


def seed_average(schedules: list[pd.DataFrame]) -> pd.DataFrame:
    """Return the seed-averaged portfolio: the mean of the seeds' schedules, period by period.

    Combining seeds by averaging their portfolios (and testing that portfolio) is what an
    investor could hold; averaging the seeds' test statistics is not a test.

    Parameters
    ----------
    schedules : list of pandas.DataFrame, each shape (T, n)

    Returns
    -------
    pandas.DataFrame, shape (T, n)
    """
    if not schedules:
        raise InputError("seed_average needs at least one schedule")
    first = schedules[0]
    for s in schedules[1:]:
        if not (s.index.equals(first.index) and list(s.columns) == list(first.columns)):
            raise ShapeError("the seeds' schedules differ in dates or assets")
    return sum(s for s in schedules) / len(schedules)


def recost_schedules(
    schedules: dict[str, pd.DataFrame],
    prices: pd.DataFrame,
    fee: float,
    *,
    periods_per_year: int = 252,
) -> dict[str, BacktestResult]:
    """Run every schedule through the backtester at ``fee``, from cash on the first test day.

    Parameters
    ----------
    schedules : dict of str to pandas.DataFrame, each shape (T, n + 1)
        Test-period weights with a leading cash column, on the same dates.
    prices : pandas.DataFrame, shape (T + 1, n)
        Prices from the day before the first test date to the last test date.
    fee : float
        Proportional cost per side.
    periods_per_year : int

    Returns
    -------
    dict of str to BacktestResult
    """
    out = {}
    for name, sched in schedules.items():
        sched = with_cash(sched)
        if len(sched) != len(prices) - 1 or not sched.index.equals(prices.index[1:]):
            raise ShapeError(
                f"{name}: the schedule's {len(sched)} dates are not the {len(prices) - 1} test "
                "dates of the prices"
            )
        if list(sched.columns[1:]) != [str(c) for c in prices.columns]:
            raise ShapeError(f"{name}: the schedule's assets are not the prices' columns")
        policy = ScheduledWeights(sched, name=name)
        out[name] = run(policy, prices, fee=fee, cash=True, periods_per_year=periods_per_year)
    return out


def league_table(
    results: dict[str, BacktestResult],
    *,
    benchmark: str = "1/N",
    bootstrap_samples: int = 1000,
    mcs_size: float = 0.1,
    stepm_size: float = 0.05,
    reps: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Judge every entry the same way against ``benchmark``.

    Parameters
    ----------
    results : dict of str to BacktestResult
        Runs on the same dates (one per strategy; the benchmark among them).
    benchmark : str
        Key of the benchmark entry (1/N).
    bootstrap_samples : int
        Stationary-bootstrap resamples of each Sharpe interval.
    mcs_size : float
        Size of the model confidence set (0.1: a 90 % set).
    stepm_size : float
        Familywise error rate of StepM against the benchmark.
    reps : int
        Bootstrap replications of the MCS and StepM (``arch``).
    seed : int

    Returns
    -------
    pandas.DataFrame
        One row per strategy: ``final_wealth, annual_return, annual_volatility, sharpe,
        sharpe_ci_low, sharpe_ci_high, sharpe_diff, sharpe_diff_se, sharpe_diff_p,
        sharpe_diff_ci_low, sharpe_diff_ci_high, alpha_annual, alpha_t, alpha_p,
        max_drawdown, turnover, in_mcs, stepm_superior`` (the paired and alpha columns NaN
        for the benchmark itself).
    """
    if benchmark not in results:
        raise InputError(f"benchmark {benchmark!r} is not among the entries {sorted(results)}")
    frame = pd.DataFrame({name: res.returns for name, res in results.items()})
    if frame.isna().any().any():
        raise ShapeError("the entries do not share their dates")
    bench = frame[benchmark]
    rows = {}
    for name, res in results.items():
        r = frame[name]
        lo, hi = bm.sharpe_bootstrap_ci(
            r.to_numpy(), 0.0, res.periods_per_year, n_samples=bootstrap_samples, seed=seed
        )
        row = {
            "final_wealth": bm.cumulative_wealth(r),
            "annual_return": bm.annualized_return(r, res.periods_per_year),
            "annual_volatility": bm.annualized_volatility(r, res.periods_per_year),
            "sharpe": bm.sharpe_ratio(r, 0.0, res.periods_per_year),
            "sharpe_ci_low": lo,
            "sharpe_ci_high": hi,
            "max_drawdown": bm.max_drawdown(r),
            "turnover": bm.average_turnover(res.turnover),
        }
        if name != benchmark:
            t = inference.sharpe_difference_test(r, bench, periods_per_year=res.periods_per_year)
            a = inference.alpha_beta(r, bench, periods_per_year=res.periods_per_year)
            row.update(
                sharpe_diff=t.difference,
                sharpe_diff_se=t.standard_error,
                sharpe_diff_p=t.p_value,
                sharpe_diff_ci_low=t.ci_low,
                sharpe_diff_ci_high=t.ci_high,
                alpha_annual=a.alpha_annual,
                alpha_t=a.alpha_t,
                alpha_p=a.alpha_p,
            )
        rows[name] = row
    table = pd.DataFrame(rows).T
    mcs = inference.model_confidence_set(frame, size=mcs_size, reps=reps, seed=seed)
    others = frame.drop(columns=benchmark)
    superior = inference.stepm(bench, others, size=stepm_size, reps=reps, seed=seed)
    table["in_mcs"] = [name in mcs.selected for name in table.index]
    table["mcs_p"] = mcs.p_values.reindex(table.index).to_numpy()
    table["stepm_superior"] = [name in superior.selected for name in table.index]
    return table


def accepted_better(tables: dict[Any, pd.DataFrame], *, alpha: float = 0.05) -> list[str]:
    """Return the strategies a referee would accept as better than the benchmark at every cost.

    Accepted: found superior by StepM (familywise, all strategies tried at once) *and* with a
    paired Sharpe test below ``alpha`` with a positive difference, at every cost level.

    Parameters
    ----------
    tables : dict
        Cost -> league table (:func:`league_table`).
    alpha : float

    Returns
    -------
    list of str
    """
    sets = []
    for table in tables.values():
        ok = table["stepm_superior"].astype(bool) & (table["sharpe_diff"] > 0)
        ok &= table["sharpe_diff_p"] < alpha
        sets.append(set(table.index[ok.to_numpy()]))
    names = set.intersection(*sets) if sets else set()
    first = next(iter(tables.values())) if tables else pd.DataFrame()
    return [n for n in first.index if n in names]


def _read(folder: Any, file: str) -> Any:
    import json
    from pathlib import Path

    path = Path(folder) / file
    if not path.is_file():
        return None
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return pd.read_parquet(path)


def count_trials(run_folder: Any) -> pd.DataFrame:
    """Count the configurations every chapter of a run tried, from that run's artifacts.

    One row per source: the chapter, what was counted, the count, and the artifact it was
    counted from (count 0 and ``missing`` when the artifact is absent). A configuration is one
    strategy-on-data the book looked at: an estimator, a baseline on a dataset, a network with
    a seed, an ablation with a seed. Costs are not counted as trials (a schedule re-costed at
    another fee is the same strategy), so the count is a lower bound on the tries.

    Parameters
    ----------
    run_folder : path
        ``results/<run>``.

    Returns
    -------
    pandas.DataFrame
        Columns ``chapter, what, configurations, artifact``.
    """
    rows: list[dict[str, Any]] = []

    def add(chapter: str, what: str, n: int | None, artifact: str) -> None:
        rows.append(
            {
                "chapter": chapter,
                "what": what if n is not None else f"{what} (artifact missing)",
                "configurations": int(n or 0),
                "artifact": artifact,
            }
        )

    f = _read(run_folder, "07_covariance/summary.parquet")
    add(
        "07",
        "covariance estimators (rolling GMV)",
        None if f is None else len(f),
        "07_covariance/summary.parquet",
    )
    f = _read(run_folder, "08_backtest_olps/wealth.parquet")
    add(
        "08",
        "online-portfolio strategies × datasets",
        None if f is None else int(f.notna().to_numpy().sum()),
        "08_backtest_olps/wealth.parquet",
    )
    m = _read(run_folder, "09_markowitz_walk_forward/metrics.json")
    add(
        "09",
        "walk-forward Markowitz strategies",
        None if m is None else len([k for k in m if k != "S&P 500 index"]),
        "09_markowitz_walk_forward/metrics.json",
    )
    c = _read(run_folder, "10_lstm_sharpe/config.json")
    a = _read(run_folder, "10_lstm_sharpe/ablations.parquet")
    add(
        "10",
        "LSTM walk-forward runs (seeds)",
        None if c is None else len(c["seeds"]),
        "10_lstm_sharpe/config.json",
    )
    if a is not None and c is not None:
        variants = [v for v in a["variant"] if v != "main"]
        add(
            "10",
            "LSTM ablations × ablation seeds",
            len(variants) * len(c["ablation_seeds"]),
            "10_lstm_sharpe/ablations.parquet",
        )
    else:
        add("10", "LSTM ablations × ablation seeds", None, "10_lstm_sharpe/ablations.parquet")
    m = _read(run_folder, "11_rl_eiie/metrics.json")
    add(
        "11",
        "EIIE agents (dataset × network × seed)",
        None if m is None else len(m),
        "11_rl_eiie/metrics.json",
    )
    a = _read(run_folder, "11_rl_eiie/ablations.parquet")
    c11 = _read(run_folder, "11_rl_eiie/config.json")
    n_abl = None
    if a is not None:
        seeds = len(c11.get("seeds", [])) if isinstance(c11, dict) else 1
        n_abl = len(a) * max(seeds, 1)
    add("11", "EIIE ablations × seeds", n_abl, "11_rl_eiie/ablations.parquet")
    f = _read(run_folder, "12_rl_rnn_colombia/seeds.parquet")
    add(
        "12",
        "RNN agents (reward × seed)",
        None if f is None else len(f),
        "12_rl_rnn_colombia/seeds.parquet",
    )
    return pd.DataFrame(rows)


def markowitz_schedules(
    prices: pd.DataFrame,
    first_fit: int,
    *,
    window: int = 504,
    rebalance_every: int = 21,
    refit_every: int = 21,
    covariance: str = "ledoit_wolf",
) -> dict[str, pd.DataFrame]:
    """Test schedules of 1/N, GMV, max-Sharpe and the target-return portfolio, long-only.

    Each policy runs on a trailing ``window`` of simple returns from ``window`` days before the
    first test date, re-estimates every ``refit_every`` days and trades back to its target every
    ``rebalance_every`` days; the bounded problems go through the package's default long-only
    method on the CPU, the critical line. The target-return portfolio's target is the mean of
    the assets' window means (attainable in every window, chosen before any test result).

    Parameters
    ----------
    prices : pandas.DataFrame, shape (T + 1, n)
    first_fit : int
        Position of the last price row before the test (test dates:
        ``prices.index[first_fit + 1:]``).
    window, rebalance_every, refit_every : int
    covariance : str
        Estimator name (:data:`portfolio_lab.estimators.COVARIANCE_ESTIMATORS`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"1/N"``, ``"GMV[LW]"``, ``"max-Sharpe[LW]"``, ``"target-return[LW]"`` (labels use the
        estimator's short name) -> test schedule with a cash column.
    """
    from .walk_forward import MarkowitzPolicy

    if first_fit < window:
        raise InputError(f"{first_fit} rows before the test leave less than the window {window}")
    short = {"ledoit_wolf": "LW", "sample": "sample", "ledoit_wolf_cc": "LW-CC"}.get(
        covariance, covariance
    )
    start = first_fit - window
    history = prices.iloc[start:]
    eval_start = prices.index[first_fit + 1]
    kw = {"window": window, "rebalance_every": rebalance_every}
    policies = {
        "1/N": MarkowitzPolicy("equal_weight", **kw),
        f"GMV[{short}]": MarkowitzPolicy(
            "gmv", covariance, refit_every=refit_every, long_only=True, **kw
        ),
        f"max-Sharpe[{short}]": MarkowitzPolicy(
            "max_sharpe", covariance, refit_every=refit_every, long_only=True, **kw
        ),
        f"target-return[{short}]": MarkowitzPolicy(
            "target_return", covariance, refit_every=refit_every, long_only=True, **kw
        ),
    }
    return {name: test_schedule(run(p, history), eval_start) for name, p in policies.items()}


def select_olps(
    prices: pd.DataFrame,
    first_fit: int,
    candidates: list[str],
    *,
    selection_days: int,
    fee: float,
    periods_per_year: int = 252,
) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Choose the online-portfolio strategy with the best Sharpe ratio before the test.

    Every candidate (the survey's default parameters) runs from ``selection_days`` before the
    test to its end; the one with the highest Sharpe ratio over the selection days, at ``fee``,
    is the entry; its test schedule is what it chose on the test dates of that same run (it
    does not restart at the test).

    Parameters
    ----------
    prices : pandas.DataFrame, shape (T + 1, n)
    first_fit : int
        Test dates are ``prices.index[first_fit + 1:]``.
    candidates : list of str
        Names of :data:`portfolio_lab.backtest.BASELINES` (no hindsight strategy: ``bcrp`` and
        ``best_stock`` are refused).
    selection_days : int
    fee : float
    periods_per_year : int

    Returns
    -------
    tuple
        ``(name, test schedule with cash, selection table)``; the table has one row per
        candidate with its selection-period Sharpe ratio and final wealth.
    """
    from .baselines import baseline

    hindsight = {"bcrp", "best_stock"} & set(candidates)
    if hindsight:
        raise InputError(f"{sorted(hindsight)} choose their weights in hindsight: not a candidate")
    if not candidates:
        raise InputError("select_olps needs at least one candidate")
    start = first_fit - selection_days
    if start < 0:
        raise InputError(f"{first_fit} rows before the test are fewer than {selection_days}")
    history = prices.iloc[start:]
    eval_start = prices.index[first_fit + 1]
    rows, schedules = {}, {}
    for name in candidates:
        res = run(baseline(name), history, fee=fee, periods_per_year=periods_per_year)
        sel = res.returns.iloc[:selection_days]
        rows[name] = {
            "selection_sharpe": bm.sharpe_ratio(sel, 0.0, periods_per_year),
            "selection_wealth": bm.cumulative_wealth(sel),
        }
        schedules[name] = test_schedule(res, eval_start)
    table = pd.DataFrame(rows).T.sort_values("selection_sharpe", ascending=False)
    best = str(table.index[0])
    return best, schedules[best], table


def saved_schedule(
    folder: Any, file: str, dates: pd.DatetimeIndex, assets: list[str]
) -> pd.DataFrame | None:
    """Return a schedule another chapter saved if it covers ``dates`` and ``assets``, else None.

    Parameters
    ----------
    folder : path
        The other chapter's artifact folder.
    file : str
        Parquet file name (with or without ``.parquet``).
    dates : pandas.DatetimeIndex
        The test dates needed.
    assets : list of str

    Returns
    -------
    pandas.DataFrame or None
        The schedule on ``dates`` with a cash column, or None when it is missing or does not
        cover them.
    """
    from pathlib import Path

    path = Path(folder) / (file if file.endswith(".parquet") else f"{file}.parquet")
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if not isinstance(frame.index, pd.DatetimeIndex) or not dates.isin(frame.index).all():
        return None
    risky = [c for c in frame.columns if c != "cash"]
    if sorted(map(str, risky)) != sorted(map(str, assets)):
        return None
    out = with_cash(frame.loc[dates])
    return out[["cash", *assets]]


def judge(
    schedules: dict[str, pd.DataFrame],
    learned: dict[str, dict[int, pd.DataFrame]],
    test_prices: pd.DataFrame,
    fees: list[float],
    *,
    bootstrap_samples: int = 1000,
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Re-cost every entry at every fee and build the league tables, with the seeds' spread.

    Parameters
    ----------
    schedules : dict of str to pandas.DataFrame
        Entry -> test schedule (learned entries: their seed-averaged portfolio).
    learned : dict of str to dict of int to pandas.DataFrame
        Learned entry -> seed -> that seed's schedule.
    test_prices : pandas.DataFrame, shape (T + 1, n)
        Prices from the day before the test to its last day.
    fees : list of float
    bootstrap_samples, reps, seed
        See :func:`league_table`.

    Returns
    -------
    dict
        ``results`` (fee -> entry -> BacktestResult), ``tables`` (fee -> league table, with
        ``seed_sharpe_min`` / ``seed_sharpe_max`` for the learned entries), ``seed_results``
        (fee -> "<entry> seed <k>" -> BacktestResult) and ``seed_sharpes`` (fee -> entry ->
        list of the seeds' Sharpe ratios).
    """
    out: dict[str, Any] = {"results": {}, "tables": {}, "seed_results": {}, "seed_sharpes": {}}
    for fee in fees:
        results = recost_schedules(schedules, test_prices, fee)
        table = league_table(results, bootstrap_samples=bootstrap_samples, reps=reps, seed=seed)
        per_seed = {
            f"{label} seed {s}": sched
            for label, seeds in learned.items()
            for s, sched in seeds.items()
        }
        seed_results = recost_schedules(per_seed, test_prices, fee)
        sharpes = {
            label: [
                bm.sharpe_ratio(r.returns, 0.0, r.periods_per_year)
                for r in (seed_results[f"{label} seed {s}"] for s in seeds)
            ]
            for label, seeds in learned.items()
        }
        table["seed_sharpe_min"] = np.nan
        table["seed_sharpe_max"] = np.nan
        for label, values in sharpes.items():
            table.loc[label, ["seed_sharpe_min", "seed_sharpe_max"]] = [min(values), max(values)]
        out["results"][fee] = results
        out["tables"][fee] = table
        out["seed_results"][fee] = seed_results
        out["seed_sharpes"][fee] = sharpes
    return out


def seed_averaged_against(
    seed_results: list[BacktestResult],
    benchmark: BacktestResult,
    test_prices: pd.DataFrame,
    fee: float,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Test a learned model's seed-averaged portfolio against a benchmark on the test days.

    The seeds' schedules on the benchmark's dates are averaged (:func:`seed_average`),
    re-costed from cash at ``fee`` and compared with the benchmark by the Ledoit-Wolf paired
    test; the Sharpe interval is the stationary bootstrap's.

    Parameters
    ----------
    seed_results : list of BacktestResult
        One causal run per seed, each covering the test dates.
    benchmark : BacktestResult
        The benchmark's run on the test dates (1/N).
    test_prices : pandas.DataFrame, shape (T + 1, n)
        Prices from the day before the test to its last day.
    fee : float
    bootstrap_samples, seed : int

    Returns
    -------
    dict
        ``sharpe, sharpe_ci_low, sharpe_ci_high, sharpe_benchmark, sharpe_diff, sharpe_diff_se,
        p_value, final_wealth``.
    """
    start = benchmark.returns.index[0]
    avg = seed_average([test_schedule(r, start) for r in seed_results])
    res = recost_schedules({"seed average": avg}, test_prices, fee)["seed average"]
    t = inference.sharpe_difference_test(res.returns, benchmark.returns)
    lo, hi = bm.sharpe_bootstrap_ci(
        res.returns.to_numpy(), 0.0, res.periods_per_year, n_samples=bootstrap_samples, seed=seed
    )
    return {
        "sharpe": bm.sharpe_ratio(res.returns, 0.0, res.periods_per_year),
        "sharpe_ci_low": lo,
        "sharpe_ci_high": hi,
        "sharpe_benchmark": bm.sharpe_ratio(benchmark.returns, 0.0, benchmark.periods_per_year),
        "sharpe_diff": t.difference,
        "sharpe_diff_se": t.standard_error,
        "p_value": t.p_value,
        "final_wealth": bm.cumulative_wealth(res.returns),
    }
