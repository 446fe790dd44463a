from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from portfolio_lab.solvers import (
    barrier_min_variance,
    efficient_frontier,
    markowitz_lagrange,
    markowitz_newton,
    max_sharpe,
    min_variance,
)

from ._problems import cvx_markowitz, spd

FAST = settings(max_examples=50, deadline=None)


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    """(mu, cov, target): cov = QΛQᵀ with condition number ≤ 1e3, random μ and target."""
    n = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    cond = draw(st.floats(1.0, 1e3))
    scale = draw(st.floats(1e-4, 1.0))
    rng = np.random.default_rng(seed)
    cov = spd(n, rng, cond, scale)
    mu = rng.standard_normal(n) * draw(st.floats(1e-3, 1.0))
    # keep μ away from the ones direction so that Δ is well conditioned
    lag = markowitz_lagrange(mu, cov, 0.0)
    assume(lag.delta > 1e-3 * lag.A * lag.C)
    target = float(draw(st.floats(-2.0, 2.0)) * np.abs(mu).max())
    return mu, cov, target


def _scale(w: np.ndarray) -> float:
    return max(1.0, float(np.abs(w).max()))


@FAST
@given(problems())
def test_kkt_holds_and_weights_sum_to_one(problem) -> None:
    mu, cov, r = problem
    res = markowitz_lagrange(mu, cov, r)
    lam, gam = res.multipliers
    w = res.weights
    grad_scale = max(np.abs(cov).max() * np.abs(w).sum(), abs(lam) * np.abs(mu).max(), abs(gam))
    assert np.abs(cov @ w - lam * mu - gam).max() <= 1e-9 * grad_scale
    assert abs(w.sum() - 1.0) <= 1e-10 * _scale(w)
    assert abs(w @ mu - r) <= 1e-10 * _scale(w) * np.abs(mu).max()


@FAST
@given(problems())
def test_newton_equals_lagrange(problem) -> None:
    mu, cov, r = problem
    ref = markowitz_lagrange(mu, cov, r).weights
    res = markowitz_newton(mu, cov, r, tol=1e-14)
    assert res.converged
    assert np.abs(res.weights - ref).max() <= 1e-8 * _scale(ref)


@FAST
@given(problems(), st.randoms(use_true_random=False))
def test_permuting_assets_permutes_weights(problem, rnd) -> None:
    mu, cov, r = problem
    perm = np.array(rnd.sample(range(mu.size), mu.size))
    w = markowitz_lagrange(mu, cov, r).weights
    wp = markowitz_lagrange(mu[perm], cov[np.ix_(perm, perm)], r).weights
    assert np.abs(wp - w[perm]).max() <= 1e-9 * _scale(w)
    mv = min_variance(cov).weights
    mvp = min_variance(cov[np.ix_(perm, perm)]).weights
    assert np.abs(mvp - mv[perm]).max() <= 1e-9 * _scale(mv)


@FAST
@given(problems())
def test_numpy_equals_torch(problem) -> None:
    mu, cov, r = problem
    w_np = markowitz_lagrange(mu, cov, r).weights
    w_t = markowitz_lagrange(torch.tensor(mu), torch.tensor(cov), r).weights
    assert np.abs(w_t.numpy() - w_np).max() <= 1e-10 * _scale(w_np)
    n_np = markowitz_newton(mu, cov, r).weights
    n_t = markowitz_newton(torch.tensor(mu), torch.tensor(cov), r).weights
    assert np.abs(n_t.numpy() - n_np).max() <= 1e-10 * _scale(n_np)


@FAST
@given(problems(), st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=8))
def test_frontier_rows_are_single_point_solutions_on_the_parabola(problem, grid) -> None:
    mu, cov, _ = problem
    targets = np.array(grid) * np.abs(mu).max()
    fr = efficient_frontier(mu, cov, targets)
    lag = markowitz_lagrange(mu, cov, 0.0)
    for i, r in enumerate(targets):
        w = markowitz_lagrange(mu, cov, r).weights
        assert np.abs(fr.weights[i] - w).max() <= 1e-10 * _scale(w)
    parabola = (lag.A * targets**2 - 2 * lag.B * targets + lag.C) / lag.delta
    np.testing.assert_allclose(fr.risks**2, parabola, rtol=1e-8)


@FAST
@given(problems())
def test_tangency_has_the_best_sharpe_ratio_on_the_frontier(problem) -> None:
    mu, cov, _ = problem
    lag = markowitz_lagrange(mu, cov, 0.0)
    rf = lag.B / lag.A - 0.5 * np.abs(mu).max()  # safely below the minimum-variance return
    res = max_sharpe(mu, cov, rf)
    best = (res.expected_return - rf) / res.risk
    fr = efficient_frontier(mu, cov, np.linspace(-3, 3, 61) * np.abs(mu).max())
    sharpe = (fr.returns - rf) / fr.risks
    assert sharpe.max() <= best * (1 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 10), st.integers(0, 2**32 - 1), st.floats(1.0, 1e4))
@example(2, 2, 7708.125)  # |f| ≈ 6.7e5: stops at the rounding level, decrement 2.5e-10 > tol
def test_barrier_central_point_is_feasible_and_within_the_gap_bound(n, seed, t_per_asset) -> None:
    rng = np.random.default_rng(seed)
    cov = spd(n, rng, cond=1e3, scale=1.0 / n)
    t = t_per_asset * n
    res = barrier_min_variance(cov, t)
    assert res.converged
    w = res.weights
    assert (w > 0).all() and abs(w.sum() - 1.0) <= 1e-12
    (nu,) = res.multipliers
    # at the stop, ∇f + ν1 = −HΔx, so ‖∇f + ν1‖₂ ≤ sqrt(‖H‖₂ · λ²) with λ²/2 the last decrement
    hess = t * cov + np.diag(1.0 / w**2)
    bound = np.sqrt(np.linalg.eigvalsh(hess).max() * 2.0 * res.decrements[-1])
    assert np.linalg.norm(t * cov @ w - 1.0 / w + nu) <= bound * (1 + 1e-6) + 1e-9 * (1 + t)
    # the documented stop: λ²/2 ≤ max(tol, 4·eps·|f|), f the barrier objective at the stop
    assert res.decrements[-1] <= max(
        1e-10, 4.0 * np.finfo(float).eps * abs(res.objective_values[-1])
    )
    p_star = 0.5 * (lambda v: v @ cov @ v)(cvx_markowitz(None, cov, long_only=True))
    assert -1e-9 <= 0.5 * res.variance - p_star <= res.gap_bound + 1e-9
