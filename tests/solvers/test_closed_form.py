from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from portfolio_lab.data import load_prices
from portfolio_lab.exceptions import InfeasibleTargetError
from portfolio_lab.solvers import LagrangeResult, markowitz_lagrange, max_sharpe, min_variance

from ._problems import cvx_markowitz, random_problem, real_like_problem


def _sp500_moments(last: int = 750) -> tuple[np.ndarray, np.ndarray]:
    # the bundled copy of skfolio's S&P 500 closes (tests/data/test_bundled.py checks that it
    # equals skfolio's file exactly): no skip without the bench extra
    prices = load_prices("sp500", validate=False).iloc[-(last + 1) :]
    rets = prices.pct_change().iloc[1:].to_numpy()
    return rets.mean(axis=0), np.cov(rets, rowvar=False)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [3, 10, 30])
def test_lagrange_matches_clarabel_on_random_problems(n: int, seed: int) -> None:
    mu, cov, r = random_problem(n, seed)
    res = markowitz_lagrange(mu, cov, r)
    np.testing.assert_allclose(res.weights, cvx_markowitz(mu, cov, r), atol=1e-6, rtol=0)


def test_lagrange_matches_clarabel_on_real_like_and_real_data() -> None:
    mu, cov = real_like_problem()
    r = float(np.quantile(mu, 0.8))
    np.testing.assert_allclose(
        markowitz_lagrange(mu, cov, r).weights, cvx_markowitz(mu, cov, r), atol=1e-6, rtol=0
    )
    mu, cov = _sp500_moments()
    r = float(np.quantile(mu, 0.7))
    res = markowitz_lagrange(mu, cov, r)
    np.testing.assert_allclose(res.weights, cvx_markowitz(mu, cov, r), atol=1e-6, rtol=0)
    assert res.kkt_residual < 1e-12


def test_lagrange_constants_and_multipliers_against_dense_solves() -> None:
    mu, cov, r = random_problem(7, seed=11)
    res = markowitz_lagrange(mu, cov, r)
    assert isinstance(res, LagrangeResult)
    ones = np.ones(7)
    sinv = np.linalg.solve(cov, np.column_stack([ones, mu]))
    a, b, c = ones @ sinv[:, 0], ones @ sinv[:, 1], mu @ sinv[:, 1]
    assert res.A == pytest.approx(a, rel=1e-12)
    assert res.B == pytest.approx(b, rel=1e-12)
    assert res.C == pytest.approx(c, rel=1e-12)
    assert res.delta == pytest.approx(a * c - b * b, rel=1e-10)
    lam, gam = res.multipliers
    # stationarity Σw = λμ + γ1, checked directly
    np.testing.assert_allclose(cov @ res.weights, lam * mu + gam * ones, atol=1e-12)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert res.expected_return == pytest.approx(r, abs=1e-12)
    assert res.variance == pytest.approx(res.weights @ cov @ res.weights, rel=1e-12)
    assert res.risk == pytest.approx(math.sqrt(res.variance))
    # frontier parabola σ² = (A r² − 2 B r + C) / Δ and σ² = λ r + γ
    assert res.variance == pytest.approx((a * r * r - 2 * b * r + c) / (a * c - b * b), rel=1e-10)
    assert res.variance == pytest.approx(lam * r + gam, rel=1e-10)
    assert res.kkt_residual < 1e-12
    assert res.status == "optimal" and res.method == "lagrange"


def test_kkt_residual_detects_a_perturbed_solution() -> None:
    mu, cov, r = random_problem(5, seed=3)
    res = markowitz_lagrange(mu, cov, r)
    lam, gam = res.multipliers
    w = res.weights + 1e-3 * np.eye(5)[0]
    resid = np.abs(cov @ w - lam * mu - gam).max()
    assert resid > 1e-4  # the check used above can fail


def test_min_variance_matches_clarabel_and_formula() -> None:
    for seed in range(3):
        _, cov, _ = random_problem(12, seed)
        res = min_variance(cov)
        np.testing.assert_allclose(res.weights, cvx_markowitz(None, cov), atol=1e-6, rtol=0)
        x = np.linalg.solve(cov, np.ones(12))
        assert res.variance == pytest.approx(1.0 / x.sum(), rel=1e-10)
        assert math.isnan(res.expected_return)
        (gam,) = res.multipliers
        np.testing.assert_allclose(cov @ res.weights, gam * np.ones(12), atol=1e-12)
        assert res.kkt_residual < 1e-12


def test_min_variance_is_the_bottom_of_the_frontier() -> None:
    mu, cov, _ = random_problem(6, seed=5)
    mv = min_variance(cov)
    lag = markowitz_lagrange(mu, cov, 0.0)
    r_mv = lag.B / lag.A
    assert markowitz_lagrange(mu, cov, r_mv).variance == pytest.approx(mv.variance, rel=1e-10)
    for dr in (-0.1, 0.1):
        assert markowitz_lagrange(mu, cov, r_mv + dr).variance > mv.variance


def _sharpe(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, rf: float) -> float:
    return float((w @ mu - rf) / np.sqrt(w @ cov @ w))


def _cvx_tangency(mu: np.ndarray, cov: np.ndarray, rf: float) -> np.ndarray:
    import cvxpy as cp

    y = cp.Variable(mu.size)
    scale = float(np.trace(cov) / mu.size)
    prob = cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov / scale))), [(mu - rf) @ y == 1])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return y.value / y.value.sum()


@pytest.mark.parametrize("rf", [0.0, -0.3])
def test_max_sharpe_matches_clarabel_and_beats_the_frontier(rf: float) -> None:
    mu, cov, _ = random_problem(8, seed=21)
    if rf >= markowitz_lagrange(mu, cov, 0.0).B / markowitz_lagrange(mu, cov, 0.0).A:
        pytest.skip("drawn problem has no tangency portfolio for this rf")
    res = max_sharpe(mu, cov, rf)
    np.testing.assert_allclose(res.weights, _cvx_tangency(mu, cov, rf), atol=1e-6, rtol=0)
    best = _sharpe(res.weights, mu, cov, rf)
    for r in np.linspace(mu.min(), mu.max(), 41):
        assert _sharpe(markowitz_lagrange(mu, cov, r).weights, mu, cov, rf) <= best + 1e-12
    lam, gam = res.multipliers
    np.testing.assert_allclose(cov @ res.weights, lam * mu + gam, atol=1e-12)
    assert res.kkt_residual < 1e-12
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_max_sharpe_on_real_data_matches_clarabel() -> None:
    mu, cov = _sp500_moments()
    res = max_sharpe(mu, cov, 0.0)
    np.testing.assert_allclose(res.weights, _cvx_tangency(mu, cov, 0.0), atol=1e-6, rtol=0)


def test_max_sharpe_raises_when_rf_above_min_variance_return() -> None:
    mu, cov, _ = random_problem(6, seed=2)
    lag = markowitz_lagrange(mu, cov, 0.0)
    r_mv = lag.B / lag.A
    below = max_sharpe(mu, cov, r_mv - 0.05)  # fine below: a point on the efficient branch
    assert below.status == "optimal" and below.expected_return > r_mv
    assert float(np.sum(below.weights)) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(InfeasibleTargetError, match="minimum-variance return"):
        max_sharpe(mu, cov, r_mv + 0.05)
    with pytest.raises(InfeasibleTargetError):
        max_sharpe(np.full(6, 0.1), cov, 0.1)  # μ − r_f 1 = 0


def test_outputs_stay_in_torch_and_inputs_may_be_lists_or_pandas() -> None:
    mu, cov, r = random_problem(5, seed=8)
    ref = markowitz_lagrange(mu, cov, r)
    res_t = markowitz_lagrange(torch.tensor(mu), torch.tensor(cov), torch.tensor(r))
    assert isinstance(res_t.weights, torch.Tensor) and res_t.weights.dtype == torch.float64
    assert isinstance(res_t.multipliers, torch.Tensor)
    assert isinstance(res_t.variance, float) and isinstance(res_t.A, float)
    np.testing.assert_allclose(res_t.weights.numpy(), ref.weights, atol=1e-12)
    res_f32 = markowitz_lagrange(torch.tensor(mu, dtype=torch.float32), torch.tensor(cov), r)
    assert res_f32.weights.dtype == torch.float64
    names = [f"a{i}" for i in range(5)]
    res_pd = markowitz_lagrange(
        pd.Series(mu, index=names), pd.DataFrame(cov, index=names, columns=names), r
    )
    np.testing.assert_allclose(res_pd.weights, ref.weights, atol=1e-14)
    res_list = markowitz_lagrange(mu.tolist(), cov.tolist(), r)
    assert isinstance(res_list.weights, np.ndarray)
    np.testing.assert_allclose(res_list.weights, ref.weights, atol=1e-14)
    mv = min_variance(torch.tensor(cov))
    assert isinstance(mv.weights, torch.Tensor)
    ms = max_sharpe(torch.tensor(mu), torch.tensor(cov), -5.0)
    assert isinstance(ms.weights, torch.Tensor)


def test_results_are_frozen() -> None:
    mu, cov, r = random_problem(3, seed=0)
    res = markowitz_lagrange(mu, cov, r)
    with pytest.raises(AttributeError):
        res.status = "changed"  # type: ignore[misc]
