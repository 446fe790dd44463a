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


def factor_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily-scale four-factor model with idiosyncratic variance."""
    rng = np.random.default_rng(seed)
    k = min(4, n)
    b = rng.normal(0.0, 0.6, (n, k))
    b[:, 0] = rng.uniform(0.5, 1.5, n)
    cov = (b * rng.uniform(1e-4, 4e-4, k)) @ b.T + np.diag(rng.uniform(1e-4, 9e-4, n))
    mu = b @ rng.uniform(1e-4, 4e-4, k) + rng.normal(0.0, 3e-4, n)
    return mu, (cov + cov.T) / 2


def clarabel(mu, cov, target, lo, hi, kind="eq"):
    """cvxpy + Clarabel at tight tolerances with box bounds (±inf entries unbounded)."""
    import cvxpy as cp

    n = cov.shape[0]
    d = float(np.mean(np.diag(cov)))
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1]
    if np.isfinite(lo).any():
        cons.append(w[np.isfinite(lo)] >= lo[np.isfinite(lo)])
    if np.isfinite(hi).any():
        cons.append(w[np.isfinite(hi)] <= hi[np.isfinite(hi)])
    if target is not None:
        cons.append(mu @ w == target if kind == "eq" else mu @ w >= target)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(w, cp.psd_wrap(cov / d))), cons)
    prob.solve(
        solver="CLARABEL",
        tol_gap_abs=1e-12,
        tol_gap_rel=1e-12,
        tol_feas=1e-12,
        tol_ktratio=1e-10,
        max_iter=500,
    )
    assert prob.status == "optimal"
    return np.asarray(w.value)


def kkt_violation(w, mu, cov, lo, hi, target, kind, tol=1e-9):
    """Recover multipliers independently and return (stationarity, dual sign, primal) errors.

    The equality multipliers (budget, return) come from least squares on the free assets,
    where stationarity reads ``(Σw)_F = λ₁ 1 + λ₂ μ_F``; the bound multipliers are then
    ``ζ = Σw − λ₁ 1 − λ₂ μ`` on the active set and must be ≥ 0 at a lower bound, ≤ 0 at an
    upper bound (complementary slackness: ζ is zero off the active set by construction).
    """
    at_lo = np.abs(w - lo) <= tol
    at_hi = (np.abs(w - hi) <= tol) & ~at_lo
    free = ~(at_lo | at_hi)
    ret_active = kind == "eq" or abs(mu @ w - target) <= 1e-10
    g = cov @ w
    basis = np.column_stack([np.ones(len(w)), mu] if ret_active else [np.ones(len(w))])
    lam, *_ = np.linalg.lstsq(basis[free], g[free], rcond=None)
    scale = np.max(np.abs(g))
    zeta = g - basis @ lam
    stationarity = np.max(np.abs(zeta[free]), initial=0.0) / scale
    dual = max(float(np.max(-zeta[at_lo], initial=0.0)), float(np.max(zeta[at_hi], initial=0.0)))
    if ret_active and kind == "geq":
        dual = max(dual, -float(lam[1]) * np.max(np.abs(mu)))
    gap = mu @ w - target
    primal = max(
        abs(w.sum() - 1),
        abs(gap) if kind == "eq" else max(0.0, -gap),
        float(np.max(lo - w, initial=0)),
        float(np.max(w - hi, initial=0)),
    )
    return stationarity, dual / scale, primal


def clarabel_max_sharpe(mu, cov, rf, lo, hi):
    """Homogenized max-Sharpe QP in cvxpy + Clarabel."""
    import cvxpy as cp

    n = cov.shape[0]
    d = float(np.mean(np.diag(cov)))
    y, kappa = cp.Variable(n), cp.Variable()
    cons = [(mu - rf) @ y == 1, cp.sum(y) == kappa, kappa >= 0]
    fl, fh = np.isfinite(lo), np.isfinite(hi)
    if fl.any():
        cons.append(y[fl] >= kappa * lo[fl])
    if fh.any():
        cons.append(y[fh] <= kappa * hi[fh])
    prob = cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov / d))), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(y.value) / float(kappa.value)
