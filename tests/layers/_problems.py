"""Problems and an independent cvxpy + Clarabel reference for the layer tests."""

from __future__ import annotations

import numpy as np


def factor_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily-scale factor model: market + 3 factors + idiosyncratic variance."""
    rng = np.random.default_rng(seed)
    k = min(4, n)
    b = rng.normal(0.0, 0.6, (n, k))
    b[:, 0] = rng.uniform(0.5, 1.5, n)
    cov = (b * rng.uniform(1e-4, 4e-4, k)) @ b.T + np.diag(rng.uniform(1e-4, 9e-4, n))
    mu = rng.normal(5e-4, 4e-4, n)
    return mu, (cov + cov.T) / 2.0


def batch(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` factor problems stacked: mu (B, n), cov (B, n, n)."""
    pairs = [factor_problem(n, seed * 1000 + i) for i in range(size)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def clarabel(
    mu: np.ndarray,
    cov: np.ndarray,
    *,
    gamma: float | None = None,
    target: float | None = None,
    lower: np.ndarray | float | None = 0.0,
    upper: np.ndarray | float | None = None,
) -> np.ndarray:
    """Solve the layer's problem with cvxpy + Clarabel at tight tolerances."""
    import cvxpy as cp

    n = mu.size
    scale = float(np.trace(cov) / n)
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1]
    if lower is not None:
        cons.append(w >= lower)
    if upper is not None:
        cons.append(w <= upper)
    quad = cp.quad_form(w, cp.psd_wrap(cov / scale))
    if target is None:
        g = 1.0 if gamma is None else gamma
        obj = cp.Minimize(0.5 * g * quad - (mu / scale) @ w)
    else:
        cons.append(mu @ w == target)
        obj = cp.Minimize(0.5 * quad)
    prob = cp.Problem(obj, cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == cp.OPTIMAL, prob.status
    return np.asarray(w.value)
