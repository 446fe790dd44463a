"""Performance metrics of a return series: growth, risk, risk-adjusted and relative.

All functions take per-period simple returns (NumPy arrays or pandas Series of shape
(T,)) and annualize with ``periods_per_year`` (252 for daily data). Conventions:

- annualized return is geometric, ``W_T^(P/T) - 1``;
- volatility and Sharpe use the sample standard deviation (``ddof=1``);
- Sortino divides by the downside deviation ``sqrt(mean(min(r - target, 0)²))``;
- maximum drawdown is reported as a positive loss fraction, and the drawdown series is
  ``W_t / max_{s≤t} W_s - 1`` with the starting wealth 1 counted as a peak;
- alpha and beta come from the OLS regression ``r_p - r_f = α + β (r_b - r_f) + ε``; the
  t-statistics that :func:`summary` reports use Newey-West errors with Newey & West's (1994)
  lag rule ``floor(4 (T/100)^(2/9))`` (``hac_lags="auto"``), as :mod:`.inference` does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, ShapeError

__all__ = [
    "cumulative_wealth",
    "annualized_return",
    "annualized_volatility",
    "sharpe_ratio",
    "sharpe_standard_error",
    "sharpe_bootstrap_ci",
    "stationary_bootstrap_indices",
    "sortino_ratio",
    "drawdown",
    "max_drawdown",
    "calmar_ratio",
    "average_turnover",
    "RegressionResult",
    "newey_west_lags",
    "alpha_beta",
    "summary",
]


def _returns(returns: Any, label: str = "returns") -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise ShapeError(f"{label} must be 1-D (T,), got shape {r.shape}")
    if r.size == 0:
        raise InputError(f"{label} is empty")
    if not np.isfinite(r).all():
        raise InputError(f"{label} holds NaN or infinite values")
    if (r <= -1.0).any():
        raise InputError(f"{label} has a return of -100% or less (wealth would be non-positive)")
    return r


def cumulative_wealth(returns: Any) -> float:
    """Return the final wealth ``Π (1 + r_t)`` from a start of 1 (the fAPV).

    Parameters
    ----------
    returns : array_like, shape (T,)

    Returns
    -------
    float
    """
    return float(np.exp(np.sum(np.log1p(_returns(returns)))))


def annualized_return(returns: Any, periods_per_year: int = 252) -> float:
    """Geometric annualized return ``W_T^(P/T) - 1``.

    Parameters
    ----------
    returns : array_like, shape (T,)
    periods_per_year : int

    Returns
    -------
    float
    """
    r = _returns(returns)
    return float(np.expm1(np.mean(np.log1p(r)) * periods_per_year))


def annualized_volatility(returns: Any, periods_per_year: int = 252) -> float:
    """Sample standard deviation (ddof=1) times ``sqrt(periods_per_year)``.

    Parameters
    ----------
    returns : array_like, shape (T,)
    periods_per_year : int

    Returns
    -------
    float
        NaN with fewer than two returns.
    """
    r = _returns(returns)
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def _excess(returns: Any, risk_free: Any) -> np.ndarray:
    r = _returns(returns)
    rf = np.asarray(risk_free, dtype=float)
    if rf.ndim not in (0, 1) or (rf.ndim == 1 and rf.shape != r.shape):
        raise ShapeError(f"risk_free must be a scalar or have shape {r.shape}")
    return r - rf


def sharpe_ratio(returns: Any, risk_free: Any = 0.0, periods_per_year: int = 252) -> float:
    """Annualized Sharpe ratio ``mean(r - r_f) / std(r - r_f) · sqrt(P)``.

    Parameters
    ----------
    returns : array_like, shape (T,)
    risk_free : float or array_like, shape (T,)
        Per-period risk-free return.
    periods_per_year : int

    Returns
    -------
    float
        NaN when the excess returns are constant or fewer than two.
    """
    ex = _excess(returns, risk_free)
    if ex.size < 2:
        return math.nan
    sd = np.std(ex, ddof=1)
    if sd == 0.0:
        return math.nan
    return float(np.mean(ex) / sd * math.sqrt(periods_per_year))


def sharpe_standard_error(returns: Any, risk_free: Any = 0.0, periods_per_year: int = 252) -> float:
    """Return the standard error of the annualized Sharpe ratio for IID returns (Lo 2002).

    ``se(SR_1) = sqrt((1 + SR_1² / 2) / T)`` for the per-period ratio ``SR_1``; the
    annualized ratio and its error both scale by ``sqrt(P)``.

    Parameters
    ----------
    returns : array_like, shape (T,)
    risk_free : float or array_like, shape (T,)
    periods_per_year : int

    Returns
    -------
    float
    """
    ex = _excess(returns, risk_free)
    sr = sharpe_ratio(ex, 0.0, 1)
    if math.isnan(sr):
        return math.nan
    return float(math.sqrt((1.0 + 0.5 * sr * sr) / ex.size) * math.sqrt(periods_per_year))


def stationary_bootstrap_indices(
    n_obs: int, n_samples: int, mean_block: float, rng: np.random.Generator
) -> np.ndarray:
    """Resampling indices of the stationary bootstrap (Politis & Romano 1994).

    Each resample is a sequence of blocks with geometric lengths of mean ``mean_block``
    starting at uniform positions, wrapping around the end of the sample.

    Parameters
    ----------
    n_obs : int
        Length T of the series.
    n_samples : int
        Number of resamples B.
    mean_block : float
        Expected block length (``>= 1``).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (B, T), int
    """
    if mean_block < 1:
        raise InputError(f"mean_block must be at least 1, got {mean_block}")
    t = np.arange(n_obs)
    new_block = rng.random((n_samples, n_obs)) < 1.0 / mean_block
    new_block[:, 0] = True
    starts = rng.integers(0, n_obs, size=(n_samples, n_obs))
    last = np.maximum.accumulate(np.where(new_block, t, 0), axis=1)
    rows = np.arange(n_samples)[:, None]
    return (starts[rows, last] + (t - last)) % n_obs


def sharpe_bootstrap_ci(
    returns: Any,
    risk_free: Any = 0.0,
    periods_per_year: int = 252,
    *,
    level: float = 0.95,
    n_samples: int = 1000,
    mean_block: float | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of the annualized Sharpe ratio by stationary bootstrap.

    Parameters
    ----------
    returns : array_like, shape (T,)
    risk_free : float or array_like, shape (T,)
    periods_per_year : int
    level : float
        Coverage in (0, 1).
    n_samples : int
        Number of bootstrap resamples.
    mean_block : float, optional
        Expected block length; default ``T^(1/3)`` (at least 1).
    seed : int
        Seed of the generator (the interval is reproducible).

    Returns
    -------
    tuple of float
        ``(low, high)``; NaNs with fewer than three returns.
    """
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level}")
    ex = _excess(returns, risk_free)
    T = ex.size
    if T < 3:
        return (math.nan, math.nan)
    block = max(1.0, T ** (1.0 / 3.0)) if mean_block is None else float(mean_block)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_samples)
    chunk = max(1, min(n_samples, 4_000_000 // T))
    for lo in range(0, n_samples, chunk):
        hi = min(n_samples, lo + chunk)
        sample = ex[stationary_bootstrap_indices(T, hi - lo, block, rng)]
        sd = sample.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats[lo:hi] = np.where(sd > 0, sample.mean(axis=1) / sd, np.nan)
    stats *= math.sqrt(periods_per_year)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def sortino_ratio(returns: Any, target: float = 0.0, periods_per_year: int = 252) -> float:
    """Annualized Sortino ratio ``mean(r - τ) / sqrt(mean(min(r - τ, 0)²)) · sqrt(P)``.

    Parameters
    ----------
    returns : array_like, shape (T,)
    target : float
        Per-period target return τ.
    periods_per_year : int

    Returns
    -------
    float
        ``inf`` when no return falls below the target (and the mean is positive).
    """
    ex = _returns(returns) - target
    downside = math.sqrt(float(np.mean(np.minimum(ex, 0.0) ** 2)))
    mean = float(np.mean(ex))
    if downside == 0.0:  # the sign of the sum: a mean of denormal returns can underflow to 0
        return math.inf if float(np.sum(ex)) > 0 else math.nan
    return mean / downside * math.sqrt(periods_per_year)


def drawdown(returns: Any) -> Any:
    """Drawdown series ``W_t / max(1, max_{s≤t} W_s) - 1`` (non-positive).

    Parameters
    ----------
    returns : array_like or pandas.Series, shape (T,)

    Returns
    -------
    numpy.ndarray or pandas.Series, shape (T,)
        A Series (same index) when ``returns`` is a Series.
    """
    r = _returns(returns)
    wealth = np.exp(np.cumsum(np.log1p(r)))
    peak = np.maximum(np.maximum.accumulate(wealth), 1.0)
    dd = wealth / peak - 1.0
    if isinstance(returns, pd.Series):
        return pd.Series(dd, index=returns.index, name="drawdown")
    return dd


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough loss as a positive fraction (0.3 means -30%).

    Parameters
    ----------
    returns : array_like, shape (T,)

    Returns
    -------
    float
    """
    return float(-np.min(np.asarray(drawdown(returns)), initial=0.0))


def calmar_ratio(returns: Any, periods_per_year: int = 252) -> float:
    """Annualized return divided by the maximum drawdown.

    Parameters
    ----------
    returns : array_like, shape (T,)
    periods_per_year : int

    Returns
    -------
    float
        NaN when there is no drawdown.
    """
    mdd = max_drawdown(returns)
    if mdd == 0.0:
        return math.nan
    return annualized_return(returns, periods_per_year) / mdd


def average_turnover(turnover: Any, *, skip_first: bool = True) -> float:
    """Mean one-way turnover per period.

    Parameters
    ----------
    turnover : array_like, shape (T,)
        One-way turnover of each rebalancing (``BacktestResult.turnover``).
    skip_first : bool
        Leave out the initial purchase (period 0).

    Returns
    -------
    float
    """
    t = np.asarray(turnover, dtype=float)
    if skip_first:
        t = t[1:]
    return float(np.mean(t)) if t.size else math.nan


def newey_west_lags(n_obs: int) -> int:
    """Newey & West (1994) lag rule ``floor(4 (T/100)^(2/9))``.

    Parameters
    ----------
    n_obs : int
        Sample length T.

    Returns
    -------
    int
    """
    return int(math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0)))


@dataclass(frozen=True)
class RegressionResult:
    """OLS of excess strategy returns on excess benchmark returns.

    Attributes
    ----------
    alpha : float
        Per-period intercept.
    alpha_annual : float
        ``alpha * periods_per_year``.
    beta : float
    alpha_se, beta_se : float
        Standard errors (classical, or Newey-West when ``hac_lags`` was given).
    alpha_t, beta_t : float
        t-statistics ``alpha / alpha_se`` and ``beta / beta_se`` (beta tested against 0).
    r_squared : float
    n_obs : int
    hac_lags : int or None
    """

    alpha: float
    alpha_annual: float
    beta: float
    alpha_se: float
    beta_se: float
    alpha_t: float
    beta_t: float
    r_squared: float
    n_obs: int
    hac_lags: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return asdict(self)


def alpha_beta(
    returns: Any,
    benchmark: Any,
    risk_free: Any = 0.0,
    periods_per_year: int = 252,
    *,
    hac_lags: int | str | None = None,
) -> RegressionResult:
    """Jensen's alpha and beta by OLS, with classical or Newey-West standard errors.

    Parameters
    ----------
    returns : array_like, shape (T,)
        Strategy returns.
    benchmark : array_like, shape (T,)
        Benchmark returns on the same periods.
    risk_free : float or array_like, shape (T,)
    periods_per_year : int
    hac_lags : int, "auto" or None
        Newey-West (Bartlett kernel) lags; ``"auto"`` for ``floor(4 (T/100)^(2/9))``;
        ``None`` for homoskedastic IID errors.

    Returns
    -------
    RegressionResult
    """
    y = _excess(returns, risk_free)
    xb = _excess(benchmark, risk_free)
    if xb.shape != y.shape:
        raise ShapeError(f"benchmark shape {xb.shape} differs from returns shape {y.shape}")
    T = y.size
    if T < 3:
        raise InputError("alpha/beta need at least three observations")
    if hac_lags == "auto":
        hac_lags = newey_west_lags(T)
    elif isinstance(hac_lags, str):
        raise InputError(f"hac_lags must be an int, 'auto' or None, got {hac_lags!r}")
    X = np.column_stack([np.ones(T), xb])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    xtx = X.T @ X
    if hac_lags is None:
        s2 = float(resid @ resid) / (T - 2)
        cov = s2 * np.linalg.solve(xtx, np.eye(2))
    else:
        if hac_lags < 0:
            raise InputError(f"hac_lags must be non-negative, got {hac_lags}")
        u = X * resid[:, None]
        meat = u.T @ u
        for lag in range(1, hac_lags + 1):
            weight = 1.0 - lag / (hac_lags + 1.0)
            gamma = u[lag:].T @ u[:-lag]
            meat += weight * (gamma + gamma.T)
        half = np.linalg.solve(xtx, meat)  # (X'X)^-1 S
        cov = np.linalg.solve(xtx, half.T).T  # (X'X)^-1 S (X'X)^-1, X'X symmetric
    se = np.sqrt(np.diag(cov))
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else math.nan
    return RegressionResult(
        alpha=float(coef[0]),
        alpha_annual=float(coef[0] * periods_per_year),
        beta=float(coef[1]),
        alpha_se=float(se[0]),
        beta_se=float(se[1]),
        alpha_t=float(coef[0] / se[0]) if se[0] > 0 else math.nan,
        beta_t=float(coef[1] / se[1]) if se[1] > 0 else math.nan,
        r_squared=r2,
        n_obs=T,
        hac_lags=hac_lags,
    )


def summary(
    returns: Any,
    *,
    benchmark: Any = None,
    turnover: Any = None,
    risk_free: Any = 0.0,
    periods_per_year: int = 252,
    hac_lags: int | str | None = "auto",
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Every metric of one run as a flat dict of floats.

    Parameters
    ----------
    returns : array_like, shape (T,)
        Net per-period returns.
    benchmark : array_like, shape (T,), optional
        Benchmark returns (adds alpha, beta and their t-statistics).
    turnover : array_like, shape (T,), optional
        One-way turnover per period.
    risk_free : float or array_like, shape (T,)
    periods_per_year : int
    hac_lags : int, "auto" or None
        Newey-West lags for the alpha/beta standard errors (default ``"auto"``, the
        Newey-West 1994 rule; ``None`` for classical IID errors).
    bootstrap_samples : int
        Resamples of the Sharpe confidence interval.
    seed : int
        Bootstrap seed.

    Returns
    -------
    dict
        Keys ``final_wealth, annual_return, annual_volatility, sharpe, sharpe_se,
        sharpe_ci_low, sharpe_ci_high, sortino, max_drawdown, calmar, n_periods`` plus
        ``turnover`` and ``alpha, alpha_annual, beta, alpha_t, beta_t, r_squared`` when
        given the inputs.
    """
    r = _returns(returns)
    ci = sharpe_bootstrap_ci(r, risk_free, periods_per_year, n_samples=bootstrap_samples, seed=seed)
    out: dict[str, float] = {
        "final_wealth": cumulative_wealth(r),
        "annual_return": annualized_return(r, periods_per_year),
        "annual_volatility": annualized_volatility(r, periods_per_year),
        "sharpe": sharpe_ratio(r, risk_free, periods_per_year),
        "sharpe_se": sharpe_standard_error(r, risk_free, periods_per_year),
        "sharpe_ci_low": ci[0],
        "sharpe_ci_high": ci[1],
        "sortino": sortino_ratio(r, 0.0, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar_ratio(r, periods_per_year),
        "n_periods": float(r.size),
    }
    if turnover is not None:
        out["turnover"] = average_turnover(turnover)
    if benchmark is not None:
        reg = alpha_beta(r, benchmark, risk_free, periods_per_year, hac_lags=hac_lags)
        out.update(
            alpha=reg.alpha,
            alpha_annual=reg.alpha_annual,
            beta=reg.beta,
            alpha_t=reg.alpha_t,
            beta_t=reg.beta_t,
            r_squared=reg.r_squared,
        )
    return out
