"""The efficient frontier: many target returns from one factorization of Σ.

Without constraints every frontier portfolio is ``w(r) = λ(r) Σ⁻¹μ + γ(r) Σ⁻¹1`` with
``λ, γ`` affine in ``r``, so ``k`` targets cost one Cholesky factorization, two
triangular solve pairs and one ``(k, 2) @ (2, n)`` product; there is no loop over
targets. With ``long_only`` or ``bounds`` the targets are handed to
:func:`portfolio_lab.solvers.qp.qp_frontier`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import to_numpy
from ..exceptions import InputError
from ._bounds import is_unconstrained, qp_module, resolve_bounds
from ._validation import as_targets, prepare
from .closed_form import frontier_constants
from .results import FrontierResult

__all__ = ["efficient_frontier", "TARGET_KINDS", "METHODS", "bounded_method"]

TARGET_KINDS = ("eq", "geq")
#: Algorithms for bounded frontiers: ``"auto"`` is the critical line on CPU arrays with
#: finite lower bounds and the batched ADMM path otherwise.
METHODS = ("auto", "cla", "admm")


def bounded_method(method: str, xp: Any, lower: Any, device: Any) -> str:
    """Resolve ``method`` for a bounded problem to ``"cla"`` or ``"admm"``.

    ``"auto"`` takes the critical line (exact, sequential) for CPU arrays whose lower
    bounds are finite, and the batched ADMM path (one factorization, GPU friendly) for
    GPU arrays or unbounded lower limits.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    if method != "auto":
        return method
    on_cpu = "cuda" not in str(device).lower() and "cupy" not in xp.__name__
    finite = bool(np.isfinite(to_numpy(lower)).all())
    return "cla" if on_cpu and finite else "admm"


def efficient_frontier(
    mu: Any,
    cov: Any,
    targets: Any,
    *,
    long_only: bool = False,
    bounds: Any = None,
    target_kind: str = "eq",
    method: str = "auto",
) -> FrontierResult:
    """Minimum-variance portfolios for a grid of target returns.

    Solves, for every ``r`` in ``targets``, ``min ½ wᵀΣw`` subject to ``1ᵀw = 1`` and
    ``wᵀμ = r`` (``target_kind="eq"``) or ``wᵀμ ≥ r`` (``"geq"``). In the closed form the
    ``"geq"`` constraint is inactive below the minimum-variance return ``B/A``, where the
    solution is the global minimum-variance portfolio (``λ = 0``).

    Parameters
    ----------
    mu : array_like, shape (n,)
        Expected returns (NumPy, torch or CuPy; lists and pandas become NumPy).
    cov : array_like, shape (n, n)
        Symmetric positive-definite covariance, same backend as ``mu``.
    targets : array_like, shape (k,)
        Target returns (any backend; converted to the namespace of ``mu``).
    long_only : bool, default False
        Forbid negative weights (delegates to the QP solver).
    bounds : tuple (lower, upper), optional
        Scalars or (n,) arrays, ``None`` entries unbounded (delegates to the QP solver).
    target_kind : {"eq", "geq"}, default "eq"
        Equality or lower-bound return constraint.
    method : {"auto", "cla", "admm"}, default "auto"
        Algorithm for bounded problems: the exact critical line
        (:func:`portfolio_lab.solvers.cla.critical_line`, the default on CPU) or
        the batched ADMM path with an active-set finish (the default on GPU, and for
        ``-inf`` lower bounds). Ignored without bounds.

    Returns
    -------
    FrontierResult
        ``weights`` (k, n), ``returns`` (k,), ``risks`` (k,) in the inputs' namespace;
        ``n_iter``, ``primal_residual`` and ``dual_residual`` (k,) NumPy arrays. In the
        closed form the dual residual is ``‖Σw − λμ − γ1‖∞`` per point.

    Raises
    ------
    InputError
        Unknown ``target_kind`` or ``method``, invalid bounds, or ``method="cla"`` with a
        ``-inf`` lower bound.
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
        Invalid inputs.
    DegenerateReturnsError
        ``μ`` proportional to the ones vector (closed form).
    """
    if target_kind not in TARGET_KINDS:
        raise InputError(f"target_kind must be one of {TARGET_KINDS}, got {target_kind!r}")
    p = prepare(mu, cov)
    xp = p.xp
    r = as_targets(targets, xp, p.device)
    if not is_unconstrained(long_only, bounds):
        lower, upper = resolve_bounds(p.n, long_only, bounds, xp, p.device)
        if bounded_method(method, xp, lower, p.device) == "cla":
            return _cla_frontier(p.mu, p.cov, r, lower, upper, target_kind)
        return qp_module().qp_frontier(
            p.mu, p.cov, r, lower=lower, upper=upper, target_kind=target_kind
        )
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    k = frontier_constants(p)
    r_eff = r
    if target_kind == "geq":
        r_eff = xp.where(r > k.B / k.A, r, xp.full_like(r, k.B / k.A))
    lam = (k.A * r_eff - k.B) / k.delta
    gam = (k.C - k.B * r_eff) / k.delta
    coef = xp.stack([lam, gam], axis=1)  # (k, 2)
    basis = xp.stack([k.sinv_mu, k.sinv_one], axis=0)  # (2, n)
    w = coef @ basis  # (k, n)
    sw = w @ p.cov  # (k, n); rows are (Σw)ᵀ because Σ is symmetric
    returns = w @ p.mu
    variances = xp.sum(sw * w, axis=1)
    risks = xp.sqrt(xp.clip(variances, 0.0, None))
    budget = xp.abs(xp.sum(w, axis=1) - 1.0)
    if target_kind == "eq":
        gap = xp.abs(returns - r)
    else:
        gap = xp.clip(r - returns, 0.0, None)
    primal = to_numpy(xp.maximum(budget, gap)).astype(np.float64)
    stat = sw - lam[:, None] * p.mu[None, :] - gam[:, None]
    dual = to_numpy(xp.max(xp.abs(stat), axis=1)).astype(np.float64)
    n_pts = int(r.shape[0])
    return FrontierResult(
        targets=r,
        weights=w,
        returns=returns,
        risks=risks,
        status=("optimal",) * n_pts,
        n_iter=np.zeros(n_pts, dtype=np.int64),
        primal_residual=primal,
        dual_residual=dual,
        method="closed_form",
    )


def _cla_frontier(mu: Any, cov: Any, r: Any, lower: Any, upper: Any, kind: str) -> FrontierResult:
    """Bounded frontier from the critical line; the inefficient branch only when needed.

    Targets within :data:`~portfolio_lab.solvers.cla.GMV_SNAP_RTOL` of the minimum-variance
    return snap to it; when a target lies further below (on the inefficient branch), only
    that branch is walked and joined to the efficient one
    (:func:`~portfolio_lab.solvers.cla.with_full_branch`).
    """
    from .cla import critical_line, with_full_branch
    from .qp import return_range

    path = critical_line(mu, cov, lower=lower, upper=upper)
    if kind == "eq":
        r_np = to_numpy(r)
        r_min = return_range(to_numpy(mu), to_numpy(lower), to_numpy(upper))[0]
        tol = 1e-12 * max(1.0, float(np.max(np.abs(path.returns))))
        below = r_np < path.return_range[0] - path.snap_tolerance()
        if np.any(below & (r_np >= r_min - tol)):
            path = with_full_branch(path)
    return path.weights_at(r, target_kind=kind)
