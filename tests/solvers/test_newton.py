from __future__ import annotations

import numpy as np
import pytest
import torch

from portfolio_lab.exceptions import ConvergenceError, InfeasibleStartError, InputError
from portfolio_lab.solvers import (
    BarrierResult,
    NewtonObjective,
    NewtonResult,
    barrier_min_variance,
    barrier_objective,
    markowitz_lagrange,
    markowitz_newton,
    newton_equality,
)

from ._problems import cvx_markowitz, equicorrelated, random_problem, real_like_problem


@pytest.mark.parametrize("seed", range(5))
def test_newton_equals_lagrange_and_takes_one_full_step(seed: int) -> None:
    mu, cov, r = random_problem(10, seed)
    res = markowitz_newton(mu, cov, r)
    ref = markowitz_lagrange(mu, cov, r)
    assert isinstance(res, NewtonResult)
    np.testing.assert_allclose(res.weights, ref.weights, atol=1e-10, rtol=0)
    np.testing.assert_allclose(res.multipliers, ref.multipliers, rtol=1e-8, atol=1e-12)
    # quadratic objective: the first full Newton step is exact, the second test stops
    assert res.n_iter == 1 and res.step_sizes == (1.0,)
    assert len(res.decrements) == 2 and res.decrements[-1] <= 1e-10
    assert res.decrements[0] > 1e-10
    assert res.converged and res.status == "optimal" and res.method == "newton"
    assert res.kkt_residual < 1e-10
    assert res.variance == pytest.approx(ref.variance, rel=1e-10)


def test_newton_from_a_given_feasible_start() -> None:
    mu, cov = real_like_problem(8, seed=2)
    r = float(np.quantile(mu, 0.75))
    ref = markowitz_lagrange(mu, cov, r).weights
    # a feasible start: the optimum plus a direction in the null space of [μ; 1]
    a = np.vstack([mu, np.ones(8)])
    null = np.linalg.svd(a)[2][2:]
    x0 = ref + 0.3 * null[0] - 0.2 * null[3]
    res = markowitz_newton(mu, cov, r, x0=x0)
    assert res.n_iter == 1 and res.step_sizes == (1.0,)
    np.testing.assert_allclose(res.weights, ref, atol=1e-10)
    np.testing.assert_allclose(res.weights, cvx_markowitz(mu, cov, r), atol=1e-6)


def test_first_decrement_is_the_suboptimality_of_the_start() -> None:
    # on a quadratic, λ(x)²/2 = f(x) − p* exactly
    mu, cov, r = random_problem(6, seed=7)
    res = markowitz_newton(mu, cov, r)
    a = np.vstack([mu, np.ones(6)])
    x0 = np.linalg.lstsq(a, np.array([r, 1.0]), rcond=None)[0]
    gap = 0.5 * x0 @ cov @ x0 - 0.5 * res.variance
    assert res.decrements[0] == pytest.approx(gap, rel=1e-8)


def test_max_iter_zero_reports_non_convergence() -> None:
    mu, cov, r = random_problem(5, seed=1)
    res = markowitz_newton(mu, cov, r, max_iter=0)
    assert not res.converged and res.status == "max_iter" and res.n_iter == 0
    assert res.step_sizes == () and len(res.decrements) == 1
    np.testing.assert_allclose([res.weights @ mu, res.weights.sum()], [r, 1.0], atol=1e-12)
    with pytest.raises(ConvergenceError, match="max_iter"):
        markowitz_newton(mu, cov, r, max_iter=0, raise_on_failure=True)


def test_newton_torch_matches_numpy() -> None:
    mu, cov, r = random_problem(6, seed=3)
    res_np = markowitz_newton(mu, cov, r)
    res_t = markowitz_newton(torch.tensor(mu), torch.tensor(cov), r)
    assert isinstance(res_t.weights, torch.Tensor)
    np.testing.assert_allclose(res_t.weights.numpy(), res_np.weights, atol=1e-12)


def test_infeasible_start_is_rejected() -> None:
    mu, cov, r = random_problem(4, seed=0)
    with pytest.raises(InfeasibleStartError, match="violates"):
        markowitz_newton(mu, cov, r, x0=np.full(4, 0.25) + 0.01)
    ref = markowitz_lagrange(mu, cov, r).weights
    res = markowitz_newton(mu, cov, r, x0=ref + 1e-13)  # rounding-level violation is fine
    assert res.converged
    np.testing.assert_allclose(res.weights, ref, rtol=0.0, atol=1e-10)


def _exp_objective(c: np.ndarray) -> NewtonObjective:
    return NewtonObjective(
        value=lambda x: float(np.exp(c * x).sum() + 0.5 * x @ x),
        grad=lambda x: c * np.exp(c * x) + x,
        hess=lambda x: np.diag(c * c * np.exp(c * x)) + np.eye(x.size),
        name="Σ exp(c x) + ½‖x‖²",
    )


def test_newton_equality_on_a_non_quadratic_matches_clarabel() -> None:
    import cvxpy as cp

    rng = np.random.default_rng(0)
    n, p = 8, 3
    c = rng.uniform(0.5, 2.0, n)
    a = rng.standard_normal((p, n))
    x0 = rng.standard_normal(n)
    b = a @ x0
    tr = newton_equality(_exp_objective(c), a, b, x0, tol=1e-14)
    assert tr.converged and tr.status == "optimal"
    assert len(tr.values) == tr.n_iter + 1 and all(np.diff(tr.values) <= 0)
    # KKT: ∇f(x) + Aᵀν = 0, Ax = b
    grad = c * np.exp(c * tr.x) + tr.x
    np.testing.assert_allclose(grad + a.T @ tr.nu, 0.0, atol=1e-8)
    np.testing.assert_allclose(a @ tr.x, b, atol=1e-10)
    x = cp.Variable(n)
    cp.Problem(
        cp.Minimize(cp.sum(cp.exp(cp.multiply(c, x))) + 0.5 * cp.sum_squares(x)), [a @ x == b]
    ).solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    # interior-point solutions through exponential cones are accurate to ~1e-6 only;
    # the KKT check above is the tight one, and Newton's point is at least as good
    np.testing.assert_allclose(tr.x, x.value, atol=1e-5)
    xc = np.asarray(x.value)
    xc = xc - a.T @ np.linalg.solve(a @ a.T, a @ xc - b)  # project onto Ax = b
    assert _exp_objective(c).value(tr.x) <= _exp_objective(c).value(xc) + 1e-12


def test_newton_equality_rejects_bad_parameters_and_rank_deficient_a() -> None:
    obj = _exp_objective(np.ones(3))
    a, b, x0 = np.ones((1, 3)), np.ones(1), np.full(3, 1 / 3)
    for kwargs in ({"alpha": 0.5}, {"beta": 1.0}, {"tol": 0.0}, {"max_iter": -1}):
        with pytest.raises(InputError):
            newton_equality(obj, a, b, x0, **kwargs)
    with pytest.raises(InputError, match="full row rank"):
        newton_equality(obj, np.ones((2, 3)), np.ones(2), x0)
    with pytest.raises(InputError, match="different array libraries"):
        newton_equality(obj, a, b, torch.tensor(x0))


def _barrier_reference(cov: np.ndarray, t: float) -> np.ndarray:
    import cvxpy as cp

    w = cp.Variable(cov.shape[0])
    obj = 0.5 * t * cp.quad_form(w, cp.psd_wrap(cov)) - cp.sum(cp.log(w))
    cp.Problem(cp.Minimize(obj), [cp.sum(w) == 1]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10
    )
    return np.asarray(w.value)


def test_barrier_centering_matches_clarabel_and_shows_both_phases() -> None:
    cov = equicorrelated(10, 0.9)
    t = 1e6
    res = barrier_min_variance(cov, t)
    assert isinstance(res, BarrierResult)
    assert res.converged and res.status == "optimal" and res.method == "newton_barrier"
    np.testing.assert_allclose(res.weights, _barrier_reference(cov, t), atol=1e-6)
    assert (res.weights > 0).all() and res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    steps = np.array(res.step_sizes)
    # damped phase first (backtracking shortens the step), pure Newton steps at the end
    assert steps[0] < 1.0 and (steps[-3:] == 1.0).all()
    # quadratic phase: once steps are full, each decrement is at most ~ the square of the last
    d = np.array(res.decrements)
    full = np.flatnonzero(steps == 1.0)
    tail = d[full[0] + 1 : -1]
    assert (tail[1:] <= 10.0 * tail[:-1] ** 2 + 1e-12).all()
    assert len(res.objective_values) == res.n_iter + 1
    assert np.all(np.diff(res.objective_values) < 0)
    assert res.t == t and res.gap_bound == pytest.approx(10 / t)


def test_barrier_central_point_is_within_n_over_t_of_long_only_min_variance() -> None:
    cov = equicorrelated(10, 0.9)
    w_lo = cvx_markowitz(None, cov, long_only=True)
    p_star = 0.5 * w_lo @ cov @ w_lo
    for t in (1e4, 1e6):
        res = barrier_min_variance(cov, t)
        gap = 0.5 * res.variance - p_star
        assert -1e-12 <= gap <= res.gap_bound
    # and the gap bound is not vacuous: for small t the point is far from w_lo
    assert np.abs(barrier_min_variance(cov, 1e3).weights - w_lo).max() > 0.1


def test_barrier_objective_derivatives_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    _, cov, _ = random_problem(5, seed=0)
    obj = barrier_objective(cov, 3.0, __import__("array_api_compat.numpy").numpy)
    w = rng.uniform(0.1, 0.4, 5)
    h = 1e-6
    eye = np.eye(5)
    fd_grad = np.array([(obj.value(w + h * e) - obj.value(w - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(obj.grad(w), fd_grad, rtol=1e-6, atol=1e-6)
    fd_hess = np.column_stack([(obj.grad(w + h * e) - obj.grad(w - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(obj.hess(w), fd_hess, rtol=1e-6, atol=1e-5)
    assert obj.in_domain(w) and not obj.in_domain(w - 0.2)


def test_barrier_errors() -> None:
    cov = equicorrelated(4, 0.5)
    with pytest.raises(InputError, match="positive"):
        barrier_min_variance(cov, 0.0)
    with pytest.raises(InfeasibleStartError, match="domain"):
        barrier_min_variance(cov, 10.0, x0=np.array([1.2, -0.2, 0.0, 0.0]))
    with pytest.raises(InfeasibleStartError, match="violates"):
        barrier_min_variance(cov, 10.0, x0=np.full(4, 0.3))
    with pytest.raises(ConvergenceError):
        barrier_min_variance(equicorrelated(10, 0.9), 1e6, max_iter=2, raise_on_failure=True)
    res = barrier_min_variance(equicorrelated(10, 0.9), 1e6, max_iter=2)
    assert not res.converged and res.status == "max_iter" and res.n_iter == 2


def test_barrier_torch_matches_numpy() -> None:
    cov = equicorrelated(6, 0.8)
    ref = barrier_min_variance(cov, 1e5)
    res = barrier_min_variance(torch.tensor(cov), 1e5)
    assert isinstance(res.weights, torch.Tensor)
    np.testing.assert_allclose(res.weights.numpy(), ref.weights, atol=1e-10)
    assert res.step_sizes == ref.step_sizes
