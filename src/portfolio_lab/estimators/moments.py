"""First and second sample moments of returns, and their annualization.

Returns are a ``(T, n)`` table: ``T`` periods (rows) by ``n`` assets (columns); a 1-D
``(T,)`` input counts as one asset. pandas in gives pandas out (labels kept); arrays of
any namespace give float64 arrays of the same namespace and device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._backend import as_float64, namespace
from ..exceptions import InputError, NonFiniteError, ShapeError

__all__ = ["mean_returns", "sample_covariance", "annualize_mean", "annualize_covariance"]


def _as_table(returns: Any) -> tuple[Any, Any, pd.Index | None]:
    """Return ``(array (T, n), xp, column labels or None)`` after validation."""
    labels = None
    if isinstance(returns, pd.Series):
        returns = returns.to_frame()
    if isinstance(returns, pd.DataFrame):
        labels = returns.columns
        returns = returns.to_numpy(dtype=np.float64)
    elif isinstance(returns, (list, tuple)):
        returns = np.asarray(returns, dtype=np.float64)
    xp = namespace(returns)
    arr = as_float64(returns, xp)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ShapeError(f"returns must be 1-D (T,) or 2-D (T, n), got shape {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"returns are empty, shape {tuple(arr.shape)}")
    if not bool(xp.all(xp.isfinite(arr))):
        raise NonFiniteError(
            "returns hold NaN or infinite values; drop or fill them (e.g. returns.dropna()) first"
        )
    return arr, xp, labels


def mean_returns(returns: Any) -> Any:
    """Sample mean return of each asset.

    Parameters
    ----------
    returns : DataFrame, Series or array, shape (T, n) or (T,)
        Periodic returns.

    Returns
    -------
    Series or array, shape (n,)
        Mean over the ``T`` rows (a Series indexed by the columns for pandas input).

    Raises
    ------
    NonFiniteError
        NaN or infinite returns.
    ShapeError
        Empty or more than two dimensions.
    """
    arr, xp, labels = _as_table(returns)
    mu = xp.mean(arr, axis=0)
    if labels is not None:
        return pd.Series(np.asarray(mu), index=labels, name="mean")
    return mu


def sample_covariance(returns: Any, ddof: int = 1) -> Any:
    """Sample covariance ``(X − x̄)ᵀ(X − x̄) / (T − ddof)``.

    Parameters
    ----------
    returns : DataFrame, Series or array, shape (T, n) or (T,)
        Periodic returns.
    ddof : int, default 1
        Delta degrees of freedom: 1 gives the unbiased estimator, 0 the maximum-likelihood one.

    Returns
    -------
    DataFrame or array, shape (n, n)
        Exactly symmetric covariance (a DataFrame labelled by the columns for pandas input).

    Raises
    ------
    InputError
        ``ddof`` negative or not below ``T``.
    NonFiniteError, ShapeError
        Invalid returns.
    """
    arr, xp, labels = _as_table(returns)
    if int(ddof) != ddof or ddof < 0:
        raise InputError(f"ddof must be a non-negative integer, got {ddof}")
    t = int(arr.shape[0])
    if t - ddof <= 0:
        raise InputError(f"need more than ddof={ddof} observations, got T={t}")
    centered = arr - xp.mean(arr, axis=0)[None, :]
    cov = xp.matrix_transpose(centered) @ centered / float(t - ddof)
    cov = (cov + xp.matrix_transpose(cov)) / 2.0
    if labels is not None:
        return pd.DataFrame(np.asarray(cov), index=labels, columns=labels)
    return cov


def _check_periods(periods: float) -> float:
    try:
        p = float(periods)
    except (TypeError, ValueError) as exc:
        raise InputError(f"periods must be a positive number, got {periods!r}") from exc
    if not (p > 0 and math.isfinite(p)):
        raise InputError(f"periods must be positive and finite, got {periods!r}")
    return p


def _scale(x: Any, factor: float) -> Any:
    if isinstance(x, (pd.Series, pd.DataFrame)):
        return x.astype(np.float64) * factor
    if isinstance(x, (list, tuple, int, float)):
        x = np.asarray(x, dtype=np.float64)
    return as_float64(x) * factor


def annualize_mean(mu: Any, periods: float = 252) -> Any:
    """Scale per-period mean returns to a year: ``periods · μ``.

    Parameters
    ----------
    mu : Series or array, shape (n,)
        Mean return per period.
    periods : float, default 252
        Periods per year (252 trading days, 52 weeks, 12 months).

    Returns
    -------
    Series or array, shape (n,)
        Same type, namespace and device as ``mu``, float64.

    Raises
    ------
    InputError
        ``periods`` not positive and finite.
    """
    return _scale(mu, _check_periods(periods))


def annualize_covariance(cov: Any, periods: float = 252) -> Any:
    """Scale a per-period covariance to a year: ``periods · Σ`` (i.i.d. returns).

    Parameters
    ----------
    cov : DataFrame or array, shape (n, n)
        Covariance per period.
    periods : float, default 252
        Periods per year.

    Returns
    -------
    DataFrame or array, shape (n, n)
        Same type, namespace and device as ``cov``, float64.

    Raises
    ------
    InputError
        ``periods`` not positive and finite.
    """
    return _scale(cov, _check_periods(periods))
