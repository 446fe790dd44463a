"""Problem generators and an independent cvxpy + Clarabel reference for the solver tests."""

from __future__ import annotations

import numpy as np


def spd(n: int, rng: np.random.Generator, cond: float = 100.0, scale: float = 1.0) -> np.ndarray:
    """Random SPD matrix Q diag(λ) Qᵀ with eigenvalues spread log-uniformly over [1, cond]."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = scale * np.exp(rng.uniform(0.0, np.log(cond), size=n))
    lam[0], lam[-1] = scale, scale * cond
    s = (q * lam) @ q.T
    return (s + s.T) / 2.0


def random_problem(n: int, seed: int, cond: float = 100.0) -> tuple[np.ndarray, np.ndarray, float]:
    """(mu, cov, target) with a target between the min-variance and the largest return."""
    rng = np.random.default_rng(seed)
    cov = spd(n, rng, cond)
    mu = rng.standard_normal(n)
    target = float(rng.uniform(mu.min(), mu.max()))
    return mu, cov, target


def real_like_problem(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Daily-scale (mu, cov): a two-factor model with idiosyncratic noise, vols 1%-3%."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n, 2))
    corr = loadings @ loadings.T + np.diag(rng.uniform(0.3, 1.0, n))
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    vol = rng.uniform(0.01, 0.03, n)
    cov = corr * np.outer(vol, vol)
    mu = rng.normal(4e-4, 3e-4, n)
    return mu, (cov + cov.T) / 2.0


def equicorrelated(n: int = 10, rho: float = 0.9) -> np.ndarray:
    """Covariance with vols 1%..5% and constant correlation ``rho`` (long-only MV has zeros)."""
    vol = np.linspace(0.01, 0.05, n)
    corr = np.full((n, n), rho) + (1.0 - rho) * np.eye(n)
    return corr * np.outer(vol, vol)


def cvx_markowitz(
    mu: np.ndarray | None,
    cov: np.ndarray,
    target: float | None = None,
    *,
    kind: str = "eq",
    long_only: bool = False,
) -> np.ndarray:
    """Solve min ½wᵀΣw s.t. 1ᵀw = 1 (and the return constraint) with cvxpy + Clarabel.

    Σ is rescaled to unit average variance for the solver; the minimizer is unchanged.
    """
    import cvxpy as cp

    n = cov.shape[0]
    scale = float(np.trace(cov) / n)
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1]
    if target is not None and mu is not None:
        cons.append(mu @ w == target if kind == "eq" else mu @ w >= target)
    if long_only:
        cons.append(w >= 0)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(w, cp.psd_wrap(cov / scale))), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == cp.OPTIMAL, prob.status
    return np.asarray(w.value)
