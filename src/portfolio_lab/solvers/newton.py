"""Newton's method for equality-constrained minimization (Boyd & Vandenberghe §10.2).

:func:`newton_equality` is Algorithm 10.1 with a feasible start: at each iterate it
solves the KKT system

    [ H  Aᵀ ] [Δx]   [ −g ]
    [ A  0  ] [ν ] = [  0 ]

by block elimination with a Cholesky factor of the Hessian ``H`` (no inverse), stops
when the Newton decrement satisfies ``λ(x)²/2 ≤ tol``, and otherwise takes the step
chosen by a backtracking line search on the objective. Two objectives are provided:
the Markowitz quadratic (:func:`markowitz_newton`, one full step reaches the optimum)
and the centering problem of the barrier method for long-only minimum variance
(:func:`barrier_min_variance`, which shows the damped and the quadratic phase).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._backend import as_float64, cho_solve, cholesky, namespace
from .._backend import device as _device
from ..exceptions import (
    ConvergenceError,
    DegenerateReturnsError,
    InfeasibleStartError,
    InputError,
    NotPositiveDefiniteError,
    ShapeError,
)
from ._validation import DELTA_RTOL, as_scalar, check_finite, coerce, factorize, prepare
from .closed_form import kkt_residual
from .results import BarrierResult, NewtonResult

__all__ = [
    "NewtonObjective",
    "NewtonTrace",
    "newton_equality",
    "markowitz_newton",
    "barrier_min_variance",
    "barrier_objective",
    "FEASIBILITY_RTOL",
]

#: Relative tolerance of the check ``A x0 = b`` on a user-given starting point.
FEASIBILITY_RTOL = 1e-9
#: A decrement below this multiple of ``|f(x)|`` is at the rounding level of ``f``: the
#: line search cannot see a decrease any more, so the iteration stops as converged.
_ROUNDING = 4.0 * 2.0**-52


def _everywhere(x: Any) -> bool:
    return True


@dataclass(frozen=True)
class NewtonObjective:
    """A twice-differentiable convex objective for :func:`newton_equality`.

    Attributes
    ----------
    value : callable
        ``value(x) -> float`` for ``x`` of shape (n,).
    grad : callable
        ``grad(x) -> array`` of shape (n,).
    hess : callable
        ``hess(x) -> array`` of shape (n, n), positive definite on the domain.
    in_domain : callable, optional
        ``in_domain(x) -> bool``; the line search shrinks the step until it holds
        (e.g. ``x > 0`` for a log barrier). Defaults to "everywhere".
    name : str
        Label used in messages.
    """

    value: Callable[[Any], float]
    grad: Callable[[Any], Any]
    hess: Callable[[Any], Any]
    in_domain: Callable[[Any], bool] = _everywhere
    name: str = "objective"


@dataclass(frozen=True)
class NewtonTrace:
    """Outcome of :func:`newton_equality`.

    Attributes
    ----------
    x : array, shape (n,)
        Last iterate.
    nu : array, shape (p,)
        Multipliers of ``Ax = b`` from the last KKT solve, convention ``∇f + Aᵀν = 0``.
    n_iter : int
        Newton steps taken (``len(step_sizes)``).
    converged : bool
        Whether ``λ²/2 ≤ tol`` was reached.
    status : str
        ``"optimal"``, ``"max_iter"`` or ``"line_search_failed"``.
    decrements : tuple of float
        ``λ²/2`` at every iterate visited (``n_iter + 1`` entries).
    step_sizes : tuple of float
        Line-search step per Newton step.
    values : tuple of float
        Objective at every iterate visited.
    """

    x: Any
    nu: Any
    n_iter: int
    converged: bool
    status: str
    decrements: tuple[float, ...]
    step_sizes: tuple[float, ...]
    values: tuple[float, ...]


def _check_feasible(a_mat: Any, b: Any, x0: Any, xp: Any) -> None:
    resid = float(xp.max(xp.abs(a_mat @ x0 - b)))
    scale = max(
        1.0,
        float(xp.max(xp.abs(b))),
        float(xp.max(xp.abs(a_mat) @ xp.abs(x0))),
    )
    if resid > FEASIBILITY_RTOL * scale:
        raise InfeasibleStartError(
            f"starting point violates the equality constraints: max|A x0 − b| = {resid:.3g} "
            f"> {FEASIBILITY_RTOL:g} × {scale:.3g}; pass a feasible x0 or x0=None"
        )


def _newton_step(obj: NewtonObjective, a_mat: Any, x: Any, xp: Any) -> tuple[Any, Any, float]:
    """Return ``(dx, nu, λ²)`` from the KKT system at ``x`` by block elimination.

    The decrement is computed as ``λ² = Δxᵀ H Δx`` (equal to ``−gᵀΔx`` in exact
    arithmetic), which stays non-negative and, near the optimum, is quadratic rather
    than linear in the rounding noise of ``Δx``.
    """
    g = obj.grad(x)
    hess = obj.hess(x)
    low = cholesky(hess, xp)
    if low is None:
        raise NotPositiveDefiniteError(
            f"the Hessian of {obj.name} is not positive definite at the current iterate; "
            "Newton's method needs a strictly convex objective"
        )
    rhs = xp.concat([g[:, None], xp.matrix_transpose(a_mat)], axis=1)  # (n, 1 + p)
    sol = cho_solve(low, rhs, xp)
    hinv_g, hinv_at = sol[:, 0], sol[:, 1:]
    schur = a_mat @ hinv_at  # A H⁻¹ Aᵀ, (p, p), SPD when A has full row rank
    low_s = cholesky((schur + xp.matrix_transpose(schur)) / 2.0, xp)
    if low_s is None:
        raise InputError(
            "the equality-constraint matrix A does not have full row rank, so the KKT "
            "system is singular; remove redundant constraints"
        )
    nu = cho_solve(low_s, -(a_mat @ hinv_g), xp)
    dx = -(hinv_g + hinv_at @ nu)
    return dx, nu, float(xp.vecdot(dx, hess @ dx))


def newton_equality(
    objective: NewtonObjective,
    A: Any,
    b: Any,
    x0: Any,
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    alpha: float = 0.25,
    beta: float = 0.5,
    max_backtracks: int = 60,
) -> NewtonTrace:
    """Minimize a convex objective subject to ``A x = b`` from a feasible start.

    Parameters
    ----------
    objective : NewtonObjective
        Value, gradient, Hessian and domain of ``f``.
    A : array, shape (p, n)
        Constraint matrix of full row rank ``p < n``.
    b : array, shape (p,)
        Right-hand side.
    x0 : array, shape (n,)
        Starting point with ``A x0 = b`` (relative tolerance ``FEASIBILITY_RTOL``) in the
        domain of ``f``.
    tol : float, default 1e-10
        Stop when the Newton decrement satisfies ``λ(x)²/2 ≤ tol`` (absolute, in units of
        ``f``), or when ``λ(x)²/2 ≤ 4·eps·|f(x)|``, the rounding level of ``f``, below
        which no decrease can be measured.
    max_iter : int, default 50
        Maximum number of Newton steps.
    alpha : float, default 0.25
        Armijo fraction of the predicted decrease, in (0, 0.5).
    beta : float, default 0.5
        Step shrink factor of the backtracking line search, in (0, 1).
    max_backtracks : int, default 60
        Line-search shrinks allowed per step before giving up.

    Returns
    -------
    NewtonTrace
        Last iterate, multipliers and the per-iteration record.

    Raises
    ------
    InfeasibleStartError
        ``x0`` violates ``A x0 = b`` or lies outside the domain.
    NotPositiveDefiniteError
        The Hessian is not positive definite at an iterate.
    InputError
        Invalid parameters, or ``A`` is rank deficient.
    """
    if not 0.0 < alpha < 0.5:
        raise InputError(f"alpha must lie in (0, 0.5), got {alpha}")
    if not 0.0 < beta < 1.0:
        raise InputError(f"beta must lie in (0, 1), got {beta}")
    if not (tol > 0.0 and math.isfinite(tol)):
        raise InputError(f"tol must be positive and finite, got {tol}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise InputError(f"max_iter must be a non-negative integer, got {max_iter}")
    try:
        xp = namespace(A, b, x0)
    except TypeError as exc:
        raise InputError(
            "A, b and x0 come from different array libraries; pass them in one namespace"
        ) from exc
    if A.ndim != 2 or b.ndim != 1 or x0.ndim != 1:
        raise ShapeError("A must be 2-D (p, n), b 1-D (p,), x0 1-D (n,)")
    if A.shape[0] != b.shape[0] or A.shape[1] != x0.shape[0]:
        raise ShapeError(
            f"inconsistent shapes: A {tuple(A.shape)}, b {tuple(b.shape)}, x0 {tuple(x0.shape)}"
        )
    check_finite(x0, "x0", xp)
    _check_feasible(A, b, x0, xp)
    if not objective.in_domain(x0):
        raise InfeasibleStartError(f"starting point is outside the domain of {objective.name}")

    x = x0
    fx = float(objective.value(x))
    decrements: list[float] = []
    steps: list[float] = []
    values: list[float] = [fx]
    status, converged = "max_iter", False
    nu = xp.zeros(A.shape[0], dtype=xp.float64, device=_device(x0))
    for k in range(int(max_iter) + 1):
        dx, nu, lam2 = _newton_step(objective, A, x, xp)
        decrements.append(lam2 / 2.0)
        if lam2 / 2.0 <= max(tol, _ROUNDING * abs(fx)):
            status, converged = "optimal", True
            break
        if k == max_iter:
            break
        t = 1.0
        shrinks = 0
        while not objective.in_domain(x + t * dx) and shrinks < max_backtracks:
            t *= beta
            shrinks += 1
        while (
            shrinks < max_backtracks and float(objective.value(x + t * dx)) > fx - alpha * t * lam2
        ):
            t *= beta
            shrinks += 1
        if shrinks >= max_backtracks:
            status = "line_search_failed"
            break
        x = x + t * dx
        fx = float(objective.value(x))
        steps.append(t)
        values.append(fx)
    return NewtonTrace(
        x=x,
        nu=nu,
        n_iter=len(steps),
        converged=converged,
        status=status,
        decrements=tuple(decrements),
        step_sizes=tuple(steps),
        values=tuple(values),
    )


def _quadratic(cov: Any, xp: Any, scale: float = 1.0) -> NewtonObjective:
    return NewtonObjective(
        value=lambda x: 0.5 * scale * float(xp.vecdot(x, cov @ x)),
        grad=lambda x: scale * (cov @ x),
        hess=lambda x: scale * cov,
        name="½wᵀΣw",
    )


def _fail(trace: NewtonTrace, what: str, raise_on_failure: bool) -> None:
    if raise_on_failure and not trace.converged:
        last = trace.decrements[-1] if trace.decrements else math.nan
        raise ConvergenceError(
            f"{what} stopped with status {trace.status!r} after {trace.n_iter} step(s); last "
            f"Newton decrement λ²/2 = {last:.3g}; raise max_iter or loosen tol"
        )


def markowitz_newton(
    mu: Any,
    cov: Any,
    target_return: Any,
    *,
    x0: Any = None,
    tol: float = 1e-10,
    max_iter: int = 50,
    raise_on_failure: bool = False,
) -> NewtonResult:
    """Solve the Markowitz problem by Newton's method with equality constraints.

    Minimizes ``½ wᵀΣw`` subject to ``wᵀμ = r`` and ``1ᵀw = 1`` with
    :func:`newton_equality` (backtracking with ``α = 0.25``, ``β = 0.5``). Because the
    objective is quadratic, the first full Newton step from any feasible point lands on
    the optimum; the second iteration only confirms it (decrement at rounding level).

    Parameters
    ----------
    mu : array_like, shape (n,)
        Expected returns (NumPy, torch or CuPy; lists and pandas become NumPy).
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance, same backend as ``mu``.
    target_return : float
        Target expected return ``r``.
    x0 : array_like, shape (n,), optional
        Feasible start (``x0ᵀμ = r``, ``1ᵀx0 = 1``); by default the least-norm solution
        of the two constraints.
    tol : float, default 1e-10
        Stopping rule ``λ²/2 ≤ tol`` (objective units).
    max_iter : int, default 50
        Maximum Newton steps.
    raise_on_failure : bool, default False
        Raise :class:`ConvergenceError` instead of returning ``converged=False``.

    Returns
    -------
    NewtonResult
        ``multipliers = (λ, γ)`` in the convention ``Σw = λμ + γ1`` (as
        :func:`markowitz_lagrange`), decrements and step sizes per iteration.

    Raises
    ------
    InfeasibleStartError
        ``x0`` violates the constraints.
    DegenerateReturnsError
        ``μ`` is proportional to the ones vector (the constraints are dependent).
    ConvergenceError
        Not converged and ``raise_on_failure``.
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
        Invalid inputs.
    """
    p = prepare(mu, cov)
    xp = p.xp
    r = as_scalar(target_return, "target_return")
    ones = xp.ones(p.n, dtype=xp.float64, device=p.device)
    a_mat = xp.stack([p.mu, ones], axis=0)  # (2, n)
    b = xp.asarray([r, 1.0], dtype=xp.float64, device=p.device)
    factorize(p.cov, xp)  # typed error for a non-PD Σ before iterating
    mm = float(xp.vecdot(p.mu, p.mu))
    sm = float(xp.sum(p.mu))
    det = p.n * mm - sm * sm  # n ‖μ − μ̄1‖², the Gram determinant of A Aᵀ
    if not det > DELTA_RTOL * p.n * mm:
        raise DegenerateReturnsError(
            "mu is (nearly) proportional to the ones vector, so the return and budget "
            "constraints are dependent and a target return cannot be chosen; use "
            "min_variance instead"
        )
    if x0 is None:
        # least-norm solution of A w = b: w = Aᵀ (A Aᵀ)⁻¹ b
        gram = a_mat @ xp.matrix_transpose(a_mat)
        start = xp.matrix_transpose(a_mat) @ cho_solve(cholesky(gram, xp), b, xp)
    else:
        start = as_float64(coerce(x0), xp)
        if start.ndim != 1 or start.shape[0] != p.n:
            raise ShapeError(f"x0 must have shape ({p.n},), got {tuple(start.shape)}")
    trace = newton_equality(_quadratic(p.cov, xp), a_mat, b, start, tol=tol, max_iter=max_iter)
    _fail(trace, "markowitz_newton", raise_on_failure)
    w = trace.x
    lam, gam = -float(trace.nu[0]), -float(trace.nu[1])
    ret = float(xp.vecdot(w, p.mu))
    var = float(xp.vecdot(w, p.cov @ w))
    return NewtonResult(
        weights=w,
        expected_return=ret,
        variance=var,
        risk=math.sqrt(max(var, 0.0)),
        method="newton",
        status=trace.status,
        multipliers=xp.asarray([lam, gam], dtype=xp.float64, device=p.device),
        kkt_residual=kkt_residual(p.cov, p.mu, w, (lam, gam), r, xp),
        n_iter=trace.n_iter,
        converged=trace.converged,
        decrements=trace.decrements,
        step_sizes=trace.step_sizes,
    )


def barrier_objective(cov: Any, t: float, xp: Any) -> NewtonObjective:
    """Centering objective ``f(w) = t·½wᵀΣw − Σᵢ log wᵢ`` on the domain ``w > 0``.

    Parameters
    ----------
    cov : array, shape (n, n)
        Covariance.
    t : float
        Barrier parameter.
    xp : module
        Namespace of ``cov``.

    Returns
    -------
    NewtonObjective
        Gradient ``tΣw − 1/w``; Hessian ``tΣ + diag(1/w²)``.
    """
    n = cov.shape[0]
    eye = xp.eye(n, dtype=xp.float64, device=_device(cov))

    def value(w: Any) -> float:
        return 0.5 * t * float(xp.vecdot(w, cov @ w)) - float(xp.sum(xp.log(w)))

    def grad(w: Any) -> Any:
        return t * (cov @ w) - 1.0 / w

    def hess(w: Any) -> Any:
        return t * cov + eye * (1.0 / (w * w))[None, :]

    def in_domain(w: Any) -> bool:
        return bool(xp.all(w > 0.0))

    return NewtonObjective(value, grad, hess, in_domain, name="t·½wᵀΣw − Σ log w")


def barrier_min_variance(
    cov: Any,
    t: float,
    *,
    x0: Any = None,
    tol: float = 1e-10,
    max_iter: int = 50,
    alpha: float = 0.25,
    beta: float = 0.5,
    raise_on_failure: bool = False,
) -> BarrierResult:
    """Centering step of the barrier method for long-only minimum variance.

    Solves ``min t·½wᵀΣw − Σᵢ log wᵢ  s.t.  1ᵀw = 1`` by :func:`newton_equality` from the
    equal-weight start ``1/n``. Unlike the Markowitz quadratic, this objective is not
    quadratic, so Newton's method shows a damped phase (step sizes below one) followed by
    quadratic convergence. The central point ``w*(t)`` is strictly long-only and at most
    ``n/t`` above the optimal value of ``min ½wᵀΣw s.t. 1ᵀw = 1, w ≥ 0``.

    Parameters
    ----------
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance (NumPy, torch or CuPy).
    t : float
        Barrier parameter, positive; larger ``t`` moves ``w*(t)`` towards the long-only
        minimum-variance portfolio and makes the damped phase longer.
    x0 : array_like, shape (n,), optional
        Strictly positive start summing to one; default ``1/n``.
    tol, max_iter, alpha, beta
        As in :func:`newton_equality`.
    raise_on_failure : bool, default False
        Raise :class:`ConvergenceError` instead of returning ``converged=False``.

    Returns
    -------
    BarrierResult
        Weights (n,), the per-iteration decrements, step sizes and objective values,
        ``t`` and the gap bound ``n/t``.

    Raises
    ------
    InputError
        ``t`` is not positive.
    InfeasibleStartError
        ``x0`` is not strictly positive or does not sum to one.
    ConvergenceError
        Not converged and ``raise_on_failure``.
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
        Invalid covariance.
    """
    p = prepare(None, cov)
    xp = p.xp
    t_val = as_scalar(t, "t")
    if t_val <= 0.0:
        raise InputError(f"barrier parameter t must be positive, got {t_val}")
    factorize(p.cov, xp)
    ones = xp.ones(p.n, dtype=xp.float64, device=p.device)
    if x0 is None:
        start = ones / p.n
    else:
        start = as_float64(coerce(x0), xp)
        if start.ndim != 1 or start.shape[0] != p.n:
            raise ShapeError(f"x0 must have shape ({p.n},), got {tuple(start.shape)}")
    obj = barrier_objective(p.cov, t_val, xp)
    trace = newton_equality(
        obj,
        ones[None, :],
        xp.ones(1, dtype=xp.float64, device=p.device),
        start,
        tol=tol,
        max_iter=max_iter,
        alpha=alpha,
        beta=beta,
    )
    _fail(trace, "barrier_min_variance", raise_on_failure)
    w = trace.x
    nu = float(trace.nu[0])
    stat = obj.grad(w) + nu
    kkt = max(float(xp.max(xp.abs(stat))), abs(float(xp.sum(w)) - 1.0))
    var = float(xp.vecdot(w, p.cov @ w))
    return BarrierResult(
        weights=w,
        expected_return=math.nan,
        variance=var,
        risk=math.sqrt(max(var, 0.0)),
        method="newton_barrier",
        status=trace.status,
        multipliers=xp.asarray([nu], dtype=xp.float64, device=p.device),
        kkt_residual=kkt,
        n_iter=trace.n_iter,
        converged=trace.converged,
        decrements=trace.decrements,
        step_sizes=trace.step_sizes,
        t=t_val,
        gap_bound=p.n / t_val,
        objective_values=trace.values,
    )
