"""Constrained frontier / min variance / max Sharpe (solvers.qp) against independent references.

References: cvxpy + Clarabel at tight tolerances (on the covariance scaled to unit mean
diagonal, which does not change the minimizer), multipliers recovered by least squares on
the active set, scipy's LP solver for the attainable return range, direct evaluation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from portfolio_lab.exceptions import InfeasibleTargetError, InputError, ShapeError
from portfolio_lab.solvers.qp import qp_frontier, qp_max_sharpe, qp_min_variance, return_range

from ._problems import clarabel, clarabel_max_sharpe, factor_problem, kkt_violation

W_TOL = 1e-6
OBJ_RTOL = 1e-8


def assert_close(w, ref, cov):
    assert np.max(np.abs(w - ref)) <= W_TOL
    fw, fr = w @ cov @ w, ref @ cov @ ref
    assert (fw - fr) / fr <= OBJ_RTOL  # never worse than the reference (it may be better)
    assert abs(fw - fr) / fr <= 1e-6


CASES = [(5, 0), (30, 1), (120, 2), (300, 3)]


@pytest.mark.parametrize(("n", "seed"), CASES)
@pytest.mark.parametrize("box", [False, True])
@pytest.mark.parametrize("kind", ["eq", "geq"])
def test_frontier_matches_clarabel_and_kkt(n, seed, box, kind):
    mu, cov = factor_problem(n, seed)
    lo = np.full(n, -0.3 / np.sqrt(n)) if box else np.zeros(n)
    hi = np.full(n, 4.0 / n) if box else np.full(n, np.inf)
    r_min, r_max = return_range(mu, lo, hi)
    targets = np.linspace(r_min, r_max, 42)[1:-1]
    res = qp_frontier(mu, cov, targets, lower=lo, upper=hi, target_kind=kind)
    assert res.status == ("optimal",) * targets.size
    assert res.weights.shape == (targets.size, n)
    assert np.all(res.n_iter > 0)
    assert np.nanmax(res.primal_residual) < 1e-9
    for i in range(0, targets.size, 8 if n >= 120 else 3):
        ref = clarabel(mu, cov, targets[i], lo, hi, kind)
        assert_close(res.weights[i], ref, cov)
    for i in range(targets.size):
        stat, dual, prim = kkt_violation(res.weights[i], mu, cov, lo, hi, targets[i], kind)
        assert stat < 1e-8 and dual < 1e-8 and prim < 1e-9
    np.testing.assert_allclose(res.returns, res.weights @ mu, atol=1e-15)
    np.testing.assert_allclose(
        res.risks, np.sqrt(np.einsum("ki,ij,kj->k", res.weights, cov, res.weights))
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 8),
    seed=st.integers(0, 10_000),
    frac=st.floats(0.02, 0.98),
    box=st.booleans(),
)
def test_random_small_problems_match_clarabel(n, seed, frac, box):
    mu, cov = factor_problem(n, seed)
    lo = np.full(n, -0.2) if box else np.zeros(n)
    hi = np.full(n, 0.8) if box else np.full(n, np.inf)
    hi = np.maximum(hi, 1.0 / n + 0.1)
    r_min, r_max = return_range(mu, lo, hi)
    assume(r_max - r_min >= 1e-6 * max(abs(r_max), 1e-4))
    target = r_min + frac * (r_max - r_min)
    res = qp_frontier(mu, cov, [target], lower=lo, upper=hi)
    assert res.status == ("optimal",)
    assert_close(res.weights[0], clarabel(mu, cov, target, lo, hi), cov)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 10_000), unbounded_hi=st.booleans())
def test_return_range_equals_linprog(n, seed, unbounded_hi):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=n)
    lo = rng.uniform(-0.5, 0.1, n)
    hi = np.full(n, np.inf) if unbounded_hi else lo + rng.uniform(0.1, 1.0, n)
    if hi.sum() < 1:  # raise the upper bounds just past feasibility (small n, e.g. n = 1)
        hi += (1.0 - hi.sum()) / n * (1.0 + rng.uniform(1e-6, 0.5))
    assume(lo.sum() <= 1)  # only n >= 11 with every lower bound near 0.1
    r_min, r_max = return_range(mu, lo, hi)
    bnds = list(zip(lo, [None if np.isinf(h) else h for h in hi], strict=True))
    lp_min = linprog(mu, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=bnds)
    lp_max = linprog(-mu, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=bnds)
    assert lp_min.status == 0
    assert r_min == pytest.approx(lp_min.fun, abs=1e-9)
    if lp_max.status == 3:
        assert r_max == np.inf
    else:
        assert r_max == pytest.approx(-lp_max.fun, abs=1e-9)


def test_unbounded_return_range_with_shorting():
    mu = np.array([0.1, 0.2, 0.3])
    assert return_range(mu, np.full(3, -np.inf), np.full(3, np.inf)) == (-np.inf, np.inf)


def test_infeasible_targets_reported_not_clipped():
    mu, cov = factor_problem(15, 4)
    lo, hi = np.zeros(15), np.full(15, 0.3)
    r_min, r_max = return_range(mu, lo, hi)
    span = r_max - r_min
    targets = np.array([r_min - 0.1 * span, r_min + 0.5 * span, r_max + 1e-3 * span])
    res = qp_frontier(mu, cov, targets, lower=lo, upper=hi)
    assert res.status == ("infeasible", "optimal", "infeasible")
    assert np.isnan(res.weights[[0, 2]]).all() and np.isnan(res.returns[[0, 2]]).all()
    assert np.isnan(res.risks[[0, 2]]).all()
    assert res.returns[1] == pytest.approx(targets[1], abs=1e-12)
    # a "geq" target below the range is feasible (the constraint is slack)
    geq = qp_frontier(mu, cov, targets, lower=lo, upper=hi, target_kind="geq")
    assert geq.status == ("optimal", "optimal", "infeasible")


def test_geq_below_min_variance_return_gives_min_variance():
    mu, cov = factor_problem(25, 5)
    lo, hi = np.zeros(25), np.full(25, np.inf)
    mv = qp_min_variance(cov, lower=lo, upper=hi)
    r_gmv = float(mv.weights @ mu)
    r_min, r_max = return_range(mu, lo, hi)
    targets = np.array([r_min, 0.5 * (r_min + r_gmv), r_gmv + 0.3 * (r_max - r_gmv)])
    res = qp_frontier(mu, cov, targets, lower=lo, upper=hi, target_kind="geq")
    np.testing.assert_allclose(res.weights[0], mv.weights, atol=1e-9)
    np.testing.assert_allclose(res.weights[1], mv.weights, atol=1e-9)
    assert res.returns[2] == pytest.approx(targets[2], abs=1e-12)  # binding
    assert_close(res.weights[2], clarabel(mu, cov, targets[2], lo, hi, "geq"), cov)


@pytest.mark.parametrize(("n", "box"), [(10, False), (60, True), (200, False)])
def test_min_variance_matches_clarabel(n, box):
    _, cov = factor_problem(n, 6)
    lo = np.full(n, -0.05) if box else np.zeros(n)
    hi = np.full(n, 2.0 / n) if box else np.full(n, np.inf)
    res = qp_min_variance(cov, lower=lo, upper=hi)
    assert res.status == "optimal"
    assert_close(res.weights, clarabel(None, cov, None, lo, hi), cov)
    # budget multiplier: Σw − γ1 is a valid bound multiplier (≥ 0 at lower bounds, 0 inside)
    gamma = float(res.multipliers[0])
    zeta = cov @ res.weights - gamma
    free = (res.weights > lo + 1e-9) & (res.weights < hi - 1e-9)
    assert np.max(np.abs(zeta[free])) < 1e-10 * np.max(np.abs(cov @ res.weights))
    assert res.kkt_residual < 1e-10


@pytest.mark.parametrize(
    ("n", "box", "rf"), [(8, False, 0.0), (50, True, 1e-4), (150, False, 2e-4)]
)
def test_max_sharpe_matches_clarabel_and_beats_frontier(n, box, rf):
    mu, cov = factor_problem(n, 7)
    lo = np.full(n, -0.1) if box else np.zeros(n)
    hi = np.full(n, 3.0 / n) if box else np.full(n, np.inf)
    res = qp_max_sharpe(mu, cov, rf, lower=lo, upper=hi)
    assert res.status == "optimal"
    w = res.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(w >= lo - 1e-12) and np.all(w <= hi + 1e-12)
    np.testing.assert_allclose(w, clarabel_max_sharpe(mu, cov, rf, lo, hi), atol=W_TOL)
    sharpe = (w @ mu - rf) / np.sqrt(w @ cov @ w)
    assert res.expected_return == pytest.approx(w @ mu)
    r_min, r_max = return_range(mu, lo, hi)
    front = qp_frontier(mu, cov, np.linspace(r_min, r_max, 30)[1:-1], lower=lo, upper=hi)
    assert np.all((front.returns - rf) / front.risks <= sharpe + 1e-12)


def test_max_sharpe_needs_an_asset_above_risk_free():
    mu, cov = factor_problem(6, 8)
    with pytest.raises(InfeasibleTargetError, match="risk_free"):
        qp_max_sharpe(mu, cov, float(mu.max()) + 1e-3, lower=np.zeros(6), upper=np.full(6, np.inf))


def test_permuting_assets_permutes_weights():
    mu, cov = factor_problem(12, 9)
    perm = np.random.default_rng(0).permutation(12)
    lo, hi = np.zeros(12), np.full(12, 0.25)
    r_min, r_max = return_range(mu, lo, hi)
    tg = np.linspace(r_min, r_max, 7)[1:-1]
    a = qp_frontier(mu, cov, tg, lower=lo, upper=hi)
    b = qp_frontier(mu[perm], cov[np.ix_(perm, perm)], tg, lower=lo, upper=hi)
    np.testing.assert_allclose(b.weights, a.weights[:, perm], atol=1e-9)


def test_unsorted_targets_keep_their_order():
    mu, cov = factor_problem(20, 10)
    lo, hi = np.zeros(20), np.full(20, np.inf)
    r_min, r_max = return_range(mu, lo, hi)
    tg = r_min + (r_max - r_min) * np.array([0.7, 0.2, 0.9, 0.4, 0.5, 0.1, 0.3, 0.8, 0.6] * 2)
    res = qp_frontier(mu, cov, tg, lower=lo, upper=hi)
    np.testing.assert_allclose(res.returns, tg, atol=1e-12)


def test_bad_inputs_raise_typed_errors():
    mu, cov = factor_problem(4, 11)
    with pytest.raises(InputError, match="target_kind"):
        qp_frontier(mu, cov, [0.0], lower=0.0, upper=None, target_kind="le")
    with pytest.raises(InputError, match="lower bound exceeds"):
        qp_frontier(mu, cov, [0.0], lower=np.full(4, 0.5), upper=np.full(4, 0.1))
    with pytest.raises(InputError, match="budget"):
        qp_min_variance(cov, lower=np.full(4, 0.3), upper=None)
    with pytest.raises(ShapeError):
        qp_frontier(mu, cov, [0.0], lower=np.zeros(3), upper=None)
    with pytest.raises(InputError, match="equal"):
        qp_frontier(np.full(4, 1e-3), cov, [1e-3], lower=0.0, upper=None)


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: thread start-up dominates on a shared machine
    yield torch
    torch.set_num_threads(before)


def test_torch_matches_numpy(torch_one_thread):
    torch = torch_one_thread
    mu, cov = factor_problem(40, 12)
    lo, hi = np.zeros(40), np.full(40, 0.2)
    r_min, r_max = return_range(mu, lo, hi)
    tg = np.linspace(r_min, r_max, 22)[1:-1]
    a = qp_frontier(mu, cov, tg, lower=lo, upper=hi)
    t = qp_frontier(
        torch.from_numpy(mu),
        torch.from_numpy(cov),
        torch.from_numpy(tg),
        lower=torch.from_numpy(lo),
        upper=torch.from_numpy(hi),
    )
    assert isinstance(t.weights, torch.Tensor) and t.weights.dtype == torch.float64
    assert t.status == a.status
    np.testing.assert_allclose(t.weights.numpy(), a.weights, atol=1e-9)
    ms = qp_max_sharpe(torch.from_numpy(mu), torch.from_numpy(cov), lower=torch.zeros(40))
    ms_np = qp_max_sharpe(mu, cov, lower=np.zeros(40))
    np.testing.assert_allclose(ms.weights.numpy(), ms_np.weights, atol=1e-9)
    mv = qp_min_variance(torch.from_numpy(cov), lower=torch.zeros(40))
    np.testing.assert_allclose(
        mv.weights.numpy(), qp_min_variance(cov, lower=np.zeros(40)).weights, atol=1e-9
    )


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cupy", "torch-cuda"])
def test_gpu_matches_numpy(backend):
    from portfolio_lab._backend import gpu_available, to_numpy

    if backend == "cupy":
        xpmod = pytest.importorskip("cupy")
        if not gpu_available("cupy"):
            pytest.skip("no CUDA GPU visible to CuPy")

        def conv(a):
            return xpmod.asarray(a)
    else:
        torch = pytest.importorskip("torch")
        if not gpu_available("torch"):
            pytest.skip("no CUDA GPU visible to torch")

        def conv(a):
            return torch.as_tensor(a, device="cuda")

    mu, cov = factor_problem(80, 13)
    lo, hi = np.zeros(80), np.full(80, 0.1)
    r_min, r_max = return_range(mu, lo, hi)
    tg = np.linspace(r_min, r_max, 32)[1:-1]
    a = qp_frontier(mu, cov, tg, lower=lo, upper=hi)
    g = qp_frontier(conv(mu), conv(cov), tg, lower=conv(lo), upper=conv(hi))
    assert g.status == a.status
    np.testing.assert_allclose(to_numpy(g.weights), a.weights, atol=1e-9)
    ms = qp_max_sharpe(conv(mu), conv(cov), lower=conv(lo), upper=conv(hi))
    np.testing.assert_allclose(
        to_numpy(ms.weights), qp_max_sharpe(mu, cov, lower=lo, upper=hi).weights, atol=1e-9
    )
