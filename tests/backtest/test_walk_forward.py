from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from portfolio_lab.backtest import MarkowitzPolicy, WalkForwardSchedule, run
from portfolio_lab.backtest.walk_forward import COVARIANCES, estimate_covariance
from portfolio_lab.exceptions import InputError


def make_prices(T=160, n=5, seed=0):
    rng = np.random.default_rng(seed)
    vols = np.linspace(0.008, 0.02, n)
    steps = rng.normal(0.0004, 1.0, size=(T, n)) * vols
    index = pd.bdate_range("2019-01-01", periods=T, name="date")
    return pd.DataFrame(np.exp(np.cumsum(steps, axis=0)), index=index)


def relatives(prices):
    p = prices.to_numpy()
    return p[1:] / p[:-1]


def test_schedule_actions():
    s = WalkForwardSchedule(window=5, rebalance_every=2, refit_every=4)
    actions = [s.action(t) for t in range(14)]
    assert actions[0] == "start"
    assert actions[1:5] == ["hold"] * 4
    assert actions[5:14] == [
        "refit", "hold", "rebalance", "hold", "refit", "hold", "rebalance", "hold", "refit",
    ]  # fmt: skip
    np.testing.assert_array_equal(s.refit_periods(14), [5, 9, 13])
    assert s.train(9) == slice(4, 9)
    assert WalkForwardSchedule(window=5, expanding=True).train(9) == slice(0, 9)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(window=1),
        dict(window=5, rebalance_every=0),
        dict(window=5, rebalance_every=2, refit_every=3),
    ],
)
def test_schedule_rejects_bad_values(kwargs):
    with pytest.raises(InputError):
        WalkForwardSchedule(**kwargs)


def test_gmv_targets_equal_closed_form_on_each_window():
    prices = make_prices()
    window, every = 40, 10
    res = run(MarkowitzPolicy("gmv", "sample", window=window, rebalance_every=every), prices)
    x = relatives(prices)
    w = res.weights.to_numpy()
    for t in range(window, len(x), every):
        cov = np.cov(x[t - window : t] - 1, rowvar=False)
        ref = np.linalg.solve(cov, np.ones(x.shape[1]))
        np.testing.assert_allclose(w[t], ref / ref.sum(), atol=1e-10)
    # between rebalances the policy holds: no turnover
    hold = [t for t in range(1, len(x)) if t < window or (t - window) % every]
    assert res.turnover.iloc[hold].max() < 1e-12
    # before the first fit: uniform bought once and held
    np.testing.assert_allclose(w[0], 0.2)


def test_expanding_window_and_refit_schedule():
    prices = make_prices()
    pol = MarkowitzPolicy(
        "gmv", "sample", window=30, expanding=True, rebalance_every=5, refit_every=15
    )
    res = run(pol, prices)
    x = relatives(prices)
    w = res.weights.to_numpy()
    for t in (30, 45, 60):
        cov = np.cov(x[:t] - 1, rowvar=False)
        ref = np.linalg.solve(cov, np.ones(5))
        np.testing.assert_allclose(w[t], ref / ref.sum(), atol=1e-10)
    # a rebalance between refits goes back to the last target
    np.testing.assert_allclose(w[35], w[30], atol=1e-14)
    np.testing.assert_allclose(w[40], w[30], atol=1e-14)
    assert [r["t"] for r in pol.fit_log_] == list(range(30, len(x), 15))


def test_long_only_max_sharpe_matches_cvxpy():
    prices = make_prices(seed=4)
    x = relatives(prices)
    pol = MarkowitzPolicy(
        "max_sharpe", "ledoit_wolf", window=60, rebalance_every=200, long_only=True
    )
    res = run(pol, prices)
    r = x[:60] - 1
    mu = r.mean(axis=0)
    cov = estimate_covariance(r, "ledoit_wolf")
    # tangency portfolio by the Cornuejols-Tutuncu homogenization, solved by Clarabel
    y = cp.Variable(5)
    problem = cp.Problem(cp.Minimize(cp.quad_form(y, cov)), [mu @ y == 1, y >= 0])
    problem.solve(solver=cp.CLARABEL)
    ref = y.value / y.value.sum()
    got = res.weights.to_numpy()[60]
    assert got.min() >= 0
    sharpe = lambda w: (w @ mu) / np.sqrt(w @ cov @ w)  # noqa: E731
    assert sharpe(got) == pytest.approx(sharpe(ref), rel=1e-5)


def test_target_return_meets_its_target():
    prices = make_prices(seed=5)
    x = relatives(prices)
    pol = MarkowitzPolicy(
        "target_return", "sample", window=50, rebalance_every=25, target_return=0.0005
    )
    res = run(pol, prices)
    for t in (50, 75, 100):
        mu = (x[t - 50 : t] - 1).mean(axis=0)
        assert res.weights.to_numpy()[t] @ mu == pytest.approx(0.0005, abs=1e-12)


@pytest.mark.parametrize("name", COVARIANCES)
def test_every_covariance_name_runs(name):
    prices = make_prices(T=100)
    pol = MarkowitzPolicy("gmv", name, window=40, rebalance_every=20)
    res = run(pol, prices, fee=0.001)
    assert np.isfinite(res.wealth).all()
    assert all(not r["fallback"] for r in pol.fit_log_)


def test_ledoit_wolf_name_is_sklearns_estimator():
    sklearn_cov = pytest.importorskip("sklearn.covariance")
    r = relatives(make_prices())[:60] - 1
    np.testing.assert_allclose(
        estimate_covariance(r, "ledoit_wolf"),
        sklearn_cov.LedoitWolf().fit(r).covariance_,
        rtol=1e-10,
    )
    np.testing.assert_allclose(estimate_covariance(r, "sample"), np.cov(r, rowvar=False))
    np.testing.assert_allclose(
        estimate_covariance(r, lambda a: np.diag(a.var(axis=0))), np.diag(r.var(axis=0))
    )


def test_singular_window_falls_back_and_logs():
    prices = make_prices(T=60, n=8)
    pol = MarkowitzPolicy("gmv", "sample", window=4, rebalance_every=10)  # 4 rows < 8 assets
    res = run(pol, prices)
    assert pol.fit_log_ and all(r["fallback"] for r in pol.fit_log_)
    np.testing.assert_allclose(res.weights.to_numpy()[4], 1 / 8)


def test_equal_weight_kind_rebalances_to_uniform():
    prices = make_prices()
    res = run(MarkowitzPolicy("equal_weight", window=20, rebalance_every=7), prices)
    w = res.weights.to_numpy()
    np.testing.assert_allclose(w[20::7], 0.2)
    assert res.weights.index.equals(prices.index[1:])


def test_bad_arguments():
    with pytest.raises(InputError):
        MarkowitzPolicy("risk_parity")
    with pytest.raises(InputError):
        MarkowitzPolicy("gmv", "shrunk")
    with pytest.raises(InputError):
        estimate_covariance(np.zeros((5, 2)), "nope")
