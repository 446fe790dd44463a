"""PortfolioEnv: the backtester's costs and timeline under the Gymnasium API."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from portfolio_lab.backtest import ScheduledWeights, run  # noqa: E402
from portfolio_lab.exceptions import (  # noqa: E402
    InputError,
    InsufficientHistoryError,
    NonFiniteError,
    ShapeError,
)
from portfolio_lab.models.eiie import price_tensor  # noqa: E402
from portfolio_lab.models.env import (  # noqa: E402
    ACTION_SCALE,
    PortfolioEnv,
    action_to_weights,
    weights_to_action,
)

from ._fixtures import make_prices  # noqa: E402


@pytest.fixture
def prices():
    return make_prices(T=90, n=4, seed=3)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _play(env, actions, **reset):
    obs, info = env.reset(**reset)
    observations, rewards, infos, flags = [obs], [], [info], []
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        observations.append(obs)
        rewards.append(r)
        infos.append(info)
        flags.append((term, trunc))
    return observations, rewards, infos, flags


def test_passes_gymnasium_env_checker(prices):
    for kwargs in ({}, {"cash": False, "reward": "log"}, {"random_start": True, "seed": 3}):
        env = PortfolioEnv(prices, window=10, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # two notes, not failures: the price part of the box is unbounded above, and an
            # environment built without gymnasium.make has no spec for the render check
            warnings.filterwarnings("ignore", message=".*maximum value is infinity.*")
            warnings.filterwarnings("ignore", message=".*not having a spec.*")
            check_env(env, skip_render_check=True)


@pytest.mark.parametrize("cash", [True, False])
@pytest.mark.parametrize("fee", [0.0, 0.0025, 0.02])
def test_episode_net_returns_equal_backtest_run_of_the_schedule(prices, cash, fee):
    start, end = 12, 70
    env = PortfolioEnv(prices, window=10, commission=fee, cash=cash, start=start, end=end)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(end - start, env.n_outputs))
    schedule = np.array([_softmax(ACTION_SCALE * a) for a in actions])  # written here
    _, rewards, infos, flags = _play(env, actions)
    assert np.abs(np.array([i["weights"] for i in infos[1:]]) - schedule).max() < 1e-15
    result = run(ScheduledWeights(schedule), prices.iloc[start : end + 1], fee=fee, cash=cash)
    np.testing.assert_allclose(rewards, result.returns.to_numpy(), rtol=0, atol=1e-12)
    assert abs(sum(rewards) - result.returns.sum()) < 1e-12
    assert abs(infos[-1]["wealth"] - result.final_wealth) < 1e-12
    np.testing.assert_allclose(
        [i["turnover"] for i in infos[1:]], result.turnover.to_numpy(), atol=1e-12
    )
    np.testing.assert_allclose(
        [i["remainder"] for i in infos[1:]], result.remainder.to_numpy(), atol=1e-15
    )
    wealth_before = np.concatenate([[1.0], result.wealth.to_numpy()[:-1]])
    np.testing.assert_allclose(
        [i["cost"] for i in infos[1:]], wealth_before * (1 - result.remainder), atol=1e-14
    )
    assert [d for d in (i["date"] for i in infos[1:])] == [str(d) for d in result.wealth.index]
    assert flags[:-1] == [(False, False)] * (len(flags) - 1) and flags[-1] == (False, True)


def test_log_reward_is_log_of_the_simple_one(prices):
    a = np.random.default_rng(1).uniform(-1, 1, size=(20, 5))
    _, simple, _, _ = _play(PortfolioEnv(prices, window=10, end=29), a)
    _, log, _, _ = _play(PortfolioEnv(prices, window=10, end=29, reward="log"), a)
    np.testing.assert_allclose(log, np.log1p(simple), atol=1e-15)


def test_observation_layout_is_the_eiie_price_tensor_and_held_weights(prices):
    env = PortfolioEnv(prices, window=10, start=20)
    obs, info = env.reset()
    tensor, held = env.split_observation(obs)
    close = prices.to_numpy()
    mine = close[11:21] / close[20] - 1.0  # rows t - 9 .. t divided by row t, t = 20
    np.testing.assert_allclose(tensor[0], mine.T, rtol=1e-6)
    ref = price_tensor(close.T[None].transpose(0, 2, 1), np.array([20]), 10)[0]
    assert np.array_equal(tensor, ref)
    np.testing.assert_array_equal(held, [1, 0, 0, 0, 0])
    obs, _, _, _, info = env.step(np.zeros(5))
    _, held = env.split_observation(obs)
    x = np.concatenate([[1.0], close[21] / close[20]])
    drifted = x / 5 / (x / 5).sum()
    np.testing.assert_allclose(held, drifted, rtol=1e-6)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)


@settings(max_examples=15, deadline=None)
@given(t=st.integers(12, 60), scale=st.floats(0.5, 2.0))
def test_perturbing_prices_after_t_changes_no_observation_up_to_t(t, scale):
    prices = make_prices(T=90, n=4, seed=3)
    bent = prices.copy()
    bent.iloc[t + 1 :] *= scale * np.linspace(1.0, 1.3, len(prices) - t - 1)[:, None]
    bent.iloc[t + 1 :, 0] *= 1.7
    actions = np.random.default_rng(t).uniform(-1, 1, size=(70, 5))
    a = _play(PortfolioEnv(prices, window=10, start=9, end=80), actions)
    b = _play(PortfolioEnv(bent, window=10, start=9, end=80), actions)
    k = t - 9  # observation k belongs to period 9 + k
    for i in range(k + 1):
        assert np.array_equal(a[0][i], b[0][i])
    for i in range(k):  # rewards of periods before t read rows <= t
        assert a[1][i] == b[1][i]
    assert not np.array_equal(a[0][k + 1], b[0][k + 1])  # the perturbation is visible later


def test_bad_input_gets_typed_errors(prices):
    bad = prices.copy()
    bad.iloc[30, 1] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        PortfolioEnv(bad, window=10)
    with pytest.raises(InsufficientHistoryError):
        PortfolioEnv(prices, window=len(prices))
    with pytest.raises(InsufficientHistoryError):
        PortfolioEnv(prices, window=10, start=3)
    with pytest.raises(InsufficientHistoryError):
        PortfolioEnv(prices, window=10, end=len(prices) + 5)
    with pytest.raises(InputError, match="reward"):
        PortfolioEnv(prices, reward="sharpe")
    with pytest.raises(InputError):
        PortfolioEnv(prices, commission=1.5)
    env = PortfolioEnv(prices, window=10)
    env.reset()
    with pytest.raises(NonFiniteError, match="NaN"):
        env.step(np.array([0.0, np.nan, 0.0, 0.0, 0.0]))
    with pytest.raises(ShapeError):
        env.step(np.zeros(3))
    with pytest.raises(InputError):
        env.reset(options={"weights": [0.5, 0.5, 0.5, 0.0, 0.0]})
    short = PortfolioEnv(prices, window=10, start=20, end=21)
    short.reset()
    short.step(np.zeros(5))
    with pytest.raises(InputError, match="over"):
        short.step(np.zeros(5))


def test_any_finite_action_is_a_valid_portfolio():
    rng = np.random.default_rng(0)
    for a in (rng.normal(0, 50, size=(100, 6)), np.full((1, 6), 1e300), -np.ones((1, 6))):
        w = action_to_weights(a)
        assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0, atol=1e-15)
    w = rng.dirichlet(np.ones(6) * 5, size=20)
    np.testing.assert_allclose(action_to_weights(weights_to_action(w)), w, atol=1e-14)
    with pytest.raises(InputError):
        weights_to_action([1.0 - 1e-9, 1e-9])


def test_seeding_through_reset_and_random_starts(prices):
    env = PortfolioEnv(prices, window=10, random_start=True)
    starts = [env.reset(seed=5)[1]["period"] for _ in range(3)]
    assert len(set(starts)) == 1  # same seed, same start
    drawn = {env.reset()[1]["period"] for _ in range(40)}
    assert len(drawn) > 5 and min(drawn) >= 9
    other = PortfolioEnv(prices, window=10, random_start=True, seed=5)
    assert other.reset()[1]["period"] == starts[0]  # the constructor's seed is the first reset's
    a = [env.reset(seed=11)[1]["period"] for _ in range(1)] + [env.reset()[1]["period"]]
    b = [env.reset(seed=11)[1]["period"] for _ in range(1)] + [env.reset()[1]["period"]]
    assert a == b
    obs, info = env.reset(options={"start": 40, "weights": [0.2, 0.2, 0.2, 0.2, 0.2]})
    assert info["period"] == 40 and np.allclose(env.split_observation(obs)[1], 0.2)


def test_dates_as_episode_bounds(prices):
    env = PortfolioEnv(prices, window=10, start=prices.index[20], end=prices.index[30])
    assert (env.start, env.end) == (20, 30)


def test_runs_vectorized(prices):
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make(i):
        return lambda: PortfolioEnv(prices, window=10, random_start=True, seed=i)

    vec = gym.vector.SyncVectorEnv([make(0), make(1), make(2)])
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 4 * 10 + 5)
    for _ in range(100):  # episodes end and restart by themselves
        obs, rewards, term, trunc, info = vec.step(vec.action_space.sample())
    assert rewards.shape == (3,) and np.isfinite(rewards).all()
    dummy = DummyVecEnv([make(0), make(1)])
    obs = dummy.reset()
    for _ in range(100):
        obs, rewards, dones, infos = dummy.step(np.zeros((2, 5)))
    assert obs.shape == (2, 45) and "wealth" in infos[0]


def test_open_normalization_with_ohlc(prices):
    rng = np.random.default_rng(0)
    frames = {
        "close": prices,
        "open": prices * rng.uniform(0.99, 1.01, prices.shape),
    }
    env = PortfolioEnv(frames, window=10, features=("close", "open"), normalize="open")
    obs, _ = env.reset()
    tensor, _ = env.split_observation(obs)
    t = 9
    np.testing.assert_allclose(
        tensor[0, :, -1], prices.iloc[t] / frames["open"].iloc[t] - 1, rtol=1e-5
    )
    with pytest.raises(InputError):
        PortfolioEnv(prices, window=10, features=("close", "open"))
    with pytest.raises(InputError):
        PortfolioEnv(pd.DataFrame(prices), window=10, normalize="open")
