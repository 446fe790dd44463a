"""The chapter 12b helpers: in-sample check, learning curves, compute records, replays."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from portfolio_lab.backtest import ConstantRebalanced, run  # noqa: E402
from portfolio_lab.models import EIIE, FittedPolicy, SB3Allocator  # noqa: E402
from portfolio_lab.models import rl_study as rs  # noqa: E402

from ._fixtures import make_prices  # noqa: E402


@pytest.fixture(scope="module")
def prices():
    return make_prices(T=110, n=3, seed=4)


@pytest.fixture(scope="module")
def runs(prices):
    sb3 = SB3Allocator("ppo", total_timesteps=128, window=6, random_state=0, eval_every=64,
                       algo_kwargs={"n_steps": 64, "batch_size": 32, "n_epochs": 1},
                       policy_kwargs={"net_arch": [8]}, episode_length=30)  # fmt: skip
    eiie = EIIE(network="cnn", window=6, steps=8, batch_size=8, eval_every=4,
                validation_fraction=0.1, random_state=0)  # fmt: skip
    out = {}
    for name, template in (("PPO", sb3), ("CNN", eiie)):
        out[name] = rs.timed_seeds(template, prices, seeds=[0, 1], first_fit=80, fee=0.0025)
    return out


def test_timed_seeds_learning_curves_and_compute(runs):
    curves = rs.learning_curves({k: v[0] for k, v in runs.items()})
    ppo, cnn = curves[curves.agent == "PPO"], curves[curves.agent == "CNN"]
    assert sorted(ppo.seed.unique()) == [0, 1] and list(ppo.periods[:2]) == [64, 128]
    assert list(cnn.periods[:2]) == [4 * 8, 8 * 8]  # EIIE steps times its batch
    assert ppo.train_log_growth.notna().all() and cnn.train_log_growth.isna().all()
    rec = rs.compute_record(runs["CNN"][0][0].last_model, 1.5)
    assert rec == {"periods": 64, "gradient_steps": 8, "seconds": 1.5}
    rec = rs.compute_record(runs["PPO"][0][0].last_model, 2.0)
    assert rec["periods"] == 128 and rec["gradient_steps"] == 2 * 1 * 2
    assert len(runs["PPO"][1]) == 2 and all(s > 0 for s in runs["PPO"][1])
    ax = rs.plot_learning_curves(curves, "train_reward", reference=0.0)
    assert len(ax.get_lines()) == 3


def test_insample_growth_against_a_direct_computation(runs, prices):
    model = runs["CNN"][0][0].last_model
    got = rs.insample_growth(model, prices, start=5, stop=70, fee=0.0025)
    res = run(FittedPolicy(model, start=5, before="cash"), prices.iloc[:71], fee=0.0025, cash=True)
    agent = np.log1p(res.returns.to_numpy()[5:]).mean()
    w = np.array([0, 1 / 3, 1 / 3, 1 / 3])
    uni = run(ConstantRebalanced(w), prices.iloc[5:71], fee=0.0025, cash=True)
    assert got["agent"] == pytest.approx(agent, abs=1e-15)
    assert got["uniform"] == pytest.approx(np.log1p(uni.returns).mean(), abs=1e-15)
    assert got["excess"] == pytest.approx(got["agent"] - got["uniform"], abs=1e-15)


def test_env_replay_equals_the_backtest_replay(runs, prices):
    model = runs["PPO"][0][0].last_model
    env = model.make_env(prices, start=80)
    played = rs.env_replay(model, env)
    res = run(FittedPolicy(model, start=80, before="cash"), prices, fee=0.0025, cash=True)
    np.testing.assert_allclose(played["wealth"], res.wealth.to_numpy()[80:], rtol=1e-6)
