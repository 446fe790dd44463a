"""Inference a referee accepts: Sharpe-ratio tests, deflated Sharpe, PBO, HAC alphas, SPA/StepM/MCS.

Every function takes NumPy arrays or pandas objects of per-period simple returns and returns a
frozen record with the statistic, its standard error or interval, the p-value and the method's
parameters. Conventions:

- Sharpe ratios are annualized by ``sqrt(periods_per_year)`` unless a name says "per period";
- :func:`sharpe_difference_test` is Ledoit & Wolf (2008), "Robust performance hypothesis testing
  with the Sharpe ratio": the delta method on ``(E r_a, E r_b, E r_a², E r_b²)`` with a
  prewhitened quadratic-spectral HAC estimate of their long-run covariance (Andrews 1991,
  Andrews & Monahan 1992), or the studentized circular-block bootstrap, whose block size is
  chosen by their calibration (a VAR(1) fitted to the pair generates pseudo-series whose true
  difference is known; the block size whose interval covers it closest to the nominal rate wins);
- :func:`probabilistic_sharpe_ratio` and :func:`deflated_sharpe_ratio` are Bailey & López de Prado
  (2012, 2014), with the skewness and (non-excess) kurtosis of the returns;
- :func:`probability_of_backtest_overfitting` is the combinatorially symmetric cross-validation of
  Bailey, Borwein, López de Prado & Zhu (2017);
- :func:`alpha_beta` is the OLS of excess returns on excess benchmark returns with Newey-West
  errors; ``hac_lags="auto"`` takes Newey & West's (1994) rule ``floor(4 (T/100)^(2/9))``;
- :func:`spa_test`, :func:`stepm` and :func:`model_confidence_set` wrap ``arch``'s Hansen SPA,
  Romano-Wolf StepM and Hansen-Lunde-Nason MCS (not rewritten here). Their loss is the negative
  return scaled by each series' full-sample standard deviation (``loss="sharpe"``: a mean loss of
  ``-SR`` per period, so "better" means a higher Sharpe ratio) or the plain negative return
  (``loss="returns"``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ..exceptions import InputError, ShapeError
from . import metrics as _metrics
from .metrics import newey_west_lags

__all__ = [
    "SharpeDifferenceResult",
    "SharpeRatioResult",
    "PBOResult",
    "AlphaResult",
    "MultipleComparisonResult",
    "newey_west_lags",
    "hac_covariance",
    "sharpe_difference_test",
    "calibrate_block_size",
    "probabilistic_sharpe_ratio",
    "deflated_sharpe_ratio",
    "deflated_sharpe_from_moments",
    "expected_maximum_sharpe",
    "probability_of_backtest_overfitting",
    "alpha_beta",
    "spa_test",
    "stepm",
    "model_confidence_set",
]

EULER_GAMMA = 0.5772156649015329


# ------------------------------------------------------------------------------ records
def _flat(record: Any) -> dict[str, Any]:
    out = {k: v for k, v in asdict(record).items() if k != "params"}
    out.update({f"param_{k}": v for k, v in record.params.items()})
    return out


@dataclass(frozen=True)
class SharpeDifferenceResult:
    """Test of ``H0: SR_a = SR_b`` for two return series on the same dates.

    Attributes
    ----------
    sharpe_a, sharpe_b : float
        Annualized Sharpe ratios.
    difference : float
        ``sharpe_a - sharpe_b`` (annualized).
    standard_error : float
        Standard error of the difference (annualized; HAC for both methods).
    statistic : float
        ``difference / standard_error``.
    p_value : float
        Two-sided p-value (normal for ``"hac"``, bootstrap for ``"bootstrap"``).
    ci_low, ci_high : float
        Interval of the difference at ``level`` (normal, or studentized bootstrap).
    method : str
    n_obs : int
    params : dict
        The method's parameters (kernel, bandwidth, block size, resamples, seed, level).
    """

    sharpe_a: float
    sharpe_b: float
    difference: float
    standard_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    method: str
    n_obs: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (``params`` flattened with a ``param_`` prefix)."""
        return _flat(self)


@dataclass(frozen=True)
class SharpeRatioResult:
    """Probabilistic or deflated Sharpe ratio of one return series.

    Attributes
    ----------
    sharpe : float
        Annualized Sharpe ratio of the series.
    benchmark_sharpe : float
        Annualized threshold ``SR*`` (for the DSR, the expected maximum of the trials).
    probability : float
        ``P(SR > SR*)`` (the PSR, or the DSR).
    statistic : float
        The z-score whose normal CDF is ``probability``.
    p_value : float
        ``1 - probability`` (one-sided test of ``SR <= SR*``).
    skewness, kurtosis : float
        Of the returns (kurtosis non-excess: 3 for a normal distribution).
    n_obs : int
    params : dict
    """

    sharpe: float
    benchmark_sharpe: float
    probability: float
    statistic: float
    p_value: float
    skewness: float
    kurtosis: float
    n_obs: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (``params`` flattened with a ``param_`` prefix)."""
        return _flat(self)


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV.

    Attributes
    ----------
    pbo : float
        Share of the combinations whose in-sample best trial ranks at or below the median out of
        sample (logit ``<= 0``).
    logits : numpy.ndarray, shape (C,)
        ``log(ω / (1 - ω))`` of the out-of-sample relative rank ``ω`` of each combination.
    is_performance, oos_performance : numpy.ndarray, shape (C,)
        In- and out-of-sample performance (annualized Sharpe) of the in-sample best trial.
    degradation_slope, degradation_intercept : float
        OLS of ``oos_performance`` on ``is_performance`` (performance degradation).
    probability_of_loss : float
        Share of combinations whose selected trial has an out-of-sample Sharpe below 0.
    n_splits, n_trials, n_obs : int
    metric : str
    """

    pbo: float
    logits: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    n_splits: int
    n_trials: int
    n_obs: int
    metric: str = "sharpe"


@dataclass(frozen=True)
class AlphaResult:
    """Alpha and beta of a strategy against a benchmark, with Newey-West errors.

    Attributes
    ----------
    alpha, alpha_annual : float
        Per-period intercept and ``alpha * periods_per_year``.
    alpha_se, alpha_t, alpha_p : float
        Standard error (per period), t-statistic and two-sided normal p-value of alpha.
    beta, beta_se, beta_t : float
        Slope, its standard error and t-statistic (against 0).
    r_squared : float
    n_obs : int
    hac_lags : int or None
        Newey-West lags (``None``: classical IID errors).
    lag_rule : str
    """

    alpha: float
    alpha_annual: float
    alpha_se: float
    alpha_t: float
    alpha_p: float
    beta: float
    beta_se: float
    beta_t: float
    r_squared: float
    n_obs: int
    hac_lags: int | None
    lag_rule: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class MultipleComparisonResult:
    """Result of SPA, StepM or the MCS (computed by ``arch``).

    Attributes
    ----------
    method : str
        ``"spa"``, ``"stepm"`` or ``"mcs"``.
    p_values : pandas.Series
        SPA: ``lower``, ``consistent``, ``upper`` p-values of "no candidate beats the benchmark";
        MCS: each model's MCS p-value; StepM: empty.
    selected : tuple of str
        SPA: none; StepM: the candidates found superior to the benchmark; MCS: the models in the
        confidence set.
    size : float
    loss : str
    params : dict
        Block size, resamples, bootstrap kind and seed.
    """

    method: str
    p_values: pd.Series
    selected: tuple[str, ...]
    size: float
    loss: str
    params: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ helpers
def _series(x: Any, label: str) -> np.ndarray:
    return _metrics._returns(x, label)


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(a, pd.Series) and isinstance(b, pd.Series) and not a.index.equals(b.index):
        raise ShapeError("the two return series must share their dates (their indexes differ)")
    ra, rb = _series(a, "a"), _series(b, "b")
    if ra.shape != rb.shape:
        raise ShapeError(f"the two return series differ in length: {ra.size} and {rb.size}")
    if ra.size < 10:
        raise InputError(f"a Sharpe-ratio test needs at least 10 paired returns, got {ra.size}")
    for x, label in ((ra, "a"), (rb, "b")):
        if np.ptp(x) == 0.0:
            raise InputError(f"return series {label} is constant: its Sharpe ratio is undefined")
    return ra, rb


def _autocovariances(u: np.ndarray) -> np.ndarray:
    """All sample autocovariances ``Γ(j) = (1/T) Σ_t u_t u_{t-j}ᵀ``, shape (T, d, d), by FFT."""
    T, d = u.shape
    size = 1 << (2 * T - 1).bit_length()
    f = np.fft.rfft(u, n=size, axis=0)  # (F, d)
    cross = np.fft.irfft(f[:, :, None] * np.conj(f[:, None, :]), n=size, axis=0)[:T]
    return cross / T  # cross[j, a, b] = Σ_t u_{t+j, a} u_{t, b}


def _cap_radius(A: np.ndarray, cap: float = 0.97) -> np.ndarray:
    """Scale a VAR(1) matrix so that its spectral radius is at most ``cap`` (stationary)."""
    radius = float(np.max(np.abs(np.linalg.eigvals(A))))
    return A * (cap / radius) if radius > cap else A


def _qs_kernel(x: np.ndarray) -> np.ndarray:
    z = 6.0 * np.pi * x / 5.0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 25.0 / (12.0 * np.pi**2 * x**2) * (np.sin(z) / z - np.cos(z))
    return np.where(x == 0.0, 1.0, k)


def _andrews_bandwidth(u: np.ndarray, kernel: str) -> float:
    """Andrews (1991) plug-in bandwidth from AR(1) fits of each column, equal weights."""
    T = u.shape[0]
    num2 = num1 = den = 0.0
    for col in u.T:
        x, y = col[:-1], col[1:]
        rho = float(x @ y / (x @ x)) if x @ x > 0 else 0.0
        rho = max(min(rho, 0.97), -0.97)
        s2 = float(np.mean((y - rho * x) ** 2))
        num2 += 4.0 * rho**2 * s2**2 / (1.0 - rho) ** 8
        num1 += 4.0 * rho**2 * s2**2 / ((1.0 - rho) ** 6 * (1.0 + rho) ** 2)
        den += s2**2 / (1.0 - rho) ** 4
    if den == 0.0:
        return 1.0
    if kernel == "qs":
        return 1.3221 * (num2 / den * T) ** 0.2
    return 1.1447 * (num1 / den * T) ** (1.0 / 3.0)


def hac_covariance(
    u: Any,
    *,
    kernel: Literal["qs", "bartlett"] = "qs",
    bandwidth: float | None = None,
    prewhiten: bool = True,
    small_sample: bool = True,
) -> tuple[np.ndarray, float]:
    """Long-run covariance ``Ψ = Σ_j Γ(j)`` of a centred multivariate series by a kernel.

    Parameters
    ----------
    u : array_like, shape (T, d)
        Series (centred inside).
    kernel : {"qs", "bartlett"}
        Quadratic-spectral (Ledoit & Wolf's choice) or Bartlett (Newey-West).
    bandwidth : float, optional
        Kernel bandwidth ``S_T``; default Andrews' (1991) AR(1) plug-in rule.
    prewhiten : bool
        VAR(1) prewhitening and recolouring (Andrews & Monahan 1992), the VAR's spectral
        radius capped at 0.97.
    small_sample : bool
        Multiply by ``T / (T - d)`` (Ledoit & Wolf's adjustment, ``d = 4`` for two Sharpe ratios).

    Returns
    -------
    tuple
        ``(Psi, bandwidth)``: Psi of shape (d, d) and the bandwidth used.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim != 2:
        raise ShapeError(f"u must be 2-D (T, d), got shape {u.shape}")
    if kernel not in ("qs", "bartlett"):
        raise InputError(f"kernel must be 'qs' or 'bartlett', got {kernel!r}")
    T, d = u.shape
    u = u - u.mean(axis=0)
    A = None
    e = u
    if prewhiten:
        X, Y = u[:-1], u[1:]
        A = np.linalg.lstsq(X, Y, rcond=None)[0].T  # Y ≈ X Aᵀ
        A = _cap_radius(A)
        e = Y - X @ A.T
    S = _andrews_bandwidth(e, kernel) if bandwidth is None else float(bandwidth)
    if S <= 0:
        raise InputError(f"bandwidth must be positive, got {S}")
    gam = _autocovariances(e)
    j = np.arange(gam.shape[0], dtype=float)
    if kernel == "qs":
        w = _qs_kernel(j / S)
    else:
        w = np.clip(1.0 - j / (S + 1.0), 0.0, None)
    w[0] = 0.0
    psi = gam[0] + np.einsum("j,jab->ab", w, gam + np.transpose(gam, (0, 2, 1)))
    if A is not None:
        inv = np.linalg.inv(np.eye(d) - A)
        psi = inv @ psi @ inv.T
    if small_sample:
        psi = psi * T / (T - d)
    return 0.5 * (psi + psi.T), S


def _sharpe_parts(ra: np.ndarray, rb: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Per-period difference, its gradient and the moment series y_t (T, 4)."""
    mu_a, mu_b = ra.mean(), rb.mean()
    g_a, g_b = (ra * ra).mean(), (rb * rb).mean()
    va, vb = float(np.mean((ra - mu_a) ** 2)), float(np.mean((rb - mu_b) ** 2))
    diff = mu_a / math.sqrt(va) - mu_b / math.sqrt(vb)
    grad = np.array([g_a / va**1.5, -g_b / vb**1.5, -0.5 * mu_a / va**1.5, 0.5 * mu_b / vb**1.5])
    y = np.column_stack([ra - mu_a, rb - mu_b, ra * ra - g_a, rb * rb - g_b])
    return diff, grad, y


def _hac_se(ra: np.ndarray, rb: np.ndarray, **hac: Any) -> tuple[float, float, float]:
    diff, grad, y = _sharpe_parts(ra, rb)
    psi, S = hac_covariance(y, **hac)
    var = float(grad @ psi @ grad) / ra.size
    return diff, math.sqrt(max(var, 0.0)), S


def _block_sums(ra: np.ndarray, rb: np.ndarray, block: int) -> np.ndarray:
    """Sum ``(a, b, a², b²)`` over the circular block starting at each date: shape (T, 4)."""
    x = np.column_stack([ra, rb, ra * ra, rb * rb])
    ext = np.concatenate([x, x[: block - 1]])
    cs = np.concatenate([np.zeros((1, 4)), np.cumsum(ext, axis=0)])
    return cs[block : block + x.shape[0]] - cs[: x.shape[0]]


def _bootstrap_stats(
    ra: np.ndarray, rb: np.ndarray, block: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-period differences and block-consistent standard errors of n circular-block resamples.

    A resample is ``L = T // block`` blocks of ``block`` consecutive dates (wrapping around
    the end) with uniform starts; its standard error uses the natural block estimator
    ``Ψ* = (1/L) Σ_j ζ_j ζ_jᵀ`` with ``ζ_j = block^(-1/2) Σ_{t in block j} (y_t - ȳ)``
    (Ledoit & Wolf 2008, section 3.2).
    """
    T = ra.size
    L = T // block
    sums = _block_sums(ra, rb, block)
    diffs, ses = np.empty(n), np.empty(n)
    chunk = max(1, min(n, 2_000_000 // L))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        S = sums[rng.integers(0, T, size=(hi - lo, L))]  # (n, L, 4)
        m = S.sum(axis=1) / (L * block)
        mu_a, mu_b, g_a, g_b = m[:, 0], m[:, 1], m[:, 2], m[:, 3]
        va, vb = g_a - mu_a**2, g_b - mu_b**2
        with np.errstate(divide="ignore", invalid="ignore"):
            diffs[lo:hi] = mu_a / np.sqrt(va) - mu_b / np.sqrt(vb)
            grad = np.stack(
                [g_a / va**1.5, -g_b / vb**1.5, -0.5 * mu_a / va**1.5, 0.5 * mu_b / vb**1.5], 1
            )
        zeta = (S - block * m[:, None, :]) / math.sqrt(block)
        psi = np.einsum("nla,nlb->nab", zeta, zeta) / L
        var = np.einsum("na,nab,nb->n", grad, psi, grad) / (L * block)
        ses[lo:hi] = np.sqrt(np.maximum(var, 0.0))
    return diffs, ses


def _bootstrap_interval(
    ra: np.ndarray,
    rb: np.ndarray,
    diff: float,
    se: float,
    block: int,
    n: int,
    level: float,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Studentized symmetric interval and p-value of H0: Δ = 0 (per period)."""
    d_star, s_star = _bootstrap_stats(ra, rb, block, n, rng)
    ok = s_star > 0
    t_star = np.abs(d_star[ok] - diff) / s_star[ok]
    q = float(np.quantile(t_star, level)) if t_star.size else math.nan
    p = (
        (float(np.sum(t_star >= abs(diff) / se)) + 1.0) / (t_star.size + 1.0)
        if se > 0
        else math.nan
    )
    return diff - q * se, diff + q * se, p


def calibrate_block_size(
    a: Any,
    b: Any,
    *,
    candidates: tuple[int, ...] = (1, 2, 4, 6, 8, 10),
    level: float = 0.95,
    n_pseudo: int = 100,
    n_boot: int = 99,
    seed: int = 0,
) -> tuple[int, dict[int, float]]:
    """Ledoit & Wolf's (2008) calibration of the block size of the bootstrap.

    A VAR(1) with IID-resampled residuals is fitted to the pair; its stationary mean and
    covariance give the true Sharpe difference of that model. Each of ``n_pseudo`` pseudo-series
    of the original length gets a studentized bootstrap interval at every candidate block size;
    the block size whose empirical coverage of the true difference is closest to ``level`` wins.

    Parameters
    ----------
    a, b : array_like, shape (T,)
    candidates : tuple of int
    level : float
    n_pseudo : int
        Pseudo-series K.
    n_boot : int
        Bootstrap resamples per interval M.
    seed : int

    Returns
    -------
    tuple
        ``(block_size, coverage)`` with coverage a dict block size -> empirical coverage.
    """
    ra, rb = _pair(a, b)
    T = ra.size
    rng = np.random.default_rng(seed)
    X = np.column_stack([ra, rb])
    Z = np.column_stack([np.ones(T - 1), X[:-1]])
    coef = np.linalg.lstsq(Z, X[1:], rcond=None)[0]  # (3, 2)
    c, A = coef[0], coef[1:].T
    A = _cap_radius(A)
    resid = X[1:] - c - X[:-1] @ A.T
    resid = resid - resid.mean(axis=0)
    mean = np.linalg.solve(np.eye(2) - A, c)
    cov = linalg.solve_discrete_lyapunov(A, np.cov(resid.T, bias=True))
    true = mean[0] / math.sqrt(cov[0, 0]) - mean[1] / math.sqrt(cov[1, 1])
    hits = {bs: 0 for bs in candidates}
    burn = 50
    draws = resid[rng.integers(0, resid.shape[0], size=(T + burn, n_pseudo))]  # (T+burn, K, 2)
    paths = np.empty((T + burn, n_pseudo, 2))
    prev = np.broadcast_to(mean, (n_pseudo, 2))
    for t in range(T + burn):  # all K pseudo-series advance together
        prev = c + prev @ A.T + draws[t]
        paths[t] = prev
    for k in range(n_pseudo):
        pa, pb = paths[burn:, k, 0], paths[burn:, k, 1]
        if np.std(pa) == 0 or np.std(pb) == 0:
            continue
        diff, se, _ = _hac_se(pa, pb)
        for bs in candidates:
            lo, hi, _ = _bootstrap_interval(pa, pb, diff, se, bs, n_boot, level, rng)
            hits[bs] += int(lo <= true <= hi)
    coverage = {bs: hits[bs] / n_pseudo for bs in candidates}
    best = min(candidates, key=lambda bs: (abs(coverage[bs] - level), bs))
    return best, coverage


# ------------------------------------------------------------------ Sharpe difference test
def sharpe_difference_test(
    a: Any,
    b: Any,
    *,
    method: Literal["hac", "bootstrap"] = "hac",
    periods_per_year: int = 252,
    level: float = 0.95,
    kernel: Literal["qs", "bartlett"] = "qs",
    prewhiten: bool = True,
    block_size: int | None = None,
    n_boot: int = 4999,
    calibration: dict[str, Any] | None = None,
    seed: int = 0,
) -> SharpeDifferenceResult:
    """Ledoit & Wolf (2008) test of equal Sharpe ratios of two return series on the same dates.

    Parameters
    ----------
    a, b : array_like or pandas.Series, shape (T,)
        Per-period simple returns (excess returns if a risk-free rate matters) on the same dates.
    method : {"hac", "bootstrap"}
        Delta method with a HAC standard error and normal p-value, or the studentized
        circular-block bootstrap (p-value ``(#{d* >= d} + 1) / (M + 1)``).
    periods_per_year : int
        Annualization of the reported ratios, difference, error and interval.
    level : float
        Coverage of the interval.
    kernel, prewhiten
        HAC estimator (see :func:`hac_covariance`).
    block_size : int, optional
        Bootstrap block size; default chosen by :func:`calibrate_block_size`.
    n_boot : int
        Bootstrap resamples M.
    calibration : dict, optional
        Keyword arguments of :func:`calibrate_block_size` (e.g. ``n_pseudo``).
    seed : int
        Seed of the bootstrap and the calibration.

    Returns
    -------
    SharpeDifferenceResult
    """
    if method not in ("hac", "bootstrap"):
        raise InputError(f"method must be 'hac' or 'bootstrap', got {method!r}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level}")
    ra, rb = _pair(a, b)
    T = ra.size
    scale = math.sqrt(periods_per_year)
    diff, se, S = _hac_se(ra, rb, kernel=kernel, prewhiten=prewhiten)
    sr_a = _metrics.sharpe_ratio(ra, 0.0, 1) * math.sqrt((T - 1) / T)  # population std, as Δ
    sr_b = _metrics.sharpe_ratio(rb, 0.0, 1) * math.sqrt((T - 1) / T)
    params: dict[str, Any] = {
        "kernel": kernel,
        "prewhiten": prewhiten,
        "bandwidth": S,
        "level": level,
    }
    if method == "hac":
        z = diff / se if se > 0 else math.nan
        p = float(2.0 * stats.norm.sf(abs(z))) if se > 0 else math.nan
        q = float(stats.norm.ppf(0.5 + level / 2.0))
        lo, hi = diff - q * se, diff + q * se
    else:
        if block_size is None:
            opts = {"level": level, "seed": seed, **(calibration or {})}
            block_size, coverage = calibrate_block_size(ra, rb, **opts)
            params["calibration_coverage"] = coverage
        if block_size < 1 or block_size > T // 2:
            raise InputError(f"block_size must lie in [1, {T // 2}], got {block_size}")
        rng = np.random.default_rng(seed)
        lo, hi, p = _bootstrap_interval(ra, rb, diff, se, int(block_size), n_boot, level, rng)
        z = diff / se if se > 0 else math.nan
        params.update(
            block_size=int(block_size), n_boot=n_boot, seed=seed, bootstrap="circular block"
        )
    return SharpeDifferenceResult(
        sharpe_a=float(sr_a * scale),
        sharpe_b=float(sr_b * scale),
        difference=float(diff * scale),
        standard_error=float(se * scale),
        statistic=float(z),
        p_value=float(p),
        ci_low=float(lo * scale),
        ci_high=float(hi * scale),
        method=method,
        n_obs=T,
        params=params,
    )


# ----------------------------------------------------------- probabilistic / deflated Sharpe
def _moments(r: np.ndarray) -> tuple[float, float, float]:
    sr = float(np.mean(r) / np.std(r, ddof=1))
    skew = float(stats.skew(r, bias=False))
    kurt = float(stats.kurtosis(r, fisher=False, bias=False))
    return sr, skew, kurt


def _psr(sr: float, sr_star: float, n_obs: int, skew: float, kurt: float) -> tuple[float, float]:
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if denom <= 0:
        raise InputError("skewness and kurtosis give a non-positive variance of the Sharpe ratio")
    z = (sr - sr_star) * math.sqrt(n_obs - 1) / math.sqrt(denom)
    return float(stats.norm.cdf(z)), float(z)


def probabilistic_sharpe_ratio(
    returns: Any, benchmark_sharpe: float = 0.0, *, periods_per_year: int = 252
) -> SharpeRatioResult:
    """Probabilistic Sharpe ratio ``P(SR > SR*)`` (Bailey & López de Prado 2012).

    ``PSR = Φ((SR - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR + (γ4 - 1)/4 SR²))`` with per-period
    ratios, γ3 the skewness and γ4 the kurtosis of the returns.

    Parameters
    ----------
    returns : array_like, shape (T,)
    benchmark_sharpe : float
        Annualized threshold SR*.
    periods_per_year : int

    Returns
    -------
    SharpeRatioResult
    """
    r = _series(returns, "returns")
    if r.size < 4 or np.std(r) == 0:
        raise InputError("the probabilistic Sharpe ratio needs at least 4 non-constant returns")
    scale = math.sqrt(periods_per_year)
    sr, skew, kurt = _moments(r)
    prob, z = _psr(sr, benchmark_sharpe / scale, r.size, skew, kurt)
    return SharpeRatioResult(
        sharpe=sr * scale,
        benchmark_sharpe=float(benchmark_sharpe),
        probability=prob,
        statistic=z,
        p_value=1.0 - prob,
        skewness=skew,
        kurtosis=kurt,
        n_obs=r.size,
        params={"periods_per_year": periods_per_year},
    )


def expected_maximum_sharpe(n_trials: int, trials_sharpe_variance: float) -> float:
    """Return the expected maximum Sharpe ratio of ``n_trials`` skill-less trials.

    ``SR0 = sqrt(V) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`` with γ Euler's constant; in
    the units of ``V`` (annualized variance gives an annualized SR0).

    Parameters
    ----------
    n_trials : int
    trials_sharpe_variance : float

    Returns
    -------
    float
    """
    if n_trials < 1:
        raise InputError(f"n_trials must be at least 1, got {n_trials}")
    if not trials_sharpe_variance >= 0 or not math.isfinite(trials_sharpe_variance):
        raise InputError(
            f"trials_sharpe_variance must be finite and >= 0, got {trials_sharpe_variance}"
        )
    if n_trials == 1:
        return 0.0
    g = EULER_GAMMA
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(trials_sharpe_variance) * ((1.0 - g) * z1 + g * z2))


def deflated_sharpe_from_moments(
    sharpe: float,
    n_obs: int,
    *,
    skewness: float,
    kurtosis: float,
    n_trials: int,
    trials_sharpe_variance: float,
    periods_per_year: int = 252,
) -> SharpeRatioResult:
    """Deflated Sharpe ratio from an annualized Sharpe ratio and the moments of its returns.

    Parameters
    ----------
    sharpe : float
        Annualized Sharpe ratio of the selected strategy.
    n_obs : int
    skewness, kurtosis : float
        Of the selected strategy's returns (kurtosis non-excess).
    n_trials : int
        Number of (independent) trials behind the selection.
    trials_sharpe_variance : float
        Variance of the trials' annualized Sharpe ratios.
    periods_per_year : int

    Returns
    -------
    SharpeRatioResult
    """
    scale = math.sqrt(periods_per_year)
    sr0 = expected_maximum_sharpe(n_trials, trials_sharpe_variance)  # annualized
    prob, z = _psr(sharpe / scale, sr0 / scale, n_obs, skewness, kurtosis)
    return SharpeRatioResult(
        sharpe=float(sharpe),
        benchmark_sharpe=sr0,
        probability=prob,
        statistic=z,
        p_value=1.0 - prob,
        skewness=float(skewness),
        kurtosis=float(kurtosis),
        n_obs=int(n_obs),
        params={
            "n_trials": int(n_trials),
            "trials_sharpe_variance": float(trials_sharpe_variance),
            "periods_per_year": periods_per_year,
        },
    )


def deflated_sharpe_ratio(
    returns: Any, *, n_trials: int, trials_sharpe_variance: float, periods_per_year: int = 252
) -> SharpeRatioResult:
    """Deflated Sharpe ratio (Bailey & López de Prado 2014) of the selected strategy's returns.

    The PSR against the expected maximum Sharpe ratio of ``n_trials`` skill-less trials whose
    Sharpe ratios have variance ``trials_sharpe_variance``; skewness and kurtosis of ``returns``.

    Parameters
    ----------
    returns : array_like, shape (T,)
        Returns of the selected (best) strategy.
    n_trials : int
        Number of trials (configurations) tried before selecting it.
    trials_sharpe_variance : float
        Variance across the trials of their annualized Sharpe ratios.
    periods_per_year : int

    Returns
    -------
    SharpeRatioResult
    """
    r = _series(returns, "returns")
    if r.size < 4 or np.std(r) == 0:
        raise InputError("the deflated Sharpe ratio needs at least 4 non-constant returns")
    sr, skew, kurt = _moments(r)
    return deflated_sharpe_from_moments(
        sr * math.sqrt(periods_per_year),
        r.size,
        skewness=skew,
        kurtosis=kurt,
        n_trials=n_trials,
        trials_sharpe_variance=trials_sharpe_variance,
        periods_per_year=periods_per_year,
    )


# ---------------------------------------------------------------------------------- PBO
def probability_of_backtest_overfitting(
    trial_returns: Any, *, n_splits: int = 16, periods_per_year: int = 252
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    The rows (dates) are cut into ``n_splits`` contiguous groups of equal size (the earliest
    ``T mod S`` rows are dropped); every choice of half the groups is an in-sample set and the
    rest its out-of-sample set. The trial with the best in-sample Sharpe ratio is ranked among all
    trials out of sample; ``ω`` is its rank over ``N + 1`` (average ranks at ties) and the logit is
    ``log(ω / (1 - ω))``. PBO is the share of logits ``<= 0``.

    Parameters
    ----------
    trial_returns : array_like or pandas.DataFrame, shape (T, N)
        Returns of N trials on the same T dates.
    n_splits : int
        Even number of groups S (``C(S, S/2)`` combinations).
    periods_per_year : int

    Returns
    -------
    PBOResult
    """
    M = np.asarray(trial_returns, dtype=float)
    if M.ndim != 2:
        raise ShapeError(f"trial_returns must be 2-D (T, N), got shape {M.shape}")
    T, N = M.shape
    if N < 2:
        raise InputError("PBO needs at least two trials")
    if not np.isfinite(M).all():
        raise InputError("trial_returns holds NaN or infinite values")
    if n_splits < 2 or n_splits % 2:
        raise InputError(f"n_splits must be an even number >= 2, got {n_splits}")
    if T < 2 * n_splits:
        raise InputError(f"{T} dates are too few for {n_splits} groups of at least 2")
    size = T // n_splits
    M = M[T - size * n_splits :]
    groups = M.reshape(n_splits, size, N)
    s1, s2 = groups.sum(axis=1), (groups**2).sum(axis=1)  # (S, N)
    combos = list(combinations(range(n_splits), n_splits // 2))
    mask = np.zeros((len(combos), n_splits))
    for i, c in enumerate(combos):
        mask[i, list(c)] = 1.0
    m = size * n_splits // 2

    def sharpe(w: np.ndarray) -> np.ndarray:
        mean = (w @ s1) / m
        var = ((w @ s2) - m * mean**2) / (m - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return mean / np.sqrt(var) * math.sqrt(periods_per_year)

    is_sr, oos_sr = sharpe(mask), sharpe(1.0 - mask)  # (C, N)
    best = np.argmax(np.nan_to_num(is_sr, nan=-np.inf), axis=1)
    rows = np.arange(len(combos))
    ranks = stats.rankdata(np.nan_to_num(oos_sr, nan=-np.inf), axis=1)  # 1 = worst
    omega = ranks[rows, best] / (N + 1.0)
    logits = np.log(omega / (1.0 - omega))
    x, y = is_sr[rows, best], oos_sr[rows, best]
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (math.nan, float(np.mean(y)))
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        is_performance=x,
        oos_performance=y,
        degradation_slope=float(slope),
        degradation_intercept=float(intercept),
        probability_of_loss=float(np.mean(y < 0.0)),
        n_splits=n_splits,
        n_trials=N,
        n_obs=size * n_splits,
    )


# ------------------------------------------------------------------------- HAC alpha
def alpha_beta(
    returns: Any,
    benchmark: Any,
    risk_free: Any = 0.0,
    periods_per_year: int = 252,
    *,
    hac_lags: int | Literal["auto"] | None = "auto",
) -> AlphaResult:
    """Jensen's alpha and beta with Newey-West standard errors.

    Parameters
    ----------
    returns, benchmark : array_like, shape (T,)
        Strategy and benchmark returns on the same periods.
    risk_free : float or array_like, shape (T,)
    periods_per_year : int
    hac_lags : int, "auto" or None
        Newey-West (Bartlett) lags; ``"auto"``: ``floor(4 (T/100)^(2/9))`` (Newey & West
        1994); ``None``: classical IID errors (kept only for comparison).

    Returns
    -------
    AlphaResult
    """
    r = _series(returns, "returns")
    if hac_lags == "auto":
        lags: int | None = newey_west_lags(r.size)
        rule = "newey-west 1994: floor(4 (T/100)^(2/9))"
    elif hac_lags is None:
        lags, rule = None, "iid (classical)"
    else:
        lags, rule = int(hac_lags), "fixed"
    reg = _metrics.alpha_beta(r, benchmark, risk_free, periods_per_year, hac_lags=lags)
    p = float(2.0 * stats.norm.sf(abs(reg.alpha_t))) if math.isfinite(reg.alpha_t) else math.nan
    return AlphaResult(
        alpha=reg.alpha,
        alpha_annual=reg.alpha_annual,
        alpha_se=reg.alpha_se,
        alpha_t=reg.alpha_t,
        alpha_p=p,
        beta=reg.beta,
        beta_se=reg.beta_se,
        beta_t=reg.beta_t,
        r_squared=reg.r_squared,
        n_obs=reg.n_obs,
        hac_lags=lags,
        lag_rule=rule,
    )


# ------------------------------------------------------------- multiple comparisons (arch)
def _losses(frame: pd.DataFrame, loss: str) -> pd.DataFrame:
    if loss == "sharpe":
        sd = frame.std(ddof=1)
        if (sd == 0).any():
            raise InputError(f"constant return series: {list(sd.index[sd == 0])}")
        return -frame / sd
    if loss == "returns":
        return -frame
    raise InputError(f"loss must be 'sharpe' or 'returns', got {loss!r}")


def _frame(candidates: Any, label: str) -> pd.DataFrame:
    if isinstance(candidates, pd.Series):
        candidates = candidates.to_frame()
    frame = pd.DataFrame(candidates)
    if frame.ndim != 2 or frame.shape[1] < 1:
        raise ShapeError(f"{label} must be a (T, k) table of return series")
    if not np.isfinite(frame.to_numpy(dtype=float)).all():
        raise InputError(f"{label} holds NaN or infinite values")
    frame.columns = [str(c) for c in frame.columns]
    return frame.astype(float)


def _joint(benchmark: Any, candidates: Any) -> tuple[pd.Series, pd.DataFrame]:
    cand = _frame(candidates, "candidates")
    bench = pd.Series(_series(np.asarray(benchmark, dtype=float), "benchmark"), index=cand.index)
    if bench.size != len(cand):
        raise ShapeError(f"benchmark has {bench.size} dates, candidates {len(cand)}")
    return bench, cand


def _block(T: int, block_size: int | None) -> int:
    return int(block_size) if block_size is not None else max(1, round(T ** (1.0 / 3.0)))


def spa_test(
    benchmark: Any,
    candidates: Any,
    *,
    loss: Literal["sharpe", "returns"] = "sharpe",
    block_size: int | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> MultipleComparisonResult:
    """Hansen's (2005) test of superior predictive ability of any candidate over a benchmark.

    Parameters
    ----------
    benchmark : array_like, shape (T,)
        Benchmark returns (e.g. 1/N).
    candidates : pandas.DataFrame or array_like, shape (T, k)
    loss : {"sharpe", "returns"}
        See the module notes.
    block_size : int, optional
        Mean block of the stationary bootstrap (default ``T^(1/3)``).
    reps : int
    seed : int

    Returns
    -------
    MultipleComparisonResult
        ``p_values`` with ``lower``, ``consistent``, ``upper``: small means some candidate beats
        the benchmark.
    """
    from arch.bootstrap import SPA

    bench, cand = _joint(benchmark, candidates)
    bl = _losses(bench.to_frame("benchmark"), loss)["benchmark"]
    bs = _block(len(cand), block_size)
    spa = SPA(bl.to_numpy(), _losses(cand, loss).to_numpy(), block_size=bs, reps=reps, seed=seed)
    spa.compute()
    return MultipleComparisonResult(
        method="spa",
        p_values=pd.Series(spa.pvalues, dtype=float),
        selected=(),
        size=math.nan,
        loss=loss,
        params={"block_size": bs, "reps": reps, "bootstrap": "stationary", "seed": seed},
    )


def stepm(
    benchmark: Any,
    candidates: Any,
    *,
    size: float = 0.05,
    loss: Literal["sharpe", "returns"] = "sharpe",
    block_size: int | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> MultipleComparisonResult:
    """Romano & Wolf (2005) StepM: the candidates superior to the benchmark, familywise ``size``.

    Parameters
    ----------
    benchmark : array_like, shape (T,)
    candidates : pandas.DataFrame or array_like, shape (T, k)
    size : float
        Familywise error rate.
    loss : {"sharpe", "returns"}
    block_size : int, optional
    reps : int
    seed : int

    Returns
    -------
    MultipleComparisonResult
        ``selected``: names of the candidates found superior.
    """
    from arch.bootstrap import StepM

    bench, cand = _joint(benchmark, candidates)
    bl = _losses(bench.to_frame("benchmark"), loss)["benchmark"]
    bs = _block(len(cand), block_size)
    losses = _losses(cand, loss)
    sm = StepM(bl, losses, size=size, block_size=bs, reps=reps, seed=seed)
    sm.compute()
    chosen = tuple(str(c) for c in sm.superior_models)
    return MultipleComparisonResult(
        method="stepm",
        p_values=pd.Series(dtype=float),
        selected=chosen,
        size=size,
        loss=loss,
        params={"block_size": bs, "reps": reps, "bootstrap": "stationary", "seed": seed},
    )


def model_confidence_set(
    returns: Any,
    *,
    size: float = 0.1,
    loss: Literal["sharpe", "returns"] = "sharpe",
    block_size: int | None = None,
    reps: int = 1000,
    method: Literal["R", "max"] = "R",
    seed: int = 0,
) -> MultipleComparisonResult:
    """Hansen, Lunde & Nason (2011) model confidence set of the best strategies.

    Parameters
    ----------
    returns : pandas.DataFrame, shape (T, k)
        Return series of every strategy (benchmark included).
    size : float
        The set holds the best model with probability ``1 - size``.
    loss : {"sharpe", "returns"}
    block_size : int, optional
    reps : int
    method : {"R", "max"}
        arch's MCS statistic.
    seed : int

    Returns
    -------
    MultipleComparisonResult
        ``selected``: the models in the set; ``p_values``: each model's MCS p-value.
    """
    from arch.bootstrap import MCS

    frame = _frame(returns, "returns")
    if frame.shape[1] < 2:
        raise InputError("the model confidence set needs at least two strategies")
    bs = _block(len(frame), block_size)
    mcs = MCS(_losses(frame, loss), size=size, reps=reps, block_size=bs, method=method, seed=seed)
    mcs.compute()
    pv = mcs.pvalues.iloc[:, 0].astype(float)
    pv.index = [str(i) for i in pv.index]
    included = tuple(str(i) for i in mcs.included)
    return MultipleComparisonResult(
        method="mcs",
        p_values=pv.reindex(frame.columns),
        selected=tuple(c for c in frame.columns if c in included),
        size=size,
        loss=loss,
        params={
            "block_size": bs,
            "reps": reps,
            "bootstrap": "stationary",
            "seed": seed,
            "statistic": method,
        },
    )
