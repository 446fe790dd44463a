"""Metrics against hand-computed cases and independent (empyrical-style) formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.backtest import metrics as m
from portfolio_lab.exceptions import InputError, ShapeError

returns_lists = st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=3, max_size=60)


def daily(seed=0, T=500, mean=0.0004, sd=0.01):
    return np.random.default_rng(seed).normal(mean, sd, size=T)


# ---------------------------------------------------------------- independent formulas
def ref_annual_return(r, P=252):
    total = 1.0
    for x in r:
        total *= 1 + x
    return total ** (P / len(r)) - 1


def ref_sharpe(r, P=252):
    mean = sum(r) / len(r)
    var = sum((x - mean) ** 2 for x in r) / (len(r) - 1)
    return mean / math.sqrt(var) * math.sqrt(P)


def ref_sortino(r, P=252):
    # empyrical: annualized mean over annualized downside risk
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r)) * math.sqrt(P)
    return (sum(r) / len(r)) * P / downside


def ref_max_drawdown(r):
    wealth, peak, worst = 1.0, 1.0, 0.0
    for x in r:
        wealth *= 1 + x
        peak = max(peak, wealth)
        worst = max(worst, 1 - wealth / peak)
    return worst


# ---------------------------------------------------------------- hand cases
def test_hand_computed_drawdowns():
    assert m.max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(0.5)
    # the starting wealth of 1 counts as a peak
    assert m.max_drawdown([-0.2, 0.1]) == pytest.approx(0.2)
    np.testing.assert_allclose(m.drawdown([-0.2, 0.1]), [-0.2, -0.12])
    assert m.max_drawdown([0.01, 0.02]) == 0.0
    assert math.isnan(m.calmar_ratio([0.01, 0.02]))


def test_hand_computed_growth():
    assert m.cumulative_wealth([0.1, -0.5, 0.2]) == pytest.approx(1.1 * 0.5 * 1.2)
    # two periods of +10% with 2 periods a year is 21% a year
    assert m.annualized_return([0.1, 0.1], periods_per_year=2) == pytest.approx(0.21)
    assert m.annualized_volatility([0.01, 0.03], periods_per_year=4) == pytest.approx(
        np.std([0.01, 0.03], ddof=1) * 2
    )


def test_drawdown_keeps_the_series_index():
    idx = pd.date_range("2020-01-01", periods=3)
    dd = m.drawdown(pd.Series([0.1, -0.5, 0.2], index=idx))
    assert isinstance(dd, pd.Series) and dd.index.equals(idx) and dd.name == "drawdown"
    np.testing.assert_allclose(dd.to_numpy(), [0.0, -0.5, -0.4], atol=1e-15)  # W: 1.1, .55, .66


@settings(max_examples=100, deadline=None)
@given(returns_lists)
def test_against_independent_formulas(r):
    assert m.annualized_return(r) == pytest.approx(ref_annual_return(r), rel=1e-9, abs=1e-12)
    assert m.max_drawdown(r) == pytest.approx(ref_max_drawdown(r), abs=1e-12)
    if np.std(r) > 1e-6:
        assert m.sharpe_ratio(r) == pytest.approx(ref_sharpe(r), rel=1e-9)
    if min(r) < -1e-3:
        assert m.sortino_ratio(r) == pytest.approx(ref_sortino(r), rel=1e-9)
    elif min(r) >= 0.0:  # no downside: +inf with a positive mean, NaN when all are zero
        expected = math.inf if sum(r) > 0 else math.nan
        assert m.sortino_ratio(r) == pytest.approx(expected, nan_ok=True)


def test_sharpe_with_risk_free_series():
    r = daily()
    rf = np.full_like(r, 0.0001)
    assert m.sharpe_ratio(r, rf) == pytest.approx(ref_sharpe(list(r - 0.0001)), rel=1e-12)
    with pytest.raises(ShapeError):
        m.sharpe_ratio(r, rf[:-1])


def test_lo_standard_error():
    r = daily(T=1000)
    sr1 = np.mean(r) / np.std(r, ddof=1)
    expected = math.sqrt((1 + sr1**2 / 2) / 1000) * math.sqrt(252)
    assert m.sharpe_standard_error(r) == pytest.approx(expected, rel=1e-12)


def test_stationary_bootstrap_indices_are_wrapped_blocks():
    rng = np.random.default_rng(0)
    idx = m.stationary_bootstrap_indices(100, 400, 5.0, rng)
    assert idx.shape == (400, 100) and idx.min() >= 0 and idx.max() < 100
    steps = (np.diff(idx, axis=1) % 100) == 1
    # a new block starts with probability 1/5 (a continuing step may also jump by 1)
    assert 1 - steps.mean() == pytest.approx(0.2 * 0.99, abs=0.01)
    assert np.array_equal(
        idx, m.stationary_bootstrap_indices(100, 400, 5.0, np.random.default_rng(0))
    )


def test_bootstrap_interval_is_reproducible_and_sensible():
    r = daily(T=2000, seed=1)
    low, high = m.sharpe_bootstrap_ci(r, n_samples=400, seed=7)
    assert (low, high) == m.sharpe_bootstrap_ci(r, n_samples=400, seed=7)
    sr = m.sharpe_ratio(r)
    assert low < sr < high
    # for IID returns the interval has about the width of the Lo standard error
    width = (high - low) / (2 * 1.96)
    assert width == pytest.approx(m.sharpe_standard_error(r), rel=0.25)


def test_turnover_average_skips_the_entry():
    assert m.average_turnover([1.0, 0.1, 0.3]) == pytest.approx(0.2)
    assert m.average_turnover([1.0, 0.1, 0.3], skip_first=False) == pytest.approx(1.4 / 3)


# ---------------------------------------------------------------- regression
def ref_ols(y, x):
    """Simple-regression formulas (no matrix algebra)."""
    T = len(y)
    xm, ym = x.mean(), y.mean()
    sxx = ((x - xm) ** 2).sum()
    beta = ((x - xm) * (y - ym)).sum() / sxx
    alpha = ym - beta * xm
    resid = y - alpha - beta * x
    s2 = (resid**2).sum() / (T - 2)
    se_beta = math.sqrt(s2 / sxx)
    se_alpha = math.sqrt(s2 * (1 / T + xm**2 / sxx))
    return alpha, beta, alpha / se_alpha, beta / se_beta


def ref_newey_west(y, x, lags):
    T = len(y)
    X = np.column_stack([np.ones(T), x])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ coef
    S = np.zeros((2, 2))
    for t in range(T):
        S += e[t] ** 2 * np.outer(X[t], X[t])
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        for t in range(lag, T):
            G = e[t] * e[t - lag] * np.outer(X[t], X[t - lag])
            S += w * (G + G.T)
    bread = np.linalg.pinv(X.T @ X)
    cov = bread @ S @ bread
    return coef / np.sqrt(np.diag(cov))


def test_alpha_beta_against_simple_regression():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0003, 0.01, 400)
    y = 0.0002 + 1.3 * x + rng.normal(0, 0.004, 400)
    res = m.alpha_beta(y, x)
    alpha, beta, t_a, t_b = ref_ols(y, x)
    assert res.alpha == pytest.approx(alpha, rel=1e-10)
    assert res.beta == pytest.approx(beta, rel=1e-12)
    assert res.alpha_t == pytest.approx(t_a, rel=1e-9)
    assert res.beta_t == pytest.approx(t_b, rel=1e-10)
    assert res.alpha_annual == pytest.approx(252 * alpha, rel=1e-10)
    assert res.r_squared == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)


def test_newey_west_t_statistics():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.01, 300)
    noise = np.convolve(rng.normal(0, 0.005, 302), [1, 0.6, 0.3], mode="valid")
    y = 0.0001 + 0.8 * x + noise
    res = m.alpha_beta(y, x, hac_lags=4)
    t_a, t_b = ref_newey_west(y, x, 4)
    assert res.alpha_t == pytest.approx(t_a, rel=1e-9)
    assert res.beta_t == pytest.approx(t_b, rel=1e-9)
    # zero lags is White's heteroskedasticity-robust estimator, unlike the classical one
    white = m.alpha_beta(y, x, hac_lags=0)
    assert white.beta_t == pytest.approx(ref_newey_west(y, x, 0)[1], rel=1e-9)


def test_alpha_beta_with_risk_free():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0003, 0.01, 200)
    y = x * 0.5 + 0.0001
    res = m.alpha_beta(y, x, risk_free=0.0001)
    # y - rf = 0.5 (x - rf) + 0.5 rf  exactly
    assert res.beta == pytest.approx(0.5, rel=1e-12)
    assert res.alpha == pytest.approx(0.00005, rel=1e-9)


def test_summary_keys_and_bad_input():
    r = daily(T=300)
    out = m.summary(r, benchmark=daily(T=300, seed=9), turnover=np.full(300, 0.1))
    for key in ("final_wealth", "sharpe", "sharpe_ci_low", "max_drawdown", "turnover", "beta_t"):
        assert key in out
    assert out["turnover"] == pytest.approx(0.1)
    with pytest.raises(InputError):
        m.sharpe_ratio([0.1, np.nan, 0.2])
    with pytest.raises(InputError):
        m.cumulative_wealth([0.1, -1.0])
    with pytest.raises(ShapeError):
        m.max_drawdown(np.zeros((2, 2)))
    with pytest.raises(InputError):
        m.sharpe_bootstrap_ci(r, level=1.5)
