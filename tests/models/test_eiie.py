import json

import numpy as np
import pandas as pd
import pytest
import torch

from portfolio_lab.backtest import run
from portfolio_lab.exceptions import (
    ColumnMismatchError,
    InputError,
    InsufficientHistoryError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
)
from portfolio_lab.models import EIIE, WalkForwardPolicy, geometric_starts, price_tensor

from ._fixtures import make_prices

SMALL = dict(window=10, steps=30, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def prices():
    return make_prices(160, 4, seed=11)


def ohlc(prices, seed=0):
    """A small OHLC fixture: high >= max(open, close), low <= min(open, close)."""
    rng = np.random.default_rng(seed)
    close = prices
    prev = close.shift(1).fillna(close.iloc[0])
    open_ = prev * np.exp(rng.normal(0, 0.003, close.shape))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * (1 + rng.uniform(0, 0.01, close.shape))
    low = bottom * (1 - rng.uniform(0, 0.01, close.shape))
    return {"close": close, "high": high, "low": low, "open": open_}


@pytest.mark.parametrize("network", ["cnn", "lstm", "rnn"])
def test_fit_predict_contract(prices, network, tmp_path):
    m = EIIE(network=network, **SMALL).fit(prices)
    w = m.predict(prices)
    assert list(w.index) == ["cash", *prices.columns]
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    held = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    w2 = m.predict(prices, previous=held)
    assert not np.allclose(w, w2)  # the previous weights enter the network
    assert m.pvm_.shape == (len(prices), 5)
    m.save(tmp_path / "m")
    back = EIIE.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict(prices, previous=held).to_numpy(), w2.to_numpy())


def test_same_seed_bit_identical(prices):
    a = EIIE(**SMALL).fit(prices)
    b = EIIE(**SMALL).fit(prices)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(a.pvm_, b.pvm_)
    c = EIIE(**{**SMALL, "random_state": 1}).fit(prices)
    assert not torch.equal(c.module_.state_dict()["head.conv.weight"], sa["head.conv.weight"])


def test_price_tensor_normalizations(prices):
    f = ohlc(prices)
    stack = np.stack([f[k].to_numpy() for k in ("close", "high", "low", "open")])
    x = price_tensor(stack, np.array([20]), 5, "close", 0, 3)
    assert x.shape == (1, 4, 4, 5)
    np.testing.assert_allclose(x[0, 0, :, -1], 0.0, atol=1e-7)  # latest close / itself
    np.testing.assert_allclose(
        x[0, 1, 2, 0], f["high"].iloc[16, 2] / f["close"].iloc[20, 2] - 1, rtol=1e-5
    )
    y = price_tensor(stack, np.array([20]), 5, "open", 0, 3)
    np.testing.assert_allclose(y[0, 3], 0.0, atol=1e-7)  # open / open
    np.testing.assert_allclose(
        y[0, 0, 1, 4], f["close"].iloc[20, 1] / f["open"].iloc[20, 1] - 1, rtol=1e-5
    )
    # scale invariance
    z = price_tensor(stack * np.array([2.0, 5.0, 0.1, 30.0]), np.array([20]), 5, "close", 0, 3)
    np.testing.assert_allclose(x, z, atol=1e-6)


def test_ohlc_features(prices):
    f = ohlc(prices)
    assert (f["high"] >= np.maximum(f["open"], f["close"])).all().all()
    assert (f["low"] <= np.minimum(f["open"], f["close"])).all().all()
    for norm in ("close", "open"):
        m = EIIE(features=("close", "high", "low", "open"), normalize=norm, **SMALL).fit(f)
        w = m.predict({k: v.iloc[-12:] for k, v in f.items()})
        assert w.sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match="mapping"):
        EIIE(features=("close", "high"), **SMALL).fit(prices)
    with pytest.raises(InputError, match="lacks"):
        EIIE(features=("close", "high"), **SMALL).fit({"close": prices})
    with pytest.raises(InputError, match="open"):
        EIIE(normalize="open", **SMALL).fit(prices)
    bad = dict(f, high=f["high"].iloc[1:])
    with pytest.raises(ShapeError):
        EIIE(features=("close", "high"), **SMALL).fit(bad)


def test_geometric_starts_prefer_recent_periods():
    rng = np.random.default_rng(0)
    s = geometric_starts(rng, 1000, 20000, 0.01)
    assert s.min() >= 0 and s.max() == 999
    # distance to the latest start is geometric with mean about (1 - b) / b
    assert np.mean(999 - s) == pytest.approx(99, rel=0.05)
    u = geometric_starts(rng, 1000, 20000, 0.0)
    assert np.mean(u) == pytest.approx(499.5, rel=0.03)


def test_pvm_holds_what_the_network_wrote(prices):
    m = EIIE(**{**SMALL, "steps": 1}).fit(prices)
    written = np.where(~np.isclose(m.pvm_, 1 / 5).all(axis=1))[0]
    assert len(written) == SMALL["batch_size"]  # one batch of consecutive periods
    assert np.all(np.diff(written) == 1)
    np.testing.assert_allclose(m.pvm_.sum(axis=1), 1.0)


def test_policy_with_cash_online_learning_and_lookahead(prices):
    def make():
        return WalkForwardPolicy(EIIE(**{**SMALL, "online_steps": 1}), refit_every=60, first_fit=60)

    a = run(make(), prices, fee=0.0025, cash=True)
    assert list(a.weights.columns) == ["cash", *prices.columns]
    for k in (30, 70, 120):
        b_prices = prices.copy()
        b_prices.iloc[k + 1 :] *= 1.7
        b = run(make(), b_prices, fee=0.0025, cash=True)
        np.testing.assert_array_equal(a.weights.to_numpy()[: k + 1], b.weights.to_numpy()[: k + 1])
    frozen = run(WalkForwardPolicy(EIIE(**SMALL), refit_every=60, first_fit=60), prices, cash=True)
    assert not np.array_equal(frozen.weights.to_numpy()[70:], a.weights.to_numpy()[70:])


def test_bad_input(prices, tmp_path):
    m = EIIE(**SMALL).fit(prices)
    nan = prices.copy()
    nan.iloc[3, 0] = np.nan
    with pytest.raises(NonFiniteError):
        EIIE(**SMALL).fit(nan)
    with pytest.raises(InsufficientHistoryError):
        EIIE(**SMALL).fit(prices.iloc[:20])
    with pytest.raises(InsufficientHistoryError):
        m.predict(prices.iloc[:5])
    with pytest.raises(ColumnMismatchError):
        m.predict(prices.rename(columns={"A0": "Z"}))
    with pytest.raises(InputError, match="previous"):
        m.predict(prices, previous=[1.0, 0.0])
    for bad in ({"network": "gru"}, {"window": 2}, {"reward": "sharpe"}, {"features": ("high",)}):
        with pytest.raises(InputError):
            EIIE(**{**SMALL, **bad}).fit(prices)
    folder = m.save(tmp_path / "e")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["class"] == "EIIE"
    from portfolio_lab.models import LSTMSharpe

    with pytest.raises(ModelFileError, match="EIIE"):
        LSTMSharpe.load(folder)


def test_simple_reward_trains(prices):
    m = EIIE(**{**SMALL, "reward": "simple", "network": "rnn"}).fit(prices)
    assert m.history_ and isinstance(m.predict(prices), pd.Series)


def test_validation_is_held_out_and_selects_a_checkpoint(prices):
    m = EIIE(**{**SMALL, "steps": 60, "validation_fraction": 0.2, "eval_every": 20}).fit(prices)
    n_val = round(0.2 * len(prices))
    train_end = len(prices) - n_val
    # every batch covers periods whose next relative lies before the validation rows
    assert max(s + SMALL["batch_size"] for s, _ in m.batch_log_) <= train_end - 1
    vals = [h["val_log_growth"] for h in m.history_]
    assert m.best_step_ == m.history_[int(np.argmax(vals))]["step"]
    assert pd.Timestamp(m.train_dates_["last_training_target"]) < pd.Timestamp(
        m.train_dates_["validation_first_target"]
    )


def test_policy_with_ohlc_features_is_causal(prices):
    f = ohlc(prices)

    def make(feats):
        return WalkForwardPolicy(
            EIIE(features=("close", "high", "low", "open"), normalize="open", **SMALL),
            refit_every=200,
            first_fit=60,
            features=feats,
        )

    a = run(make(f), prices, fee=0.0025, cash=True)
    assert np.allclose(a.weights.sum(axis=1), 1.0)
    g = {k: v.copy() for k, v in f.items()}
    for v in g.values():
        v.iloc[101:] *= 1.5
    b_prices = prices.copy()
    b_prices.iloc[101:] *= 1.5
    b = run(make(g), b_prices, fee=0.0025, cash=True)
    np.testing.assert_array_equal(a.weights.to_numpy()[:101], b.weights.to_numpy()[:101])
    assert not np.array_equal(a.weights.to_numpy()[101:], b.weights.to_numpy()[101:])
    with pytest.raises(InputError, match="online"):
        WalkForwardPolicy(EIIE(online_steps=1), refit_every=5, features=f)
