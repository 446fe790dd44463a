"""Closed-form Markowitz solutions through Cholesky solves (never an explicit inverse).

With shorting allowed and no bounds, the problem

    minimize ½ wᵀΣw  subject to  wᵀμ = r,  1ᵀw = 1

has the solution ``w = Σ⁻¹(λ μ + γ 1)`` with ``λ = (A r − B)/Δ``, ``γ = (C − B r)/Δ``,
where ``A = 1ᵀΣ⁻¹1``, ``B = 1ᵀΣ⁻¹μ``, ``C = μᵀΣ⁻¹μ`` and ``Δ = AC − B²``. Every
``Σ⁻¹ x`` below is two triangular solves with the Cholesky factor of Σ.

With ``long_only`` or ``bounds`` the functions here delegate, by a lazy import, to
:mod:`portfolio_lab.solvers.qp`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._backend import cho_solve
from ..exceptions import InfeasibleTargetError
from ._bounds import is_unconstrained, qp_module, resolve_bounds
from ._validation import Problem, as_scalar, check_delta, factorize, prepare
from .results import LagrangeResult, PortfolioResult

__all__ = [
    "FrontierConstants",
    "frontier_constants",
    "markowitz_lagrange",
    "min_variance",
    "max_sharpe",
    "kkt_residual",
]


@dataclass(frozen=True)
class FrontierConstants:
    """Solves with Σ shared by every point of the unconstrained frontier.

    Attributes
    ----------
    sinv_one : array, shape (n,)
        ``Σ⁻¹ 1``.
    sinv_mu : array, shape (n,)
        ``Σ⁻¹ μ``.
    A, B, C, delta : float
        ``1ᵀΣ⁻¹1``, ``1ᵀΣ⁻¹μ``, ``μᵀΣ⁻¹μ`` and ``Δ = AC − B²``.
    """

    sinv_one: Any
    sinv_mu: Any
    A: float
    B: float
    C: float
    delta: float


def frontier_constants(p: Problem, *, check: bool = True) -> FrontierConstants:
    """Factorize Σ once and compute ``Σ⁻¹1``, ``Σ⁻¹μ``, A, B, C and Δ.

    Parameters
    ----------
    p : Problem
        Validated inputs with ``mu`` set.
    check : bool, default True
        Raise :class:`DegenerateReturnsError` when Δ is not positive.

    Returns
    -------
    FrontierConstants
    """
    xp = p.xp
    low = factorize(p.cov, xp)
    ones = xp.ones(p.n, dtype=xp.float64, device=p.device)
    sol = cho_solve(low, xp.stack([ones, p.mu], axis=1), xp)
    sinv_one, sinv_mu = sol[:, 0], sol[:, 1]
    a = float(xp.sum(sinv_one))
    b = float(xp.sum(sinv_mu))
    c = float(xp.vecdot(p.mu, sinv_mu))
    delta = a * c - b * b
    if check:
        check_delta(a, c, delta)
    return FrontierConstants(sinv_one=sinv_one, sinv_mu=sinv_mu, A=a, B=b, C=c, delta=delta)


def kkt_residual(
    cov: Any, mu: Any | None, w: Any, multipliers: tuple[float, ...], target: float, xp: Any
) -> float:
    """Infinity norm of the Markowitz KKT residual at ``w``.

    Parameters
    ----------
    cov : array, shape (n, n)
    mu : array, shape (n,), or None
        ``None`` for the minimum-variance problem (budget constraint only).
    w : array, shape (n,)
    multipliers : tuple of float
        ``(λ, γ)`` with ``mu``, ``(γ,)`` without; stationarity reads ``Σw = λμ + γ1``.
    target : float
        Target return (ignored without ``mu``).
    xp : module

    Returns
    -------
    float
        ``max(‖Σw − λμ − γ1‖∞, |wᵀμ − r|, |1ᵀw − 1|)``.
    """
    grad = cov @ w
    if mu is None:
        (gam,) = multipliers
        stat = grad - gam
        primal = abs(float(xp.sum(w)) - 1.0)
    else:
        lam, gam = multipliers
        stat = grad - lam * mu - gam
        primal = max(abs(float(xp.vecdot(w, mu)) - target), abs(float(xp.sum(w)) - 1.0))
    return max(float(xp.max(xp.abs(stat))), primal)


def _stats(w: Any, mu: Any | None, cov: Any, xp: Any) -> tuple[float, float, float]:
    ret = float(xp.vecdot(w, mu)) if mu is not None else math.nan
    var = float(xp.vecdot(w, cov @ w))
    return ret, var, math.sqrt(max(var, 0.0))


def _multipliers(values: tuple[float, ...], p: Problem) -> Any:
    return p.xp.asarray(list(values), dtype=p.xp.float64, device=p.device)


def markowitz_lagrange(mu: Any, cov: Any, target_return: Any) -> LagrangeResult:
    """Minimum-variance portfolio with a given expected return, in closed form.

    Solves ``min ½ wᵀΣw  s.t.  wᵀμ = r, 1ᵀw = 1`` (shorting allowed) by the method of
    Lagrange multipliers: ``w = λ Σ⁻¹μ + γ Σ⁻¹1`` with ``λ = (A r − B)/Δ`` and
    ``γ = (C − B r)/Δ``. Σ is factorized once (Cholesky); no inverse is formed.

    Parameters
    ----------
    mu : array_like, shape (n,)
        Expected returns (NumPy, torch, CuPy; lists and pandas are converted to NumPy).
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance, same backend as ``mu``.
    target_return : float
        Target expected return ``r``.

    Returns
    -------
    LagrangeResult
        Weights (n,) in the inputs' namespace and device; ``multipliers = (λ, γ)``;
        ``A, B, C, delta``; ``kkt_residual``.

    Raises
    ------
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
        Invalid inputs.
    DegenerateReturnsError
        ``μ`` is proportional to the ones vector (``Δ ≤ 0``).

    Examples
    --------
    >>> import numpy as np
    >>> res = markowitz_lagrange(np.array([0.1, 0.2]), np.eye(2), 0.15)
    >>> np.round(res.weights, 6).tolist()
    [0.5, 0.5]
    """
    p = prepare(mu, cov)
    r = as_scalar(target_return, "target_return")
    k = frontier_constants(p)
    lam = (k.A * r - k.B) / k.delta
    gam = (k.C - k.B * r) / k.delta
    w = lam * k.sinv_mu + gam * k.sinv_one
    ret, var, risk = _stats(w, p.mu, p.cov, p.xp)
    return LagrangeResult(
        weights=w,
        expected_return=ret,
        variance=var,
        risk=risk,
        method="lagrange",
        status="optimal",
        multipliers=_multipliers((lam, gam), p),
        kkt_residual=kkt_residual(p.cov, p.mu, w, (lam, gam), r, p.xp),
        A=k.A,
        B=k.B,
        C=k.C,
        delta=k.delta,
    )


def min_variance(cov: Any, *, long_only: bool = False, bounds: Any = None) -> PortfolioResult:
    """Global minimum-variance portfolio, ``min ½ wᵀΣw  s.t.  1ᵀw = 1``.

    Without constraints the solution is ``w = Σ⁻¹1 / (1ᵀΣ⁻¹1)`` (one Cholesky solve).
    With ``long_only`` or ``bounds`` the problem is handed to
    :func:`portfolio_lab.solvers.qp.qp_min_variance`.

    Parameters
    ----------
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance (NumPy, torch or CuPy).
    long_only : bool, default False
        Forbid negative weights.
    bounds : tuple (lower, upper), optional
        Scalars or (n,) arrays; ``None`` entries mean unbounded.

    Returns
    -------
    PortfolioResult
        ``expected_return`` is NaN; ``multipliers = (γ,)`` with ``Σw = γ1`` (closed form).

    Raises
    ------
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError, InputError
        Invalid inputs or bounds.
    """
    p = prepare(None, cov)
    if not is_unconstrained(long_only, bounds):
        lower, upper = resolve_bounds(p.n, long_only, bounds, p.xp, p.device)
        return qp_module().qp_min_variance(p.cov, lower=lower, upper=upper)
    xp = p.xp
    low = factorize(p.cov, xp)
    sinv_one = cho_solve(low, xp.ones(p.n, dtype=xp.float64, device=p.device), xp)
    a = float(xp.sum(sinv_one))
    w = sinv_one / a
    gam = 1.0 / a
    _, var, risk = _stats(w, None, p.cov, xp)
    return PortfolioResult(
        weights=w,
        expected_return=math.nan,
        variance=var,
        risk=risk,
        method="closed_form",
        status="optimal",
        multipliers=_multipliers((gam,), p),
        kkt_residual=kkt_residual(p.cov, None, w, (gam,), math.nan, xp),
    )


def max_sharpe(
    mu: Any,
    cov: Any,
    risk_free: float = 0.0,
    *,
    long_only: bool = False,
    bounds: Any = None,
    method: str = "auto",
) -> PortfolioResult:
    """Tangency portfolio: maximize ``(wᵀμ − r_f) / sqrt(wᵀΣw)`` subject to ``1ᵀw = 1``.

    Without constraints ``w = Σ⁻¹(μ − r_f 1) / 1ᵀΣ⁻¹(μ − r_f 1)``. That point lies on the
    efficient (upper) branch of the frontier only when the denominator is positive, i.e.
    when ``r_f`` is below the minimum-variance return ``B/A``; otherwise the problem has
    no maximizer among fully invested portfolios and :class:`InfeasibleTargetError` is
    raised. With ``long_only`` or ``bounds`` the problem is handed to
    :func:`portfolio_lab.solvers.qp.qp_max_sharpe`.

    Parameters
    ----------
    mu : array_like, shape (n,)
        Expected returns.
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance, same backend as ``mu``.
    risk_free : float, default 0.0
        Risk-free rate ``r_f`` per period (same units as ``mu``).
    long_only : bool, default False
        Forbid negative weights.
    bounds : tuple (lower, upper), optional
        Scalars or (n,) arrays; ``None`` entries mean unbounded.
    method : {"auto", "cla", "admm"}, default "auto"
        Bounded problems only: the exact maximum over the critical line's segments
        (default on CPU with finite lower bounds) or the homogenized QP solved by ADMM
        with an active-set finish.

    Returns
    -------
    PortfolioResult
        Closed form: ``multipliers = (λ, γ)`` of the Markowitz problem whose target is the
        tangency return, so ``Σw = λμ + γ1`` (``λ = 1/s``, ``γ = −r_f/s``).

    Raises
    ------
    InfeasibleTargetError
        ``1ᵀΣ⁻¹(μ − r_f 1) ≤ 0``: the risk-free rate is at or above the minimum-variance
        return, so no tangency portfolio exists on the efficient branch.
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError, InputError
        Invalid inputs or bounds.
    """
    p = prepare(mu, cov)
    rf = as_scalar(risk_free, "risk_free")
    if not is_unconstrained(long_only, bounds):
        lower, upper = resolve_bounds(p.n, long_only, bounds, p.xp, p.device)
        from .frontier import bounded_method

        if bounded_method(method, p.xp, lower, p.device) == "cla":
            from .cla import critical_line

            path = critical_line(p.mu, p.cov, lower=lower, upper=upper)
            return path.max_sharpe(rf)
        return qp_module().qp_max_sharpe(p.mu, p.cov, rf, lower=lower, upper=upper)
    xp = p.xp
    low = factorize(p.cov, xp)
    ones = xp.ones(p.n, dtype=xp.float64, device=p.device)
    sol = cho_solve(low, xp.stack([ones, p.mu - rf], axis=1), xp)
    sinv_one, z = sol[:, 0], sol[:, 1]
    s = float(xp.sum(z))
    # Cauchy–Schwarz in the Σ⁻¹ inner product: |1ᵀΣ⁻¹x| ≤ sqrt(A · xᵀΣ⁻¹x).
    scale = math.sqrt(max(float(xp.sum(sinv_one)) * float(xp.vecdot(p.mu - rf, z)), 0.0))
    if not s > 1e-12 * scale:
        mv_return = float(xp.vecdot(p.mu, sinv_one)) / float(xp.sum(sinv_one))
        raise InfeasibleTargetError(
            f"no tangency portfolio on the efficient frontier: 1ᵀΣ⁻¹(μ − r_f 1) = {s:.3g} ≤ 0 "
            f"because the risk-free rate {rf:.6g} is not below the minimum-variance return "
            f"{mv_return:.6g}; lower risk_free or use min_variance"
        )
    w = z / s
    lam, gam = 1.0 / s, -rf / s
    ret, var, risk = _stats(w, p.mu, p.cov, xp)
    return PortfolioResult(
        weights=w,
        expected_return=ret,
        variance=var,
        risk=risk,
        method="closed_form",
        status="optimal",
        multipliers=_multipliers((lam, gam), p),
        kkt_residual=kkt_residual(p.cov, p.mu, w, (lam, gam), ret, xp),
    )
