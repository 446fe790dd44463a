import numpy as np
import pytest

from portfolio_lab.backtest import ScheduledWeights, run
from portfolio_lab.exceptions import InputError, ShapeError
from portfolio_lab.models import LSTMSharpe, WalkForwardPolicy, derive_seed
from portfolio_lab.models.evaluation import parse_override, recost, run_seeds, schedule_frame

from ._fixtures import TINY, make_prices


@pytest.fixture(scope="module")
def prices():
    return make_prices(150, 3, seed=2)


def _policy(**kw):
    opts = dict(refit_every=40, first_fit=60)
    opts.update(kw)
    return WalkForwardPolicy(LSTMSharpe(**{**TINY, "epochs": 2}), **opts)


def test_schedule_seeds_and_one_over_n_before_the_first_fit(prices):
    pol = _policy()
    res = run(pol, prices, fee=0.001)
    w = res.weights.to_numpy()
    np.testing.assert_allclose(w[0], 1 / 3)
    x = prices.to_numpy()[1:] / prices.to_numpy()[:-1]
    for t in range(1, 60):  # 1/N bought on day one, then held (drifting)
        g = w[t - 1] * x[t - 1]
        np.testing.assert_allclose(w[t], g / g.sum(), rtol=1e-12)
    log = pol.fit_log_
    assert [r["t"] for r in log] == [60, 100, 140]
    assert all(r["train_start"] == 0 and r["train_stop"] == r["t"] for r in log)
    assert [r["seed"] for r in log] == [derive_seed(0, k) for k in range(3)]
    assert pol.estimator_ is not None and pol.estimator.__dict__.get("module_") is None


def test_trailing_window_and_rebalancing(prices):
    pol = _policy(train_window=45, rebalance_every=5)
    res = run(pol, prices)
    assert [(r["train_start"], r["train_stop"]) for r in pol.fit_log_] == [
        (15, 60),
        (55, 100),
        (95, 140),
    ]
    w = res.weights.to_numpy()
    x = prices.to_numpy()[1:] / prices.to_numpy()[:-1]
    for t in range(61, 149):
        if (t - 60) % 5:
            g = w[t - 1] * x[t - 1]
            np.testing.assert_allclose(w[t], g / g.sum(), rtol=1e-12)


def test_weights_between_refits_come_from_the_block_model(prices):
    pol = _policy(columns=prices.columns)
    res = run(pol, prices)
    model = pol.estimator_  # the last block's model, fitted at t = 140
    for t in (140, 145, 148):
        expected = model.predict(prices.iloc[: t + 1])
        np.testing.assert_allclose(res.weights.iloc[t].to_numpy(), expected.to_numpy(), atol=1e-12)


def test_same_seed_same_run_and_fee_does_not_change_the_schedule(prices):
    a = run(_policy(), prices, fee=0.0)
    b = run(_policy(), prices, fee=0.0025)
    np.testing.assert_array_equal(a.weights.to_numpy(), b.weights.to_numpy())
    again = recost(a, prices, 0.0025)
    np.testing.assert_allclose(again.wealth.to_numpy(), b.wealth.to_numpy(), rtol=1e-13)


def test_cash_estimators_get_the_risky_assets_only(prices):
    pol = WalkForwardPolicy(
        LSTMSharpe(**{**TINY, "epochs": 1, "cash": True}), refit_every=50, first_fit=60
    )
    res = run(pol, prices, cash=True)
    assert list(res.weights.columns) == ["cash", "A0", "A1", "A2"]
    assert res.weights.iloc[0, 0] == 0.0
    assert pol.estimator_.assets_ == ["asset_0", "asset_1", "asset_2"]


def test_bad_arguments():
    with pytest.raises(InputError):
        WalkForwardPolicy(object(), refit_every=5)
    with pytest.raises(InputError):
        WalkForwardPolicy(LSTMSharpe(**TINY), refit_every=0)
    with pytest.raises(InputError, match="train_window"):
        WalkForwardPolicy(LSTMSharpe(**TINY), refit_every=5, train_window=3)
    pol = WalkForwardPolicy(LSTMSharpe(**TINY), refit_every=5, first_fit=2)
    with pytest.raises(InputError, match="first_fit"):
        pol.start  # noqa: B018
    pol = WalkForwardPolicy(LSTMSharpe(**TINY), refit_every=5, columns=["a"])
    with pytest.raises(ShapeError):
        pol.reset(3)


def test_run_seeds_and_schedule_frame(prices):
    runs = run_seeds(
        LSTMSharpe(**{**TINY, "epochs": 1}),
        prices,
        seeds=[3, 4],
        first_fit=60,
        refit_every=45,
        progress=False,
    )
    assert [r.seed for r in runs] == [3, 4]
    sched = schedule_frame(runs[0].fit_log, prices, len(prices) - 1)
    assert (sched.train_last < sched.test_first).all()
    assert sched.test_last.iloc[-1] == prices.index[-1]
    assert not np.array_equal(runs[0].result.weights.to_numpy(), runs[1].result.weights.to_numpy())


def test_parse_override_and_scheduled_weights(prices):
    assert parse_override("window:20") == {"window": 20}
    assert parse_override("denoise=mp") == {"denoise": "mp"}
    assert parse_override("vol_target:0.1") == {"vol_target": 0.1}
    with pytest.raises(InputError):
        parse_override("window")
    with pytest.raises(ShapeError):
        run(ScheduledWeights(np.full((5, 3), 1 / 3)), prices)
