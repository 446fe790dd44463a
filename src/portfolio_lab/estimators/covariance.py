"""Covariance estimators beyond the sample covariance: shrinkage, denoising, decay.

Every estimator is a pure function of a ``(T, n)`` array of returns (NumPy, torch or
CuPy; a pandas DataFrame is accepted and treated as NumPy) and returns float64 arrays
in the input's namespace and on its device:

- :func:`ledoit_wolf` shrinks the maximum-likelihood sample covariance towards the
  scaled identity (Ledoit & Wolf, 2004, *J. Multivariate Anal.*) or towards the
  constant-correlation matrix (Ledoit & Wolf, 2004, *J. Portfolio Management*,
  "Honey, I shrunk the sample covariance matrix"), with the optimal intensity
  estimated from the data.
- :func:`marchenko_pastur_clip` denoises a covariance by replacing the eigenvalues of
  its correlation matrix that lie inside the Marcenko-Pastur noise band by their
  average (trace kept), then rescaling back to the original variances.
- :func:`ewma_covariance` is the exponentially weighted covariance, with the same
  weights and bias correction as ``pandas.DataFrame.ewm(...).cov()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from .._backend import as_float64, namespace
from .._backend import device as _device
from ..exceptions import (
    InputError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
)

__all__ = [
    "COVARIANCE_ESTIMATORS",
    "estimate_covariance",
    "ShrinkageResult",
    "DenoiseResult",
    "ledoit_wolf",
    "marchenko_pastur_clip",
    "marchenko_pastur_pdf",
    "marchenko_pastur_edges",
    "ewma_covariance",
    "ewma_weights",
]

ShrinkageTarget = Literal["identity", "constant_correlation"]


@dataclass(frozen=True)
class ShrinkageResult:
    """A shrunk covariance and how it was obtained.

    Attributes
    ----------
    covariance : array, shape (n, n)
        ``(1 - shrinkage) * S + shrinkage * prior`` where ``S`` is the maximum-likelihood
        (divide by ``T``) sample covariance.
    shrinkage : float
        Estimated optimal intensity, in ``[0, 1]``.
    target : str
        ``"identity"`` or ``"constant_correlation"``.
    prior : array, shape (n, n)
        The shrinkage target ``F`` (``mean(diag(S)) * I`` or the constant-correlation
        matrix).
    """

    covariance: Any
    shrinkage: float
    target: str
    prior: Any


@dataclass(frozen=True)
class DenoiseResult:
    """A covariance denoised by Marcenko-Pastur eigenvalue clipping.

    Attributes
    ----------
    covariance : array, shape (n, n)
        Denoised covariance; its diagonal (hence its trace) equals the input's.
    correlation : array, shape (n, n)
        Denoised correlation matrix (unit diagonal).
    eigenvalues : array, shape (n,)
        Eigenvalues of the input correlation matrix, ascending.
    clipped_eigenvalues : array, shape (n,)
        The same eigenvalues after clipping (noise ones replaced by their mean), in the
        same order; they sum to ``n`` like the originals.
    lambda_plus : float
        Upper edge of the Marcenko-Pastur band, ``sigma2 * (1 + sqrt(q))**2``.
    sigma2 : float
        Noise variance used for the band.
    q : float
        Aspect ratio ``n / T``.
    n_signal : int
        Number of eigenvalues strictly above ``lambda_plus`` (kept unchanged).
    """

    covariance: Any
    correlation: Any
    eigenvalues: Any
    clipped_eigenvalues: Any
    lambda_plus: float
    sigma2: float
    q: float
    n_signal: int


# --------------------------------------------------------------------------- helpers


def _as_array(x: Any) -> Any:
    """Turn a pandas object into NumPy; leave arrays of any namespace alone."""
    if hasattr(x, "to_numpy") and type(x).__module__.startswith("pandas"):
        return x.to_numpy(dtype="float64")
    return x


def _check_returns(returns: Any, *, min_rows: int = 2) -> tuple[Any, Any]:
    """Validate a ``(T, n)`` returns array; return ``(X float64, xp)``."""
    x = _as_array(returns)
    x = as_float64(x)
    xp = namespace(x)
    if x.ndim != 2:
        raise ShapeError(
            f"returns must be a 2-D array of shape (T, n); got {x.ndim} dimension(s). "
            "Reshape a single series to (T, 1)."
        )
    t, n = x.shape
    if n < 1:
        raise ShapeError("returns have no columns (assets); pass at least one asset")
    if t < min_rows:
        raise ShapeError(f"returns need at least {min_rows} rows (observations); got {t}")
    if not bool(xp.all(xp.isfinite(x))):
        raise NonFiniteError("returns hold NaN or infinite values; drop or fill them first")
    return x, xp


def _check_covariance(cov: Any, *, rtol: float = 1e-10) -> tuple[Any, Any]:
    """Validate a square symmetric ``(n, n)`` matrix with a positive diagonal."""
    c = as_float64(_as_array(cov))
    xp = namespace(c)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ShapeError(f"covariance must be a square (n, n) matrix; got shape {tuple(c.shape)}")
    if not bool(xp.all(xp.isfinite(c))):
        raise NonFiniteError("covariance holds NaN or infinite values")
    scale = float(xp.max(xp.abs(c))) if c.shape[0] else 0.0
    asym = float(xp.max(xp.abs(c - xp.matrix_transpose(c)))) if c.shape[0] else 0.0
    if asym > rtol * max(scale, 1e-300):
        raise NotSymmetricError(
            f"covariance is not symmetric (max |C - Cᵀ| = {asym:.3g}); symmetrize it first"
        )
    if not bool(xp.all(xp.linalg.diagonal(c) > 0.0)):
        raise NotPositiveDefiniteError(
            "covariance has a non-positive variance on its diagonal; drop constant assets"
        )
    return c, xp


def _has_constant_column(x: Any, xp: Any) -> bool:
    """Whether some column of ``x`` takes a single value (exact test, before centering)."""
    return not bool(xp.all(xp.max(x, axis=0) > xp.min(x, axis=0)))


def _center(x: Any, xp: Any) -> Any:
    return x - xp.mean(x, axis=0, keepdims=True)


def _diag_matrix(v: Any, xp: Any) -> Any:
    n = v.shape[0]
    return xp.eye(n, dtype=v.dtype, device=_device(v)) * v[None, :]


def _symmetrize(a: Any, xp: Any) -> Any:
    return 0.5 * (a + xp.matrix_transpose(a))


# ----------------------------------------------------------------------- Ledoit-Wolf


def ledoit_wolf(
    returns: Any,
    *,
    target: ShrinkageTarget = "identity",
    assume_centered: bool = False,
) -> ShrinkageResult:
    """Ledoit-Wolf shrinkage of the sample covariance.

    Both targets shrink the maximum-likelihood sample covariance
    ``S = Xcᵀ Xc / T`` (``Xc`` the demeaned returns), as in the papers, so that with
    zero shrinkage the result is ``sample_covariance(returns, ddof=0)``.

    - ``target="identity"``: ``F = mean(diag(S)) I`` and the intensity of Ledoit & Wolf
      (2004, "A well-conditioned estimator for large-dimensional covariance
      matrices"); identical to :class:`sklearn.covariance.LedoitWolf`.
    - ``target="constant_correlation"``: ``F_ii = S_ii``,
      ``F_ij = r̄ sqrt(S_ii S_jj)`` with ``r̄`` the average pairwise sample
      correlation, and intensity ``max(0, min(1, (π̂ - ρ̂) / (γ̂ T)))`` of Ledoit & Wolf
      (2004, "Honey, I shrunk the sample covariance matrix", Appendix B).

    Parameters
    ----------
    returns : array, shape (T, n)
        Returns, one row per period (NumPy, torch, CuPy or a pandas DataFrame).
    target : {"identity", "constant_correlation"}, default "identity"
        Shrinkage target.
    assume_centered : bool, default False
        If True the returns are not demeaned (their mean is taken to be zero).

    Returns
    -------
    ShrinkageResult
        ``covariance`` (n, n), ``shrinkage`` in [0, 1], ``target`` and ``prior`` (n, n),
        arrays in the input's namespace and device.

    Raises
    ------
    ShapeError
        ``returns`` is not 2-D or has fewer than two rows.
    NonFiniteError
        ``returns`` holds NaN or infinity.
    InputError
        Unknown ``target``, or a constant asset with the constant-correlation target.
    """
    if target not in ("identity", "constant_correlation"):
        raise InputError(
            f"unknown shrinkage target {target!r}; use 'identity' or 'constant_correlation'"
        )
    x, xp = _check_returns(returns)
    if target == "constant_correlation" and _has_constant_column(x, xp):
        raise InputError(
            "an asset has zero variance in the window, so its correlations are undefined; "
            "drop constant columns before shrinking towards constant correlation"
        )
    if not assume_centered:
        x = _center(x, xp)
    if target == "identity":
        return _lw_identity(x, xp)
    return _lw_constant_correlation(x, xp)


def _lw_identity(x: Any, xp: Any) -> ShrinkageResult:
    t, n = x.shape
    s = (xp.matrix_transpose(x) @ x) / t
    x2 = x * x
    var = xp.sum(x2, axis=0) / t
    mu = float(xp.sum(var)) / n
    prior = mu * xp.eye(n, dtype=x.dtype, device=_device(x))
    if n == 1:
        return ShrinkageResult(covariance=s, shrinkage=0.0, target="identity", prior=prior)
    # beta: estimated squared distance of S from Σ (sum of the variances of x_i x_j),
    # delta: squared distance of S from the target, both scaled by 1/n.
    delta_ = float(xp.sum(s * s))
    beta_ = float(xp.sum(xp.matrix_transpose(x2) @ x2))
    beta = (beta_ / t - delta_) / (n * t)
    delta = (delta_ - 2.0 * mu * float(xp.sum(var)) + n * mu * mu) / n
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0.0 else beta / delta
    cov = (1.0 - shrinkage) * s + prior * shrinkage
    return ShrinkageResult(covariance=cov, shrinkage=shrinkage, target="identity", prior=prior)


def _lw_constant_correlation(x: Any, xp: Any) -> ShrinkageResult:
    t, n = x.shape
    xt = xp.matrix_transpose(x)
    s = (xt @ x) / t
    var = xp.linalg.diagonal(s)
    if not bool(xp.all(var > 0.0)):
        raise InputError(
            "an asset has zero variance in the window, so its correlations are undefined; "
            "drop constant columns before shrinking towards constant correlation"
        )
    if n == 1:
        return ShrinkageResult(covariance=s, shrinkage=0.0, target="constant_correlation", prior=s)
    sd = xp.sqrt(var)
    outer_sd = sd[:, None] * sd[None, :]
    r_bar = (float(xp.sum(s / outer_sd)) - n) / (n * (n - 1))
    eye = xp.eye(n, dtype=x.dtype, device=_device(x))
    prior = r_bar * outer_sd + (1.0 - r_bar) * _diag_matrix(var, xp)
    # π̂: sum of the asymptotic variances of sqrt(T) s_ij
    y = x * x
    pi_mat = (xp.matrix_transpose(y) @ y) / t - s * s
    pi_hat = float(xp.sum(pi_mat))
    # ρ̂: sum of the asymptotic covariances of sqrt(T) f_ij with sqrt(T) s_ij
    theta = (xp.matrix_transpose(y * x) @ x) / t - var[:, None] * s
    theta = theta * (1.0 - eye)
    ratio = sd[None, :] / sd[:, None]
    rho_hat = float(xp.sum(xp.linalg.diagonal(pi_mat))) + r_bar * float(xp.sum(ratio * theta))
    # γ̂: squared misspecification of the target
    gamma_hat = float(xp.sum((s - prior) ** 2))
    if gamma_hat <= 1e-24 * float(xp.sum(s * s)):
        # S already has constant correlations (always so for n = 2): F = S up to
        # rounding, the intensity is undefined and irrelevant; report no shrinkage.
        shrinkage = 0.0
    else:
        kappa = (pi_hat - rho_hat) / gamma_hat
        shrinkage = max(0.0, min(1.0, kappa / t))
    cov = (1.0 - shrinkage) * s + shrinkage * prior
    return ShrinkageResult(
        covariance=cov, shrinkage=shrinkage, target="constant_correlation", prior=prior
    )


# ------------------------------------------------------------------ Marcenko-Pastur


def marchenko_pastur_edges(q: float, sigma2: float = 1.0) -> tuple[float, float]:
    """Edges ``(λ₋, λ₊)`` of the Marcenko-Pastur support.

    Parameters
    ----------
    q : float
        Aspect ratio ``n / T`` (assets over observations), positive.
    sigma2 : float, default 1.0
        Noise variance, positive.

    Returns
    -------
    tuple of float
        ``(sigma2 * (1 - sqrt(q))**2, sigma2 * (1 + sqrt(q))**2)``.
    """
    _check_positive(q, "q")
    _check_positive(sigma2, "sigma2")
    root = math.sqrt(q)
    return sigma2 * (1.0 - root) ** 2, sigma2 * (1.0 + root) ** 2


def _check_positive(value: float, name: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive finite number; got {value!r}")


def marchenko_pastur_pdf(x: Any, q: float, sigma2: float = 1.0) -> Any:
    """Density of the Marcenko-Pastur law (its continuous part).

    For a ``T x n`` matrix of i.i.d. entries with variance ``sigma2`` and
    ``q = n / T``, the eigenvalues of the sample covariance follow, as
    ``n, T → ∞``, the density
    ``sqrt((λ₊ - x)(x - λ₋)) / (2π sigma2 q x)`` on ``[λ₋, λ₊]``. For ``q > 1`` the
    law also has a point mass ``1 - 1/q`` at zero, which this density leaves out (it
    then integrates to ``1/q``).

    Parameters
    ----------
    x : array, shape (m,)
        Points where the density is evaluated (any namespace).
    q : float
        Aspect ratio ``n / T``.
    sigma2 : float, default 1.0
        Noise variance.

    Returns
    -------
    array, shape (m,)
        Density values (zero outside the support), float64 in ``x``'s namespace.
    """
    lo, hi = marchenko_pastur_edges(q, sigma2)
    x = as_float64(_as_array(x))
    xp = namespace(x)
    inside = (x > lo) & (x < hi) & (x > 0.0)
    safe_x = xp.where(inside, x, xp.ones_like(x) * (0.5 * (lo + hi)))
    radicand = xp.clip((hi - safe_x) * (safe_x - lo), min=0.0)
    dens = xp.sqrt(radicand) / (2.0 * math.pi * sigma2 * q * safe_x)
    return xp.where(inside, dens, xp.zeros_like(x))


def marchenko_pastur_clip(
    data: Any,
    *,
    n_obs: int | None = None,
    sigma2: Literal["residual", "bulk_mean"] | float = "residual",
) -> DenoiseResult:
    """Denoise a covariance by clipping the Marcenko-Pastur bulk of its correlation.

    The correlation matrix ``C`` of the covariance is eigen-decomposed; every eigenvalue
    ``λ ≤ λ₊ = sigma2 (1 + sqrt(n / T))²`` is treated as noise and replaced by the
    average of the noise eigenvalues, so the trace of ``C`` (``n``) is kept. The
    clipped matrix is rescaled to a unit diagonal and then back to covariance with the
    original standard deviations, so the variances (and the trace) of the input are
    kept and the off-diagonal structure carried by the signal eigenvectors survives.

    The noise variance ``sigma2`` can be:

    - ``"residual"`` (default): ``1 - λ_max / n``, the share of the total variance
      not explained by the largest ("market") eigenvalue, which removes the market
      mode from the noise level (López de Prado, 2020, *Machine Learning for Asset
      Managers*, §2);
    - ``"bulk_mean"``: a method-of-moments fit of the bulk: the fixed point of
      ``sigma2 = mean(λ_i : λ_i ≤ sigma2 (1 + sqrt(q))²)``, starting from 1; the MP
      law with variance ``sigma2`` has mean ``sigma2``;
    - a positive float, used as given.

    Parameters
    ----------
    data : array, shape (T, n) or (n, n)
        Returns when ``n_obs`` is None (the sample covariance with ``ddof=1`` is
        used and ``T`` is their number of rows); otherwise a covariance matrix.
    n_obs : int, optional
        Number of observations behind ``data`` when ``data`` is a covariance.
    sigma2 : {"residual", "bulk_mean"} or float, default "residual"
        Noise variance of the Marcenko-Pastur band (see above).

    Returns
    -------
    DenoiseResult
        ``covariance`` (n, n), ``correlation`` (n, n), ``eigenvalues`` and
        ``clipped_eigenvalues`` (n,), ``lambda_plus``, ``sigma2``, ``q``, ``n_signal``.

    Raises
    ------
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
        Invalid ``data``.
    InputError
        Invalid ``n_obs`` or ``sigma2``, or a correlation of rank one (no noise level).
    """
    if n_obs is None:
        x, xp = _check_returns(data)
        if _has_constant_column(x, xp):
            raise NotPositiveDefiniteError(
                "an asset has zero variance in the window; drop constant columns"
            )
        t = x.shape[0]
        xc = _center(x, xp)
        cov = (xp.matrix_transpose(xc) @ xc) / (t - 1)
        if not bool(xp.all(xp.linalg.diagonal(cov) > 0.0)):
            raise NotPositiveDefiniteError(
                "an asset has zero variance in the window; drop constant columns"
            )
    else:
        if isinstance(n_obs, bool) or not isinstance(n_obs, int) or n_obs < 1:
            raise InputError(f"n_obs must be a positive integer; got {n_obs!r}")
        cov, xp = _check_covariance(data)
        t = n_obs
    n = cov.shape[0]
    q = n / t
    sd = xp.sqrt(xp.linalg.diagonal(cov))
    outer_sd = sd[:, None] * sd[None, :]
    corr = _symmetrize(cov / outer_sd, xp)
    evals, evecs = xp.linalg.eigh(corr)
    sig2 = _noise_variance(evals, n, q, sigma2, xp)
    lam_plus = sig2 * (1.0 + math.sqrt(q)) ** 2
    noise = evals <= lam_plus
    n_noise = int(xp.sum(xp.astype(noise, xp.int64)))
    if n_noise > 0:
        zeros = xp.zeros_like(evals)
        noise_mean = float(xp.sum(xp.where(noise, evals, zeros))) / n_noise
        clipped = xp.where(noise, xp.full_like(evals, noise_mean), evals)
    else:
        clipped = evals
    rebuilt = _symmetrize((evecs * clipped[None, :]) @ xp.matrix_transpose(evecs), xp)
    d = xp.sqrt(xp.linalg.diagonal(rebuilt))
    new_corr = _symmetrize(rebuilt / (d[:, None] * d[None, :]), xp)
    eye = xp.eye(n, dtype=cov.dtype, device=_device(cov))
    new_corr = new_corr * (1.0 - eye) + eye  # exact unit diagonal
    return DenoiseResult(
        covariance=new_corr * outer_sd,
        correlation=new_corr,
        eigenvalues=evals,
        clipped_eigenvalues=clipped,
        lambda_plus=float(lam_plus),
        sigma2=float(sig2),
        q=float(q),
        n_signal=n - n_noise,
    )


def _noise_variance(evals: Any, n: int, q: float, sigma2: Any, xp: Any) -> float:
    """Resolve the ``sigma2`` option of :func:`marchenko_pastur_clip` to a float."""
    if isinstance(sigma2, str):
        if sigma2 == "residual":
            value = 1.0 - float(evals[-1]) / n
            if value <= 0.0:
                raise InputError(
                    "the largest eigenvalue carries all the variance (rank-one correlation); "
                    "there is no noise level to estimate"
                )
            return value
        if sigma2 == "bulk_mean":
            factor = (1.0 + math.sqrt(q)) ** 2
            value = 1.0
            zeros = xp.zeros_like(evals)
            for _ in range(n + 1):  # monotone: at most n distinct noise sets
                mask = evals <= value * factor
                count = int(xp.sum(xp.astype(mask, xp.int64)))
                new = float(xp.sum(xp.where(mask, evals, zeros))) / count
                if new == value:
                    break
                value = new
            if value <= 0.0:
                raise InputError("the fitted noise variance is not positive; check the data")
            return value
        raise InputError(f"unknown sigma2 {sigma2!r}; use 'residual', 'bulk_mean' or a float")
    _check_positive(sigma2, "sigma2")
    return float(sigma2)


# ----------------------------------------------------------------------------- EWMA


def _ewma_alpha(halflife: float | None, span: float | None, alpha: float | None) -> float:
    given = [v is not None for v in (halflife, span, alpha)]
    if sum(given) != 1:
        raise InputError("give exactly one of halflife, span or alpha")
    if halflife is not None:
        _check_positive(halflife, "halflife")
        return 1.0 - math.exp(-math.log(2.0) / halflife)
    if span is not None:
        if not (isinstance(span, (int, float)) and math.isfinite(span) and span > 1):
            raise InputError(f"span must be a finite number > 1; got {span!r}")
        return 2.0 / (span + 1.0)
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise InputError(f"alpha must lie in the open interval (0, 1); got {alpha!r}")
    return float(alpha)


def ewma_weights(t: int, alpha: float, *, adjust: bool = True) -> list[float]:
    """Observation weights of an exponentially weighted average, oldest first.

    Parameters
    ----------
    t : int
        Number of observations.
    alpha : float
        Smoothing factor in (0, 1).
    adjust : bool, default True
        ``True``: ``w_i = (1 - alpha)^(t-1-i)``. ``False``: the recursive form
        ``m_i = (1 - alpha) m_{i-1} + alpha x_i`` with ``m_0 = x_0``, whose weights
        are ``(1 - alpha)^(t-1)`` for the first observation and
        ``alpha (1 - alpha)^(t-1-i)`` for the others.

    Returns
    -------
    list of float, length t
        Unnormalized weights.
    """
    decay = 1.0 - alpha
    w = [decay ** (t - 1 - i) for i in range(t)]
    if not adjust:
        w = [w[0]] + [alpha * v for v in w[1:]]
    return w


def ewma_covariance(
    returns: Any,
    *,
    halflife: float | None = None,
    span: float | None = None,
    alpha: float | None = None,
    adjust: bool = True,
    bias: bool = False,
    assume_centered: bool = False,
) -> Any:
    """Exponentially weighted covariance at the last observation.

    With weights ``w_i`` (oldest first, see :func:`ewma_weights`) the estimate is
    ``Σ_i w_i (x_i - m)(x_i - m)ᵀ / Σ_i w_i`` with the weighted mean ``m``. With
    ``bias=False`` (default, as in pandas) it is multiplied by
    ``(Σw)² / ((Σw)² - Σw²)``, the reliability-weights correction that makes it
    unbiased for i.i.d. data when the mean is estimated (it reduces to ``T / (T - 1)``
    for equal weights). This equals ``DataFrame.ewm(..., adjust=adjust).cov(bias=bias)``
    at the last date. With ``assume_centered=True`` the mean is taken to be zero (the
    RiskMetrics convention) and no correction is applied, since none is needed.

    Parameters
    ----------
    returns : array, shape (T, n)
        Returns, oldest row first.
    halflife, span, alpha : float, optional
        Exactly one: decay as a half-life in periods, a span (``alpha = 2 / (span + 1)``),
        or the smoothing factor itself in (0, 1).
    adjust : bool, default True
        Weighting scheme, as in pandas.
    bias : bool, default False
        Skip the bias correction.
    assume_centered : bool, default False
        Take the mean to be zero instead of estimating it.

    Returns
    -------
    array, shape (n, n)
        Symmetric positive semi-definite float64 matrix in the input's namespace.

    Raises
    ------
    InputError
        Not exactly one decay parameter, or an invalid one.
    ShapeError, NonFiniteError
        Invalid ``returns``.
    """
    a = _ewma_alpha(halflife, span, alpha)
    x, xp = _check_returns(returns)
    t = x.shape[0]
    w = xp.asarray(ewma_weights(t, a, adjust=adjust), dtype=xp.float64, device=_device(x))
    sw = float(xp.sum(w))
    w = w / sw  # normalized; the correction below is invariant to the scale of w
    if assume_centered:
        xc = x
    else:
        mean = xp.sum(w[:, None] * x, axis=0, keepdims=True)
        xc = x - mean
    cov = _symmetrize(xp.matrix_transpose(xc * w[:, None]) @ xc, xp)
    if not (bias or assume_centered):
        sw2 = float(xp.sum(w * w))
        cov = cov / (1.0 - sw2)
    return cov


#: The covariance estimators by name: one vocabulary for chapter 07, the walk-forward
#: policies of chapter 09 and :class:`portfolio_lab.backtest.MarkowitzPolicy`.
COVARIANCE_ESTIMATORS = ("sample", "ledoit_wolf", "ledoit_wolf_cc", "mp_clip", "ewma")


def estimate_covariance(returns: Any, method: str | Any, **params: Any) -> Any:
    """Covariance of a (T, n) window of returns by estimator name or callable.

    Parameters
    ----------
    returns : array, shape (T, n)
        Returns, oldest first (NumPy, torch or CuPy).
    method : str or callable
        One of :data:`COVARIANCE_ESTIMATORS`: ``"sample"`` (unbiased, ``ddof=1``),
        ``"ledoit_wolf"`` (Ledoit-Wolf towards the scaled identity), ``"ledoit_wolf_cc"``
        (towards constant correlation), ``"mp_clip"`` (Marcenko-Pastur clipping of the
        correlation) or ``"ewma"`` (``halflife`` in periods, default 63); or a callable
        returning an (n, n) array or an object with a ``covariance`` attribute.
    **params
        Keyword arguments passed to the estimator.

    Returns
    -------
    array, shape (n, n)
        In the namespace of ``returns`` (callables: what they return).

    Raises
    ------
    InputError
        Unknown estimator name.
    """
    if callable(method):
        out = method(returns, **params)
    elif method == "sample":
        from .moments import sample_covariance

        out = sample_covariance(returns, ddof=int(params.get("ddof", 1)))
    elif method == "ledoit_wolf":
        out = ledoit_wolf(returns, target="identity", **params)
    elif method == "ledoit_wolf_cc":
        out = ledoit_wolf(returns, target="constant_correlation", **params)
    elif method == "mp_clip":
        out = marchenko_pastur_clip(returns, **params)
    elif method == "ewma":
        out = ewma_covariance(returns, **(params or {"halflife": 63.0}))
    else:
        raise InputError(
            f"unknown covariance estimator {method!r}; use one of {COVARIANCE_ESTIMATORS} or "
            "a callable"
        )
    return getattr(out, "covariance", out)
