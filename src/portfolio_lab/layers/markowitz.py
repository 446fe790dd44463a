"""The differentiable Markowitz layer: ``markowitz(mu, cov, ...) -> weights``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._active_set import ActiveSetSolution, solve_active_set, solve_compiled
from ._function import bounded_forward, closed_form, standard_form, use_compiled
from ._problem import prepare

__all__ = ["markowitz", "solve", "LayerSolution", "TIE_RULE"]

#: How the backward pass treats a weight exactly at its bound with a zero multiplier.
TIE_RULE = (
    "a weight at its bound (within 1e-11 relative) is held at the bound even when its "
    "multiplier is zero; the gradient is the one-sided derivative on which such weights "
    "stay at their bounds (the derivative of the larger active set)"
)


def markowitz(
    mu: Any,
    cov: Any,
    *,
    risk_aversion: Any = None,
    target_return: Any = None,
    long_only: bool = True,
    bounds: Any = None,
    engine: str = "auto",
) -> Any:
    """Markowitz weights as a differentiable function of ``mu``, ``cov`` and the trade-off.

    Solves, for each member of the batch, either the mean-variance utility

        ``max μᵀw − (γ/2) wᵀΣw   s.t. 1ᵀw = 1``  (``risk_aversion=γ``, the default, γ = 1)

    or the minimum variance at a target return

        ``min wᵀΣw   s.t. 1ᵀw = 1, μᵀw = r``  (``target_return=r``),

    with ``w ≥ 0`` (``long_only``) and/or ``lower ≤ w ≤ upper`` (``bounds``). Without
    either constraint the closed form is used (plain autograd); otherwise the exact
    batched active-set solver of :mod:`portfolio_lab.layers._active_set` (critical-line
    fallback) and, backwards, the implicit derivative of the KKT system on the free set.

    Parameters
    ----------
    mu : torch.Tensor, shape (batch, n) or (n,)
        Expected returns, float32 or float64, any device (NumPy arrays are converted).
    cov : torch.Tensor, shape (batch, n, n) or (n, n)
        Symmetric positive definite covariances, same device. A batch axis on either input
        is broadcast against the other.
    risk_aversion : float or torch.Tensor, shape () or (batch,), optional
        γ > 0 of the utility; differentiable.
    target_return : float or torch.Tensor, shape () or (batch,), optional
        Target ``r`` of the minimum-variance form (inside the attainable range);
        differentiable. Give at most one of ``risk_aversion`` and ``target_return``.
    long_only : bool, default True
        Impose ``w ≥ 0`` (with ``bounds``, the lower bounds are raised to 0).
    bounds : tuple (lower, upper), optional
        Each a scalar, an array of shape (n,) or None; constants (no gradient).
    engine : {"auto", "compiled", "torch"}, default "auto"
        Bounded problems: ``"compiled"`` solves and differentiates member by member in
        compiled loops (CPU only; :mod:`portfolio_lab.layers._kernels`), ``"torch"`` in
        batched torch calls (any device); ``"auto"`` takes the compiled path on a CPU.
        Both apply the same rules and agree to rounding.

    Returns
    -------
    torch.Tensor, shape (batch, n) or (n,)
        Weights in the inputs' dtype (float64 if either input is float64) and device,
        differentiable with respect to ``mu``, ``cov``, ``risk_aversion`` and
        ``target_return``. Computed in float64 whatever the input dtype.

    Raises
    ------
    ShapeError, NonFiniteError
        Inconsistent shapes; NaN or inf in an input.
    NotSymmetricError, NotPositiveDefiniteError
        ``cov`` is not symmetric (relative 1e-8 in float64, 1e-5 in float32) or not
        positive definite.
    InputError
        Infeasible bounds, a non-positive risk aversion, both trade-offs given.
    InfeasibleTargetError, DegenerateReturnsError
        A target outside the attainable range; all ``μᵢ`` equal with a target.

    Notes
    -----
    Tie rule: see :data:`TIE_RULE`. Gradients with respect to the bounds are not
    computed (they are constants of the layer).
    """
    w, _ = _run(mu, cov, risk_aversion, target_return, long_only, bounds, {"engine": engine})
    return w


@dataclass(frozen=True)
class LayerSolution:
    """What :func:`solve` found (no autograd graph).

    Attributes
    ----------
    weights : torch.Tensor, shape (batch, n)
        float64 weights.
    fixed : torch.Tensor of int8, shape (batch, n) or None
        -1 at the lower bound, +1 at the upper bound, 0 free (None when unbounded).
    multipliers : torch.Tensor, shape (batch, m) or None
        ``ν`` of ``aΣw − q = Cᵀν + ζ`` (budget first, then the return row).
    bound_multipliers : torch.Tensor, shape (batch, n) or None
        ``ζ``.
    n_iter : numpy.ndarray, shape (batch,)
        Active-set solves per member (0: solved by the critical line).
    method : tuple of str
        Per member: ``"active-set"``, ``"critical-line"`` or ``"closed-form"``.
    kkt_residual : numpy.ndarray, shape (batch,)
        Relative KKT residual.
    """

    weights: Any
    fixed: Any
    multipliers: Any
    bound_multipliers: Any
    n_iter: np.ndarray
    method: tuple[str, ...]
    kkt_residual: np.ndarray


def solve(
    mu: Any,
    cov: Any,
    *,
    risk_aversion: Any = None,
    target_return: Any = None,
    long_only: bool = True,
    bounds: Any = None,
    method: str = "active-set",
    max_iter: int | None = None,
    engine: str = "auto",
) -> LayerSolution:
    """Solve like :func:`markowitz` and return the whole record (weights, active sets, KKT).

    Parameters
    ----------
    mu, cov, risk_aversion, target_return, long_only, bounds
        As in :func:`markowitz`.
    method : {"active-set", "critical-line"}
        Bounded problems: the batched active-set steps (default) or the critical line for
        every member (the reference path).
    max_iter : int, optional
        Active-set steps before a member falls back to the critical line.
    engine : {"auto", "compiled", "torch"}
        As in :func:`markowitz` (``method="critical-line"`` ignores it).

    Returns
    -------
    LayerSolution
    """
    import torch

    with torch.no_grad():
        w, sol = _run(
            mu, cov, risk_aversion, target_return, long_only, bounds,
            {"method": method, "max_iter": max_iter, "raw": True, "engine": engine},
        )  # fmt: skip
    if isinstance(sol, ActiveSetSolution):
        return LayerSolution(
            weights=sol.weights,
            fixed=sol.fixed,
            multipliers=sol.nu,
            bound_multipliers=sol.zeta,
            n_iter=sol.n_iter,
            method=sol.method,
            kkt_residual=sol.kkt_residual,
        )
    b = int(w.shape[0])
    return LayerSolution(w, None, None, None, np.zeros(b, np.int64), ("closed-form",) * b, sol)


def method_of(opts: dict) -> str:
    """Return the bounded method an options dict asks for (default: the active-set steps)."""
    return str(opts.get("method") or "active-set")


def _run(
    mu: Any,
    cov: Any,
    risk_aversion: Any,
    target_return: Any,
    long_only: bool,
    bounds: Any,
    opts: dict,
) -> tuple[Any, Any]:
    import torch

    engine = opts.get("engine", "auto")
    device = mu.device if isinstance(mu, torch.Tensor) else torch.device("cpu")
    bounded = bool(long_only) or bounds is not None
    # the compiled solver checks each Σ while it is in cache for the solve
    deferred = bounded and method_of(opts) == "active-set" and use_compiled(engine, device)
    p = prepare(
        mu,
        cov,
        risk_aversion=risk_aversion,
        target_return=target_return,
        long_only=long_only,
        bounds=bounds,
        check_cov=not deferred,
    )
    if deferred:
        opts = {**opts, "check": True, "rtol": p.rtol}
    raw = bool(opts.pop("raw", False))
    if p.unconstrained:
        w = closed_form(p.kind, p.mu, p.cov, p.scale, p.target)
        info: Any = None
        if raw:
            q, C, c = standard_form(p.kind, p.mu, p.target)
            resid = (C @ w[:, :, None])[..., 0] - c
            info = resid.abs().amax(dim=1).cpu().numpy()
    else:
        if raw and deferred:
            info = solve_compiled(
                p.kind, p.scale.detach(), p.cov.detach(), p.mu.detach(),
                None if p.target is None else p.target.detach(), p.lower, p.upper,
                max_iter=opts.get("max_iter"), check=True, rtol=p.rtol,
            )  # fmt: skip
            w = info.weights
        elif raw:
            q, C, c = standard_form(p.kind, p.mu.detach(), p.target)
            info = solve_active_set(
                p.kind, p.scale.detach(), p.cov.detach(), q, C, c, p.lower, p.upper,
                mu=p.mu.detach(), max_iter=opts.get("max_iter"),
                method=opts.get("method", "active-set"),
            )  # fmt: skip
            w = info.weights
        else:
            w, info = bounded_forward(
                p.kind, p.mu, p.cov, p.scale, p.target, p.lower, p.upper, opts
            )
    w = w.to(p.dtype)
    if not p.batched:
        w = w[0]
    return (w, info) if raw or not p.unconstrained else (w, None)
