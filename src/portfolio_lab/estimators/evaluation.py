"""Out-of-sample comparison of covariance estimators through minimum-variance portfolios.

A covariance estimator is judged by what it is used for: the global minimum-variance
portfolio built on it should have a low *realized* variance on data it has not seen.
:func:`rolling_min_variance_oos` walks forward through a returns frame, re-estimates
the covariance on a trailing window at each rebalance date, solves for the
minimum-variance weights with :func:`portfolio_lab.solvers.min_variance`, holds them
until the next rebalance and records the realized portfolio returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._backend import to_numpy
from ..exceptions import ConvergenceError, InputError, NonFiniteError, ShapeError

__all__ = [
    "OOSEvaluation",
    "rolling_min_variance_oos",
    "rebalance_schedule",
    "variance_ratio_bootstrap",
]

CovarianceEstimator = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class OOSEvaluation:
    """Outcome of a rolling out-of-sample evaluation.

    Attributes
    ----------
    summary : pandas.DataFrame, shape (k, 8)
        One row per estimator (index ``"estimator"``) with columns ``oos_variance``
        (variance of the realized per-period returns, ``ddof=1``), ``oos_volatility``
        (annualized: ``sqrt(periods_per_year * oos_variance)``), ``mean_return``
        (annualized: ``periods_per_year * mean``), ``mean_condition_number``,
        ``median_condition_number``, ``mean_turnover`` (mean ``Σ|w_k - w_{k-1}|``
        over rebalances after the first), ``mean_gross_exposure`` (mean ``Σ|w|``) and
        ``n_rebalances``.
    realized : pandas.DataFrame, shape (T - window, k)
        Realized portfolio return of each estimator on each out-of-sample date.
    weights : dict of str to pandas.DataFrame, each shape (n_rebalances, n)
        Weights of each estimator, indexed by the first date they are held.
    condition_numbers : pandas.DataFrame, shape (n_rebalances, k)
        ``λ_max / λ_min`` of each estimated covariance (``inf`` if singular).
    holding : pandas.Series, shape (T - window,)
        For each out-of-sample date, the rebalance date whose weights are held.
    window : int
        Length of the trailing estimation window (rows).
    rebalance_every : int
        Rows between rebalances.
    long_only : bool
        Whether weights were constrained to be non-negative.
    """

    summary: pd.DataFrame
    realized: pd.DataFrame
    weights: dict[str, pd.DataFrame]
    condition_numbers: pd.DataFrame
    holding: pd.Series
    window: int
    rebalance_every: int
    long_only: bool


def rebalance_schedule(n_rows: int, window: int, rebalance_every: int) -> list[int]:
    """Row positions where a new portfolio starts being held.

    The portfolio held from row ``t`` is estimated on rows ``t - window .. t - 1``
    only, so the first rebalance is at row ``window``.

    Parameters
    ----------
    n_rows : int
        Number of rows of the returns frame.
    window : int
        Estimation window length, at least 2.
    rebalance_every : int
        Holding period in rows, at least 1.

    Returns
    -------
    list of int
        ``[window, window + rebalance_every, ...]``, all ``< n_rows``.

    Raises
    ------
    InputError
        ``window < 2``, ``rebalance_every < 1`` or no out-of-sample row left.
    """
    for name, value, low in (("window", window, 2), ("rebalance_every", rebalance_every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be an integer >= {low}; got {value!r}")
    if n_rows <= window:
        raise InputError(
            f"returns have {n_rows} rows but the window needs {window} plus at least one "
            "out-of-sample row; shorten the window or pass more data"
        )
    return list(range(int(window), int(n_rows), int(rebalance_every)))


def _condition_number(cov: np.ndarray) -> float:
    evals = np.linalg.eigvalsh(cov)
    if evals[0] <= 0.0:
        return float("inf")
    return float(evals[-1] / evals[0])


def _covariance_of(output: Any, name: str, n: int) -> np.ndarray:
    cov = getattr(output, "covariance", output)
    cov = np.asarray(to_numpy(cov), dtype=np.float64)
    if cov.shape != (n, n):
        raise ShapeError(
            f"estimator {name!r} returned shape {cov.shape}; expected a ({n}, {n}) covariance"
        )
    if not np.all(np.isfinite(cov)):
        raise NonFiniteError(f"estimator {name!r} returned a covariance with NaN or inf")
    return cov


def rolling_min_variance_oos(
    returns: pd.DataFrame,
    estimators: Mapping[str, CovarianceEstimator],
    *,
    window: int,
    rebalance_every: int,
    long_only: bool = False,
    periods_per_year: int = 252,
    progress: bool = True,
) -> OOSEvaluation:
    """Walk-forward out-of-sample test of covariance estimators.

    At every rebalance row ``t`` (see :func:`rebalance_schedule`) each estimator is
    called on ``returns.iloc[t - window:t]`` only (no look-ahead), the
    global minimum-variance weights ``w`` of its covariance are computed with
    :func:`portfolio_lab.solvers.min_variance` (``long_only`` passed through), and the
    realized return ``wᵀ r_s`` is recorded for each row ``s`` from ``t`` up to the next
    rebalance. Weights are held fixed over the holding period (the portfolio is
    rebalanced back to ``w`` each period; drift is ignored), so the realized variance
    measures the estimator, not the trading rule.

    Parameters
    ----------
    returns : pandas.DataFrame, shape (T, n)
        Per-period simple returns, rows in time order.
    estimators : mapping of str to callable
        ``name -> f(window_returns)`` where ``window_returns`` is a NumPy array of shape
        ``(window, n)`` and ``f`` returns an ``(n, n)`` covariance (any namespace) or a
        result with a ``covariance`` attribute (e.g. :class:`ShrinkageResult`).
    window : int
        Estimation window length in rows (>= 2).
    rebalance_every : int
        Holding period in rows (>= 1).
    long_only : bool, default False
        Constrain the weights to be non-negative.
    periods_per_year : int, default 252
        Used to annualize ``oos_volatility`` and ``mean_return``.
    progress : bool, default True
        Show a tqdm progress bar over the rebalance dates.

    Returns
    -------
    OOSEvaluation
        Summary table, realized returns, weights, condition numbers.

    Raises
    ------
    InputError
        Bad ``returns``/``estimators``/``window``/``rebalance_every``.
    NonFiniteError
        ``returns`` (or an estimate) holds NaN or infinity.
    ConvergenceError
        The minimum-variance solver did not report ``"optimal"``.
    """
    from tqdm import tqdm

    from ..solvers import min_variance

    if not isinstance(returns, pd.DataFrame):
        raise InputError("returns must be a pandas DataFrame (rows = dates, columns = assets)")
    if not estimators:
        raise InputError("estimators is empty; pass at least one name -> callable")
    for name, fn in estimators.items():
        if not callable(fn):
            raise InputError(f"estimator {name!r} is not callable")
    values = returns.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise NonFiniteError("returns hold NaN or infinite values; drop or fill them first")
    n_rows, n = values.shape
    starts = rebalance_schedule(n_rows, window, rebalance_every)
    index = returns.index
    names = list(estimators)
    realized = np.empty((n_rows - window, len(names)))
    weights = {name: np.empty((len(starts), n)) for name in names}
    conds = np.empty((len(starts), len(names)))
    holding = np.empty(n_rows - window, dtype=np.int64)
    for k, t in enumerate(tqdm(starts, desc="rebalances", disable=not progress)):
        past = values[t - window : t]
        stop = min(t + rebalance_every, n_rows)
        future = values[t:stop]
        holding[t - window : stop - window] = t
        for j, name in enumerate(names):
            cov = _covariance_of(estimators[name](past.copy()), name, n)
            conds[k, j] = _condition_number(cov)
            result = min_variance(cov, long_only=long_only)
            if result.status != "optimal":
                raise ConvergenceError(
                    f"min_variance returned status {result.status!r} for estimator {name!r} "
                    f"at {index[t]}"
                )
            w = np.asarray(to_numpy(result.weights), dtype=np.float64)
            weights[name][k] = w
            realized[t - window : stop - window, j] = future @ w
    oos_index = index[window:]
    realized_df = pd.DataFrame(realized, index=oos_index, columns=names)
    reb_index = index[starts]
    weights_df = {
        name: pd.DataFrame(w, index=reb_index, columns=returns.columns)
        for name, w in weights.items()
    }
    conds_df = pd.DataFrame(conds, index=reb_index, columns=names)
    rows = []
    for name in names:
        r = realized_df[name].to_numpy()
        w = weights[name]
        var = float(np.var(r, ddof=1)) if r.size > 1 else float("nan")
        turnover = np.abs(np.diff(w, axis=0)).sum(axis=1)
        rows.append(
            {
                "estimator": name,
                "oos_variance": var,
                "oos_volatility": float(np.sqrt(periods_per_year * var)),
                "mean_return": float(periods_per_year * r.mean()),
                "mean_condition_number": float(conds_df[name].mean()),
                "median_condition_number": float(conds_df[name].median()),
                "mean_turnover": float(turnover.mean()) if turnover.size else 0.0,
                "mean_gross_exposure": float(np.abs(w).sum(axis=1).mean()),
                "n_rebalances": len(starts),
            }
        )
    summary = pd.DataFrame(rows).set_index("estimator")
    return OOSEvaluation(
        summary=summary,
        realized=realized_df,
        weights=weights_df,
        condition_numbers=conds_df,
        holding=pd.Series(index[holding], index=oos_index, name="rebalance_date"),
        window=int(window),
        rebalance_every=int(rebalance_every),
        long_only=bool(long_only),
    )


def variance_ratio_bootstrap(
    realized: pd.DataFrame,
    reference: str,
    *,
    block: int = 21,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Variance of each column relative to a reference column, with a block-bootstrap CI.

    Out-of-sample returns of different estimators are strongly correlated and
    heteroskedastic, so the uncertainty of ``var(a) / var(ref)`` is estimated with a
    circular moving-block bootstrap that resamples the *same* dates for all columns
    (keeping their dependence) in blocks of ``block`` consecutive periods (keeping
    volatility clustering).

    Parameters
    ----------
    realized : pandas.DataFrame, shape (T, k)
        Realized returns, one column per estimator.
    reference : str
        Column used as denominator.
    block : int, default 21
        Block length in periods (>= 1).
    n_boot : int, default 1000
        Bootstrap replicates (>= 100).
    level : float, default 0.95
        Confidence level of the percentile interval, in (0, 1).
    seed : int, default 0
        Seed of the NumPy generator.

    Returns
    -------
    pandas.DataFrame, shape (k, 4)
        Index: the columns of ``realized``; columns ``variance_ratio`` (on the sample),
        ``ci_low``, ``ci_high`` (percentile interval) and ``share_ratio_ge_1`` (share of
        replicates where the column's variance is not below the reference's).

    Raises
    ------
    InputError
        Unknown ``reference`` or invalid ``block``/``n_boot``/``level``.
    """
    if not isinstance(realized, pd.DataFrame) or reference not in realized.columns:
        raise InputError(f"reference {reference!r} is not a column of realized")
    t = len(realized)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or not 1 <= block <= t:
        raise InputError(f"block must be an integer in [1, {t}]; got {block!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise InputError(f"n_boot must be an integer >= 100; got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1); got {level!r}")
    values = realized.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise NonFiniteError("realized returns hold NaN or infinite values")
    ref = list(realized.columns).index(reference)
    rng = np.random.default_rng(seed)
    n_blocks = -(-t // block)
    offsets = np.arange(block)
    ratios = np.empty((n_boot, values.shape[1]))
    for b in range(n_boot):
        starts = rng.integers(0, t, size=n_blocks)
        idx = ((starts[:, None] + offsets[None, :]) % t).ravel()[:t]
        var = np.var(values[idx], axis=0, ddof=1)
        ratios[b] = var / var[ref]
    point = np.var(values, axis=0, ddof=1)
    alpha = (1.0 - level) / 2.0
    return pd.DataFrame(
        {
            "variance_ratio": point / point[ref],
            "ci_low": np.quantile(ratios, alpha, axis=0),
            "ci_high": np.quantile(ratios, 1.0 - alpha, axis=0),
            "share_ratio_ge_1": (ratios >= 1.0).mean(axis=0),
        },
        index=pd.Index(realized.columns, name="estimator"),
    )
