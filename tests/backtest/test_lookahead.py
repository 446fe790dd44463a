"""Changing the future never changes past decisions, whatever the policy tries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.backtest import (
    BuyAndHold,
    ConstantRebalanced,
    MarkowitzPolicy,
    Policy,
    baseline,
    run,
)
from portfolio_lab.models import LSTMSharpe, MarkowitzForecaster, WalkForwardPolicy


def _lstm(**options):
    model = LSTMSharpe(window=5, hidden_size=3, epochs=2, batch_size=8, random_state=0, **options)
    return WalkForwardPolicy(model, refit_every=20, rebalance_every=2)


def make_prices(T=80, n=4, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2021-01-01", periods=T, name="date")
    steps = rng.normal(0.0, 0.02, size=(T, n))
    return pd.DataFrame(np.exp(np.cumsum(steps, axis=0)), index=index, columns=list("abcd")[:n])


class Momentum(Policy):
    name = "momentum"

    def step(self, history, held):
        if len(history) == 0:
            return np.full(history.shape[1], 1.0 / history.shape[1])
        last = np.prod(history[-5:], axis=0) ** 10
        return last / last.sum()


class Cheater(Policy):
    """Tries every way to read past the end of its history."""

    name = "cheater"

    def reset(self, n_assets):
        super().reset(n_assets)
        self.peeks_ = []

    def step(self, history, held):
        t = history.shape[0]
        n = history.shape[1]
        try:
            ahead = history[t]  # out of bounds for a (t, n) array
        except IndexError:
            ahead = None
        assert ahead is None
        base = history.base
        while base is not None and getattr(base, "base", None) is not None:
            base = base.base
        if base is not None and base.shape[0] > t:
            future = np.asarray(base)[t:]
            self.peeks_.append(future.copy())
            signal = np.nan_to_num(future[0], nan=1.0) if len(future) else np.ones(n)
        else:
            signal = np.ones(n)
        w = signal**50
        return w / w.sum()


POLICIES = [
    Momentum,
    Cheater,
    lambda: ConstantRebalanced(),
    lambda: BuyAndHold(),
    lambda: MarkowitzPolicy("gmv", "sample", window=20, rebalance_every=3),
    lambda: MarkowitzPolicy(
        "max_sharpe", "sample", window=25, rebalance_every=5, refit_every=10, long_only=True
    ),
    # the online-portfolio-selection set of issue 10 (small parameters keep them quick)
    lambda: baseline("bk", K=2, L=3),
    lambda: baseline("bnn", K=2, L=3),
    lambda: baseline("corn", window=3),
    lambda: baseline("wmamr"),
    lambda: baseline("olmar2"),
    lambda: baseline("bah_olmar", max_window=8),
    lambda: baseline("m0"),
    lambda: baseline("t0"),
]


def _forecaster(**options):
    model = MarkowitzForecaster(window=5, horizon=2, cov_window=10, hidden_size=3, mse_epochs=2,
                                epochs=2, batch_size=3, random_state=0, **options)  # fmt: skip
    return WalkForwardPolicy(model, refit_every=20, rebalance_every=2)


LEARNED = [
    _lstm,
    lambda: _lstm(denoise="mp", vol_target=0.1, cost=0.01),
    lambda: _forecaster(objective="sharpe", learn_shrinkage=True, learn_risk_aversion=True),
]


def perturb_after(prices, k, seed):
    """Change every price from row k + 1 on (relatives k, k + 1, ... change)."""
    rng = np.random.default_rng(seed)
    out = prices.copy()
    out.iloc[k + 1 :] *= rng.uniform(0.5, 2.0, size=out.iloc[k + 1 :].shape)
    return out


@pytest.mark.parametrize("make", POLICIES)
@pytest.mark.parametrize("vectorized", [True, False])
def test_future_prices_never_change_past_weights(make, vectorized):
    prices = make_prices()
    for k in (0, 10, 41, 78):
        a = run(make(), prices, fee=0.002, vectorized=vectorized)
        b = run(make(), perturb_after(prices, k, seed=k), fee=0.002, vectorized=vectorized)
        # rows 0..k were chosen before relative k was seen
        np.testing.assert_array_equal(a.weights.to_numpy()[: k + 1], b.weights.to_numpy()[: k + 1])
        np.testing.assert_array_equal(a.wealth.to_numpy()[:k], b.wealth.to_numpy()[:k])
        assert not np.array_equal(a.wealth.to_numpy()[k:], b.wealth.to_numpy()[k:])


def test_cheater_only_ever_sees_unfilled_rows():
    policy = Cheater()
    run(policy, make_prices(T=30), fee=0.0)
    assert policy.peeks_, "the test policy should have reached the history buffer"
    for peek in policy.peeks_:
        assert np.isnan(peek).all()


class Writer(Policy):
    def step(self, history, held):
        if len(history):
            history[0, 0] = 123.0
        return np.full(history.shape[1], 1.0 / history.shape[1])


def test_history_is_read_only():
    with pytest.raises(ValueError, match="read-only"):
        run(Writer(), make_prices(T=5))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 58), st.integers(0, 2**32 - 1))
def test_truncating_the_future_keeps_the_past(k, seed):
    prices = make_prices(T=60, seed=seed % 1000)
    full = run(Momentum(), prices, fee=0.001)
    short = run(Momentum(), prices.iloc[: k + 2], fee=0.001)
    np.testing.assert_array_equal(full.weights.to_numpy()[: k + 1], short.weights.to_numpy())
    np.testing.assert_array_equal(full.wealth.to_numpy()[: k + 1], short.wealth.to_numpy())


@pytest.mark.parametrize("make", LEARNED)
def test_future_prices_never_change_a_learned_policy_past(make):
    prices = make_prices()
    a = run(make(), prices, fee=0.002)
    for k in (10, 41):
        b = run(make(), perturb_after(prices, k, seed=k), fee=0.002)
        np.testing.assert_array_equal(a.weights.to_numpy()[: k + 1], b.weights.to_numpy()[: k + 1])
        assert not np.array_equal(a.wealth.to_numpy()[k:], b.wealth.to_numpy()[k:])


@pytest.mark.parametrize("options", [{}, {"denoise": "wavelet"}])
def test_truncating_the_future_keeps_a_learned_policy_past(options):
    prices = make_prices(T=70, seed=3)
    full = run(_lstm(**options), prices, fee=0.001)
    for k in (15, 40):
        short = run(_lstm(**options), prices.iloc[: k + 2], fee=0.001)
        np.testing.assert_array_equal(full.weights.to_numpy()[: k + 1], short.weights.to_numpy())


def test_up_never_looks_ahead_on_either_path():
    """UP's vectorized blocks (run's default path) and its step path see only the past.

    (Kept apart from POLICIES: the engine's vectorized cost fixed point couples the
    periods in the last bits of the wealth, which is not a property of the policy.)
    """
    prices = make_prices()
    for k in (0, 10, 41, 78):
        other = perturb_after(prices, k, seed=k)
        for vectorized in (True, False):
            a = run(baseline("up", n_samples=500), prices, vectorized=vectorized)
            b = run(baseline("up", n_samples=500), other, vectorized=vectorized)
            np.testing.assert_array_equal(
                a.weights.to_numpy()[: k + 1], b.weights.to_numpy()[: k + 1]
            )
            assert not np.array_equal(a.wealth.to_numpy()[k:], b.wealth.to_numpy()[k:])
    # a run cut short gives the full run's weights bit for bit (fixed block shapes)
    full = baseline("up", n_samples=500).weights_vectorized(
        prices.to_numpy()[1:] / prices.to_numpy()[:-1]
    )
    for cut in (1, 37, 79):
        rel = prices.to_numpy()[1 : cut + 1] / prices.to_numpy()[:cut]
        np.testing.assert_array_equal(
            baseline("up", n_samples=500).weights_vectorized(rel), full[:cut]
        )
    loop = run(baseline("up", n_samples=500), prices, vectorized=False).weights.to_numpy()
    fast = run(baseline("up", n_samples=500), prices).weights.to_numpy()
    np.testing.assert_allclose(fast, loop, atol=1e-14)
