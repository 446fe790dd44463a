"""SB3Allocator: PPO, SAC and recurrent PPO as allocators of the models package."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

from portfolio_lab.backtest import run  # noqa: E402
from portfolio_lab.exceptions import (  # noqa: E402
    InputError,
    ModelFileError,
    NonFiniteError,
    NotFittedError,
)
from portfolio_lab.models import FittedPolicy, SB3Allocator, WalkForwardPolicy  # noqa: E402
from portfolio_lab.models.env import PortfolioEnv  # noqa: E402
from portfolio_lab.models.predict import MODEL_CLASSES, load_model  # noqa: E402
from portfolio_lab.models.sb3 import rollout  # noqa: E402

from ._fixtures import make_prices  # noqa: E402

ALGOS = ["ppo", "sac", "recurrent_ppo"]
TINY = {
    "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "recurrent_ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "sac": {"learning_starts": 50, "batch_size": 32, "train_freq": 4},
}


def tiny(algo, **kw):
    args = dict(
        algo=algo,
        total_timesteps=256,
        window=6,
        random_state=0,
        algo_kwargs=TINY.get(algo, {}),
        policy_kwargs={"net_arch": [8]} | ({"lstm_hidden_size": 4} if "rec" in algo else {}),
        episode_length=40,
        eval_every=128,
    )
    return SB3Allocator(**{**args, **kw})


@pytest.fixture(scope="module")
def prices():
    return make_prices(T=120, n=3, seed=2)


@pytest.fixture(scope="module")
def fitted(prices):
    return {algo: tiny(algo).fit(prices) for algo in ALGOS}


@pytest.mark.parametrize("algo", ALGOS)
def test_fit_predict_save_load_contract(fitted, prices, algo, tmp_path):
    model = fitted[algo]
    assert model.outputs_cash and model.assets_ == list(prices.columns)
    model.reset_state()
    w = model.predict(prices)
    assert list(w.index) == ["cash", *prices.columns]
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-12
    assert [h["step"] for h in model.history_][:2] == [128, 256]
    assert all(h["val_log_growth"] is not None for h in model.history_)
    assert model.best_step_ in [h["step"] for h in model.history_]
    assert set(model.insample_) >= {"agent_log_growth", "uniform_log_growth", "learned"}
    folder = model.save(tmp_path / algo)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.safetensors"]
    meta = json.loads((folder / "model.json").read_text())
    assert meta["class"] == "SB3Allocator" and meta["params"]["algo"] == algo
    back = SB3Allocator.load(folder)
    again = load_model(folder)
    model.reset_state()
    seq = [model.predict(prices.iloc[: 60 + k]).to_numpy() for k in range(5)]
    for other in (back, again):
        other.reset_state()
        rep = [other.predict(prices.iloc[: 60 + k]).to_numpy() for k in range(5)]
        assert np.abs(np.array(seq) - np.array(rep)).max() == 0.0
    assert "SB3Allocator" in MODEL_CLASSES


def test_recurrent_agent_carries_its_state_between_calls(fitted, prices):
    model = fitted["recurrent_ppo"]
    model.reset_state()
    first = model.predict(prices).to_numpy()
    second = model.predict(prices).to_numpy()
    model.reset_state()
    assert np.array_equal(model.predict(prices).to_numpy(), first)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("algo", ALGOS)
def test_same_seed_same_fit_and_the_callers_random_state_is_untouched(prices, algo):
    random.seed(7)
    np.random.seed(7)  # noqa: NPY002
    before = (random.random(), np.random.random())  # noqa: NPY002
    random.seed(7)
    np.random.seed(7)  # noqa: NPY002
    a = tiny(algo, total_timesteps=128).fit(prices)
    after = (random.random(), np.random.random())  # noqa: NPY002
    b = tiny(algo, total_timesteps=128).fit(prices)
    assert before == after
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)
    c = tiny(algo, total_timesteps=128, random_state=1).fit(prices)
    sc = c.module_.state_dict()
    assert any(not np.array_equal(sa[k].numpy(), sc[k].numpy()) for k in sa)


def test_validation_periods_are_never_trained_on(prices):
    model = tiny("ppo", validation_fraction=0.2)
    model.fit(prices)
    first, train_end = model.train_periods_
    n_val = round(0.2 * (len(prices) - 1 - first))
    assert train_end == len(prices) - 1 - n_val
    env = model._train_env(prices, train_end, 0).envs[0].unwrapped
    assert env.end == train_end  # the last reward of a training episode reads row train_end
    assert model.train_dates_["validation_first_target"] == str(prices.index[train_end + 1].date())


def test_env_replay_and_backtest_replay_give_the_same_wealth(fitted, prices):
    model = fitted["recurrent_ppo"]
    start = 80
    env = PortfolioEnv(prices, window=6, commission=0.0025, start=start)
    model.reset_state()
    played = rollout(lambda obs, first: model.act(obs), env)
    res = run(FittedPolicy(model, start=start, before="cash"), prices, fee=0.0025, cash=True)
    tail = res.wealth.iloc[start:] / res.wealth.iloc[start - 1]
    assert res.wealth.iloc[start - 1] == 1.0  # cash before the start costs nothing
    np.testing.assert_allclose(tail.to_numpy(), played["wealth"], rtol=1e-6)
    np.testing.assert_allclose(res.weights.to_numpy()[start:], played["weights"], atol=1e-6)


@pytest.mark.parametrize("algo", ["sac", "recurrent_ppo"])
def test_walk_forward_in_a_cash_backtest_and_no_look_ahead(prices, algo):
    template = tiny(algo, total_timesteps=128)
    policy = WalkForwardPolicy(template, refit_every=30, first_fit=60)
    res = run(policy, prices, fee=0.0025, cash=True)
    assert list(res.weights.columns)[0] == "cash" and len(policy.fit_log_) == 2
    cut = 95
    bent = prices.copy()
    bent.iloc[cut + 1 :] *= np.linspace(1.0, 1.5, len(prices) - cut - 1)[:, None]
    again = run(
        WalkForwardPolicy(template, refit_every=30, first_fit=60), bent, fee=0.0025, cash=True
    )
    assert np.array_equal(res.weights.to_numpy()[: cut + 1], again.weights.to_numpy()[: cut + 1])
    assert not np.array_equal(
        res.weights.to_numpy()[cut + 2 :], again.weights.to_numpy()[cut + 2 :]
    )


def test_bad_input_gets_typed_errors(prices, tmp_path):
    with pytest.raises(InputError, match="algo"):
        tiny("dqn").fit(prices)
    with pytest.raises(NotFittedError):
        tiny("ppo").predict(prices)
    bad = prices.copy()
    bad.iloc[10, 0] = np.nan
    with pytest.raises(NonFiniteError):
        tiny("ppo").fit(bad)
    with pytest.raises(InputError, match="JSON"):
        tiny("ppo", policy_kwargs={"activation_fn": np.tanh}).fit(prices)
    with pytest.raises(InputError, match="activation_fn"):
        tiny("ppo", policy_kwargs={"activation_fn": "swish"}).fit(prices)
    with pytest.raises(ModelFileError):
        SB3Allocator.load(tmp_path / "nothing")
    folder = tmp_path / "broken"
    tiny("ppo", total_timesteps=64).fit(prices).save(folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["policy_kwargs"]["net_arch"] = [16]
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="valid"):
        SB3Allocator.load(folder)


@pytest.mark.parametrize("algo", ["ppo", "recurrent_ppo"])
def test_fitted_policy_replays_the_walk_forward_run(prices, algo):
    policy = WalkForwardPolicy(tiny(algo, total_timesteps=128), refit_every=10**9, first_fit=70)
    res = run(policy, prices, fee=0.0025, cash=True)
    again = run(FittedPolicy(policy.estimator_, start=70), prices, fee=0.0025, cash=True)
    assert np.array_equal(res.weights.to_numpy(), again.weights.to_numpy())
    assert res.final_wealth == again.final_wealth
    with pytest.raises(InputError):
        FittedPolicy(policy.estimator_, start=2)


def test_fit_leaves_no_log_folder_in_the_temp_directory(prices, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tiny("ppo", total_timesteps=64).fit(prices)
    assert not list(tmp_path.glob("SB3-*"))
