from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from portfolio_lab.backtest import BacktestResult, BuyAndHold, ConstantRebalanced, Policy, run
from portfolio_lab.exceptions import InputError, InvalidPricesError, NonFiniteError, ShapeError


def make_prices(T=120, n=4, seed=0):
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.015, size=(T, n))
    index = pd.bdate_range("2020-01-01", periods=T, name="date")
    return pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=[f"s{i}" for i in range(n)]
    )


class Momentum(Policy):
    """Weights proportional to the last relative (a history-dependent test policy)."""

    name = "momentum"

    def step(self, history, held):
        if history.shape[0] == 0:
            return np.full(history.shape[1], 1.0 / history.shape[1])
        last = history[-1] ** 20
        return last / last.sum()


def mu_by_root(held, target, c_p, c_s):
    """Remainder factor from trade-by-trade cash accounting, no explicit cash column."""
    h0, w0 = 1 - held.sum(), 1 - target.sum()

    def gap(mu):
        sold = np.clip(held - mu * target, 0, None).sum()
        bought = np.clip(mu * target - held, 0, None).sum()
        return h0 + (1 - c_s) * sold - bought / (1 - c_p) - mu * w0

    return brentq(gap, 1e-9, 1 + 1e-9, xtol=1e-15)


def reference_loop(policy, prices, c_p, c_s):
    """Direct simulation written independently of the engine."""
    p = prices.to_numpy()
    x = p[1:] / p[:-1]
    T, n = x.shape
    policy.reset(n)
    held_pre = np.zeros(n)  # start from cash
    shown = np.full(n, 1.0 / n)
    wealth, value = [], 1.0
    for t in range(T):
        w = policy.step(x[:t].copy(), shown.copy())
        mu = mu_by_root(held_pre, w, c_p, c_s) if (c_p or c_s) else 1.0
        value *= mu * float(w @ x[t])
        wealth.append(value)
        held_pre = w * x[t] / float(w @ x[t])
        shown = held_pre
    return np.array(wealth)


@pytest.mark.parametrize("fees", [(0.0, 0.0), (0.002, 0.002), (0.004, 0.001)])
@pytest.mark.parametrize(
    "make",
    [Momentum, ConstantRebalanced, BuyAndHold, lambda: ConstantRebalanced([0.7, 0.1, 0.1, 0.1])],
)
def test_engine_matches_direct_loop(make, fees):
    prices = make_prices()
    res = run(make(), prices, buy_fee=fees[0], sell_fee=fees[1])
    ref = reference_loop(make(), prices, *fees)
    np.testing.assert_allclose(res.wealth.to_numpy(), ref, rtol=1e-11)


def test_contract_dates_and_first_period():
    prices = make_prices(T=10, n=3)
    res = run(ConstantRebalanced(), prices, fee=0.01)
    assert res.wealth.index.equals(prices.index[1:])
    assert res.weights.index.equals(prices.index[1:])
    assert list(res.weights.columns) == list(prices.columns)
    x0 = (prices.iloc[1] / prices.iloc[0]).to_numpy()
    # entering from cash pays the purchase rate on everything
    assert res.wealth.iloc[0] == pytest.approx(0.99 * x0.mean(), rel=1e-14)
    assert res.turnover.iloc[0] == pytest.approx(1.0)


def test_crp_without_costs_is_a_product_of_portfolio_relatives():
    prices = make_prices(n=3)
    w = np.array([0.5, 0.3, 0.2])
    res = run(ConstantRebalanced(w), prices)
    x = prices.to_numpy()[1:] / prices.to_numpy()[:-1]
    np.testing.assert_allclose(res.wealth.to_numpy(), np.cumprod(x @ w), rtol=1e-13)


def test_buy_and_hold_is_the_average_price_ratio():
    prices = make_prices(n=5)
    res = run(BuyAndHold(), prices)
    growth = prices.iloc[-1] / prices.iloc[0]
    assert res.final_wealth == pytest.approx(growth.mean(), rel=1e-12)
    # no trade after the first period
    assert res.turnover.iloc[1:].abs().max() < 1e-12
    np.testing.assert_allclose(res.remainder.iloc[1:], 1.0, rtol=0.0, atol=1e-15)


@pytest.mark.parametrize("policy", [ConstantRebalanced(), BuyAndHold()])
@pytest.mark.parametrize("costs", ["exact", "linear"])
@pytest.mark.parametrize("cash", [False, True])
def test_vectorized_path_equals_loop(policy, costs, cash):
    prices = make_prices(T=200, n=5, seed=2)
    kw = dict(buy_fee=0.003, sell_fee=0.005, costs=costs, cash=cash)
    fast = run(policy, prices, **kw)
    slow = run(policy, prices, vectorized=False, **kw)
    assert fast.params["engine"] == "vectorized" and slow.params["engine"] == "loop"
    np.testing.assert_allclose(fast.weights.to_numpy(), slow.weights.to_numpy(), atol=1e-14)
    np.testing.assert_allclose(fast.wealth.to_numpy(), slow.wealth.to_numpy(), rtol=1e-11)
    np.testing.assert_allclose(fast.turnover.to_numpy(), slow.turnover.to_numpy(), atol=1e-13)


def test_relatives_input_equals_prices_input():
    prices = make_prices(n=3)
    rel = prices.iloc[1:] / prices.shift(1).iloc[1:].to_numpy()
    a = run(Momentum(), prices, fee=0.002)
    b = run(Momentum(), rel, fee=0.002, relatives=True)
    np.testing.assert_allclose(a.wealth.to_numpy(), b.wealth.to_numpy(), rtol=1e-13)


class AllCash(Policy):
    name = "cash"

    def step(self, history, held):
        w = np.zeros(history.shape[1])
        w[0] = 1.0
        return w


def test_cash_asset_and_risk_free_series():
    prices = make_prices(T=30, n=3)
    res = run(AllCash(), prices, fee=0.01, cash=True)
    assert list(res.weights.columns) == ["cash", *prices.columns]
    np.testing.assert_allclose(res.wealth.to_numpy(), 1.0, atol=1e-15)
    rf = pd.Series(0.0001, index=prices.index[1:])
    res = run(AllCash(), prices, fee=0.01, cash=rf)
    assert res.final_wealth == pytest.approx(1.0001 ** (len(prices) - 1), rel=1e-13)


def test_cash_column_costs_only_the_risky_trades():
    prices = make_prices(T=3, n=2)
    res = run(ConstantRebalanced([0.5, 0.25, 0.25]), prices, fee=0.01, cash=True)
    # from all cash to half invested: μ(1 - c·0.5) = 1 - c
    assert res.remainder.iloc[0] == pytest.approx(0.99 / 0.995, rel=1e-14)


def test_benchmark_returns_are_aligned():
    prices = make_prices(T=50, n=3)
    bench = prices.mean(axis=1).rename("idx")
    res = run(ConstantRebalanced(), prices, benchmark=bench)
    np.testing.assert_allclose(
        res.benchmark_returns.to_numpy(), bench.pct_change().iloc[1:].to_numpy(), rtol=1e-13
    )
    assert {"alpha", "beta", "alpha_t", "beta_t"} <= set(res.metrics)
    with pytest.raises(InputError, match="benchmark"):
        run(ConstantRebalanced(), prices, benchmark=bench.iloc[5:])


class Hindsight(Policy):
    name = "best"
    hindsight = True

    def fit_hindsight(self, relatives):
        self.best_ = int(np.argmax(np.prod(relatives, axis=0)))

    def step(self, history, held):
        w = np.zeros(history.shape[1])
        w[self.best_] = 1.0
        return w


def test_hindsight_policies_are_fitted_and_labelled():
    prices = make_prices(n=4)
    res = run(Hindsight(), prices)
    assert res.hindsight
    assert res.final_wealth == pytest.approx((prices.iloc[-1] / prices.iloc[0]).max(), rel=1e-12)


class Bad(Policy):
    def __init__(self, w):
        self.w = w

    def step(self, history, held):
        return self.w


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        (np.array([0.5, 0.5]), ShapeError),
        (np.array([0.5, 0.5, 0.5]), InputError),
        (np.array([1.5, -0.5, 0.0]), InputError),
        (np.array([np.nan, 0.5, 0.5]), NonFiniteError),
    ],
)
def test_bad_policy_output_raises(weights, error):
    with pytest.raises(error):
        run(Bad(weights), make_prices(T=5, n=3))


@pytest.mark.parametrize("vectorized", [True, False])
def test_bankruptcy_of_a_leveraged_policy_raises(vectorized):
    prices = make_prices(T=6, n=2)
    prices.iloc[3:, 0] *= 3.0  # asset 0 triples: a 150% short in it loses everything
    policy = ConstantRebalanced([-1.5, 2.5], allow_short=True)
    with pytest.raises(InputError, match="lost everything"):
        run(policy, prices, vectorized=vectorized)


def test_bad_arguments_raise():
    prices = make_prices(T=5, n=3)
    with pytest.raises(InputError):
        run(ConstantRebalanced(), prices, fee=1.5)
    with pytest.raises(InputError):
        run(ConstantRebalanced(), prices, costs="quadratic")
    with pytest.raises(InputError):
        run("not a policy", prices)
    bad = prices.copy()
    bad.iloc[2, 1] = -1.0
    with pytest.raises(InvalidPricesError):
        run(ConstantRebalanced(), bad)
    with pytest.raises(ShapeError):
        run(ConstantRebalanced(), prices.iloc[:1])


def test_progress_bar_can_be_shown(capsys):
    res = run(Momentum(), make_prices(T=20, n=3), progress=True)
    assert len(res.wealth) == 19
    err = capsys.readouterr().err
    assert f"{res.name}:" in err and "/19 [" in err  # the bar counts the 19 periods
    run(Momentum(), make_prices(T=20, n=3))
    assert capsys.readouterr().err == ""  # and stays silent by default


def test_result_json_round_trip_and_since(tmp_path):
    prices = make_prices(T=80, n=3)
    res = run(Momentum(), prices, fee=0.001, benchmark=prices.iloc[:, 0])
    path = res.to_json(tmp_path / "run.json", include_weights=True)
    back = BacktestResult.from_json(path)
    pd.testing.assert_series_equal(back.wealth, res.wealth, check_freq=False)
    pd.testing.assert_frame_equal(back.weights, res.weights, check_freq=False)
    assert back.metrics == pytest.approx(res.metrics, nan_ok=True)
    later = res.since(prices.index[40])
    assert later.wealth.index[0] == prices.index[40]
    np.testing.assert_allclose(
        later.wealth.to_numpy(),
        res.wealth.iloc[39:].to_numpy() / res.wealth.iloc[38],  # prices row 40 = wealth row 39
        rtol=1e-13,
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000), st.floats(0.0, 0.01))
def test_permuting_and_rescaling_assets_changes_nothing(n, seed, fee):
    prices = make_prices(T=40, n=n, seed=seed)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    w = rng.dirichlet(np.ones(n))
    base = run(ConstantRebalanced(w), prices, fee=fee, vectorized=False)
    shuffled = prices.iloc[:, perm] * rng.uniform(0.1, 10.0, size=n)  # units do not matter
    moved = run(ConstantRebalanced(w[perm]), shuffled, fee=fee, vectorized=False)
    np.testing.assert_allclose(moved.wealth.to_numpy(), base.wealth.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        moved.weights.to_numpy(), base.weights.to_numpy()[:, perm], atol=1e-15
    )
