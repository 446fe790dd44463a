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
    ModelStateError,
    NonFiniteError,
    ShapeError,
)
from portfolio_lab.models import (
    EIIE,
    WalkForwardPolicy,
    batch_previous,
    eiie_reward,
    geometric_starts,
    price_tensor,
)

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
    np.testing.assert_allclose(y[0, 3, :, -1], 0.0, atol=1e-7)  # the last open / itself
    np.testing.assert_allclose(
        y[0, 0, 1, 4], f["close"].iloc[20, 1] / f["open"].iloc[20, 1] - 1, rtol=1e-5
    )
    np.testing.assert_allclose(
        y[0, 0, 1, 0], f["close"].iloc[16, 1] / f["open"].iloc[20, 1] - 1, rtol=1e-5
    )
    # scale invariance
    z = price_tensor(stack * np.array([2.0, 5.0, 0.1, 30.0]), np.array([20]), 5, "close", 0, 3)
    np.testing.assert_allclose(x, z, atol=1e-6)


def test_open_normalization_keeps_close_to_close_moves(prices):
    """normalize="open" divides by the open of the window's last period, not each row's."""
    f = ohlc(prices)
    stack = np.stack([f[k].to_numpy() for k in ("close", "high", "low", "open")])
    ends = np.array([20, 57, 100])
    x = price_tensor(stack, ends, 8, "open", 0, 3).astype(float)
    close = f["close"].to_numpy()
    for k, t in enumerate(ends):
        rows = np.arange(t - 7, t + 1)
        # ratios of consecutive closes in the tensor are the close-to-close relatives
        np.testing.assert_allclose(
            (x[k, 0, :, 1:] + 1) / (x[k, 0, :, :-1] + 1),
            (close[rows[1:]] / close[rows[:-1]]).T,
            rtol=1e-5,
        )
    # no channel is constant along the window (the old per-row open made 'open' all zeros)
    assert (x.std(axis=3) > 1e-4).all()
    with pytest.raises(InputError, match="open_index"):
        price_tensor(stack, ends, 8, "open", 0, None)


def test_batch_cost_reaches_the_previous_output():
    """With cost_reference="batch" the reward's gradient reaches w(t-1) through the cost."""
    rng = np.random.default_rng(3)
    B, n, c = 4, 3, 0.01
    logits = torch.tensor(rng.normal(size=(B, n + 1)), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(np.c_[np.ones(B), rng.uniform(0.95, 1.05, (B, n))], dtype=torch.float64)
    first = torch.full((1, n + 1), 1.0 / (n + 1), dtype=torch.float64)

    def reward_of(z, ref, cost=c):
        w = torch.softmax(z, dim=1)
        held = batch_previous(w, first, y) if ref == "batch" else first.expand(B, -1)
        return eiie_reward(w, held, y, cost)

    for ref in ("batch", "pvm"):
        (g,) = torch.autograd.grad(reward_of(logits, ref), logits)
        (g0,) = torch.autograd.grad(reward_of(logits, ref, 0.0), logits)
        # finite differences agree with autograd
        eps = 1e-6
        fd = np.zeros((B, n + 1))
        for i in range(B):
            for j in range(n + 1):
                d = torch.zeros_like(logits)
                d[i, j] = eps
                fd[i, j] = (reward_of(logits + d, ref) - reward_of(logits - d, ref)).item() / (
                    2 * eps
                )
        np.testing.assert_allclose(g.numpy(), fd, atol=1e-8)
        # the cost part of the gradient on output 0 (what period 1 pays for moving off it)
        cost_grad_on_first = (g - g0)[0].abs().sum().item()
        if ref == "batch":
            assert cost_grad_on_first > 1e-6
        else:
            # with PVM held weights output 0 pays only its own move from the PVM row
            w = torch.softmax(logits, dim=1)
            own = torch.autograd.grad(
                torch.log(1 - c * (w[0, 1:] - first[0, 1:]).abs().sum()) / B, logits
            )[0]
            np.testing.assert_allclose((g - g0)[0].numpy(), own[0].numpy(), atol=1e-12)
    # the row-0 held weights are the PVM row, later rows the drifted previous outputs
    w = torch.softmax(logits, dim=1).detach()
    held = batch_previous(w, first, y)
    np.testing.assert_allclose(held[0].numpy(), first[0].numpy())
    grown = (w[1] * y[1]).numpy()
    np.testing.assert_allclose(held[2].numpy(), grown / grown.sum())


def test_cost_reference_changes_training(prices):
    a = EIIE(**SMALL).fit(prices)
    b = EIIE(**{**SMALL, "cost_reference": "pvm"}).fit(prices)
    assert not torch.equal(
        a.module_.state_dict()["head.conv.weight"], b.module_.state_dict()["head.conv.weight"]
    )
    with pytest.raises(InputError, match="cost_reference"):
        EIIE(**{**SMALL, "cost_reference": "x"}).fit(prices)


def test_restore_resets_optimizer_and_pvm(prices):
    """The kept checkpoint brings back its Adam moments and PVM, as a shorter fit ends."""
    kw = {**SMALL, "steps": 80, "validation_fraction": 0.2, "eval_every": 10, "lr": 0.05}
    a = EIIE(**kw).fit(prices)
    assert 10 <= a.best_step_ < 80  # a discarded trajectory exists
    b = EIIE(**{**kw, "steps": a.best_step_}).fit(prices)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(a.pvm_, b.pvm_)
    oa, ob = a._opt.state_dict()["state"], b._opt.state_dict()["state"]
    for i in oa:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(oa[i][key], ob[i][key])
    for key in ("pvm_read", "written"):
        np.testing.assert_array_equal(a.last_batch_[key], b.last_batch_[key])


def test_loaded_agent_learns_online_like_the_saved_one(prices, tmp_path):
    m = EIIE(**{**SMALL, "online_steps": 2}).fit(prices.iloc[:120])
    m.save(tmp_path / "full")
    back = EIIE.load(tmp_path / "full")
    rel = prices.to_numpy()[120:132] / prices.to_numpy()[119:131]
    held = np.array([0.2, 0.2, 0.2, 0.2, 0.2])
    m.update_relatives(rel)
    back.update_relatives(rel)
    np.testing.assert_array_equal(
        m.predict_relatives(rel, previous=held), back.predict_relatives(rel, previous=held)
    )
    np.testing.assert_array_equal(m.pvm_, back.pvm_)
    m.save(tmp_path / "bare", training_state=False)
    bare = EIIE.load(tmp_path / "bare")
    assert bare.predict_relatives(rel, previous=held).sum() == pytest.approx(1.0)
    with pytest.raises(ModelStateError, match="online"):
        bare.update_relatives(rel)


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


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(("n_features", "window"), [(1, 12), (4, 12), (3, 3), (3, 40), (2, 50)])
def test_cnn_body_equals_the_convolutions(n_features, window, compiled):
    """The chunked matrix-product body computes what the two Conv2d layers compute.

    Both first layers: the compiled one (CPU) and the chunked product (CUDA, forced here on
    the CPU). Windows cover one short chunk (12, 3), a padded last chunk (40: 38 outputs in
    chunks of 16) and whole chunks (50); the gradients of every parameter match too, from
    the raw windows and from the prepared layout training keeps.
    """
    from portfolio_lab.models.eiie import build_network

    torch.manual_seed(0)
    net = build_network("cnn", n_features, window, 20, True).double()
    net.cpu_kernel = compiled
    x = torch.randn(5, n_features, 7, window, dtype=torch.float64)
    ref = torch.relu(net.conv2(torch.relu(net.conv1(x))))
    torch.testing.assert_close(net.body(x), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.body(net.prepare(x)), ref, rtol=1e-12, atol=1e-12)
    prev = torch.rand(5, 7, dtype=torch.float64)
    z = torch.cat([ref, prev[:, None, :, None]], dim=1)
    logits = net.head.conv(z)[:, 0, :, 0]
    want = torch.softmax(torch.cat([net.head.cash_bias.expand(5, 1), logits], dim=1), dim=1)
    torch.testing.assert_close(net(x, prev), want, rtol=1e-12, atol=1e-12)
    g = torch.randn(5, 20, 7, 1, dtype=torch.float64)
    params = [net.conv1.weight, net.conv1.bias, net.conv2.weight, net.conv2.bias]
    want_grads = torch.autograd.grad((ref * g).sum(), params)
    got_grads = torch.autograd.grad((net.body(net.prepare(x)) * g).sum(), params)
    for got, exp in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)
    # the whole network, head included (on a CPU the compiled ReLU + head), and the
    # gradient reaching the previous weights
    prev = prev.clone().requires_grad_(True)
    gw = torch.randn(5, 8, dtype=torch.float64)
    params = list(net.parameters()) + [prev]
    z = torch.cat([torch.relu(net.conv2(torch.relu(net.conv1(x)))), prev[:, None, :, None]], 1)
    logits = net.head.conv(z)[:, 0, :, 0]
    ref_w = torch.softmax(torch.cat([net.head.cash_bias.expand(5, 1), logits], dim=1), dim=1)
    want_grads = torch.autograd.grad((ref_w * gw).sum(), params)
    got_grads = torch.autograd.grad((net(x, prev) * gw).sum(), params)
    for got, exp in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-12)


def test_rollout_matches_predict_and_train_more_continues(prices):
    m = EIIE(**{**SMALL, "steps": 20, "eval_every": 10}).fit(prices.iloc[:120])
    roll = m.rollout(prices)
    assert roll.shape == (len(prices) - SMALL["window"] + 1, 5)
    # each row equals predict on the window ending there, from the drifted previous row
    t = 60
    i = t - SMALL["window"] + 1
    w_prev = roll.iloc[i - 1].to_numpy()
    y = np.r_[1.0, prices.to_numpy()[t] / prices.to_numpy()[t - 1]]
    held = w_prev * y / (w_prev @ y)
    want = m.predict(prices.iloc[: t + 1], previous=held)
    np.testing.assert_allclose(roll.iloc[i].to_numpy(), want.to_numpy(), atol=1e-6)
    # 20 steps, then 20 more = one fit of 40 steps (without checkpoint choice)
    longer = EIIE(**{**SMALL, "steps": 40, "eval_every": 10}).fit(prices.iloc[:120])
    m.train_more(20)
    sa, sb = m.module_.state_dict(), longer.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [h["step"] for h in m.history_] == [10, 20, 30, 40]


def test_deterministic_option_restores_torch_flags(prices):
    import os

    before = torch.are_deterministic_algorithms_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    a = EIIE(**{**SMALL, "deterministic": True}).fit(prices)
    b = EIIE(**SMALL).fit(prices)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # CPU fits are bit-identical either way
    after = torch.are_deterministic_algorithms_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    assert before == after


@pytest.mark.parametrize("network", ["cnn", "rnn"])
def test_online_appends_equal_the_state_built_at_once(prices, network):
    """Appending test days in small pieces (buffers with spare room) gives the same state.

    The history, relatives and price tensor equal what a model that held the whole history
    from the start builds; the PVM keeps what training wrote and the new rows start uniform,
    also across a PVM replaced meanwhile (a restored checkpoint).
    """
    model = EIIE(**{**SMALL, "online_steps": 0, "network": network}).fit(prices.iloc[:100])
    rel = (prices.to_numpy()[1:] / prices.to_numpy()[:-1])[99:150]
    pvm0 = model._pvm.clone()
    pieces = [1, 3, 2, 1, 5, 1, 8, 30]
    start = 0
    for size in pieces:
        if size == 8:  # a restored checkpoint replaces the PVM with its own tensor
            model._pvm = model._pvm.clone()
        model.update_relatives(rel[start : start + size])
        start += size
    full = EIIE(**{**SMALL, "online_steps": 0, "network": network}).fit(prices.iloc[:151])
    assert model._feats.shape == full._feats.shape == (1, 151, prices.shape[1])
    np.testing.assert_allclose(model._feats, full._feats, rtol=1e-12)
    torch.testing.assert_close(model._y64, full._y64, rtol=1e-12, atol=0)
    torch.testing.assert_close(model._y32, full._y32, rtol=0, atol=0)
    torch.testing.assert_close(model._x, full._x, rtol=1e-6, atol=1e-7)
    # what training wrote is kept; the new periods start uniform
    torch.testing.assert_close(model._pvm[:100], pvm0, rtol=0, atol=0)
    n1 = prices.shape[1] + 1
    torch.testing.assert_close(
        model._pvm[100:], torch.full((51, n1), 1.0 / n1, dtype=torch.float64)
    )
    # the appends reused their buffers: far fewer reallocations than appends
    assert model._grow_buffers["x"].shape[0] >= model._x.shape[0]
    assert model._x.data_ptr() == model._grow_buffers["x"].data_ptr()


@pytest.mark.parametrize("kind", ["log", "simple"])
@pytest.mark.parametrize("reference", ["batch", "pvm"])
def test_compiled_training_reward_equals_the_torch_operations(kind, reference):
    """The CPU's one-pass reward and its gradient equal eiie_reward ∘ batch_previous.

    Float64, random weights and relatives; a held weight equal to its output (the cost
    term's kink, where torch's abs has derivative 0) is included; the gradient reaching
    output t - 1 through the held weights of t ("batch") is part of what is compared.
    """
    from portfolio_lab.models.eiie import training_reward

    rng = np.random.default_rng(3)
    B, m = 9, 6
    w = torch.tensor(rng.dirichlet(np.ones(m), size=B), requires_grad=True)
    prev = torch.tensor(rng.dirichlet(np.ones(m), size=B))
    y = torch.tensor(np.c_[np.ones(B), rng.uniform(0.95, 1.05, size=(B, m - 1))])
    with torch.no_grad():
        prev[0, 2] = w[0, 2]  # a tie with the first held row
        if reference == "pvm":
            prev[4, 3] = w[4, 3]
    got = training_reward(w, prev, y, 0.0025, kind, reference)
    (g_got,) = torch.autograd.grad(got, w)
    held = batch_previous(w, prev[:1], y) if reference == "batch" else prev
    want = eiie_reward(w, held, y, 0.0025, kind)
    (g_want,) = torch.autograd.grad(want, w)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-14)
    if reference == "batch":  # the comparison sees the path through held: without it,
        detached = eiie_reward(w, batch_previous(w, prev[:1], y).detach(), y, 0.0025, kind)
        (g_detached,) = torch.autograd.grad(detached, w)
        assert float((g_detached - g_want)[:-1].abs().max()) > 1e-6  # rows 0..B-2 differ
