"""Rolling out-of-sample evaluation against a direct loop; no look-ahead; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_lab.estimators.covariance import ledoit_wolf
from portfolio_lab.estimators.evaluation import (
    OOSEvaluation,
    rebalance_schedule,
    rolling_min_variance_oos,
    variance_ratio_bootstrap,
)
from portfolio_lab.exceptions import InputError, NonFiniteError, ShapeError


def make_returns(t: int = 130, n: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mix = np.eye(n) + 0.3 * rng.standard_normal((n, n))
    values = 0.01 * rng.standard_normal((t, n)) @ mix + 0.0005
    dates = pd.bdate_range("2020-01-01", periods=t, name="date")
    return pd.DataFrame(values, index=dates, columns=[f"A{i}" for i in range(n)])


def sample_cov(a: np.ndarray) -> np.ndarray:
    return np.cov(a, rowvar=False)


def gmv_closed_form(cov: np.ndarray) -> np.ndarray:
    x = np.linalg.solve(cov, np.ones(cov.shape[0]))
    return x / x.sum()


def test_matches_direct_loop() -> None:
    frame = make_returns()
    window, every = 40, 15
    res = rolling_min_variance_oos(
        frame, {"sample": sample_cov}, window=window, rebalance_every=every, progress=False
    )
    assert isinstance(res, OOSEvaluation)
    values = frame.to_numpy()
    realized, weights, conds = [], [], []
    t = window
    while t < len(values):
        cov = np.cov(values[t - window : t], rowvar=False)
        w = gmv_closed_form(cov)
        weights.append(w)
        conds.append(np.linalg.cond(cov))
        for s in range(t, min(t + every, len(values))):
            realized.append(sum(w[i] * values[s, i] for i in range(values.shape[1])))
        t += every
    realized = np.array(realized)
    weights = np.array(weights)
    np.testing.assert_allclose(res.realized["sample"].to_numpy(), realized, rtol=1e-10)
    np.testing.assert_allclose(res.weights["sample"].to_numpy(), weights, rtol=1e-10)
    np.testing.assert_allclose(res.condition_numbers["sample"].to_numpy(), conds, rtol=1e-8)
    row = res.summary.loc["sample"]
    mean = realized.mean()
    var = sum((r - mean) ** 2 for r in realized) / (len(realized) - 1)
    assert row["oos_variance"] == pytest.approx(var, rel=1e-10)
    assert row["oos_volatility"] == pytest.approx(np.sqrt(252 * var), rel=1e-10)
    assert row["mean_return"] == pytest.approx(252 * mean, rel=1e-10)
    turnover = [np.abs(weights[k] - weights[k - 1]).sum() for k in range(1, len(weights))]
    assert row["mean_turnover"] == pytest.approx(np.mean(turnover), rel=1e-10)
    assert row["mean_gross_exposure"] == pytest.approx(np.abs(weights).sum(axis=1).mean())
    assert row["n_rebalances"] == len(weights) == 6
    assert list(res.realized.index) == list(frame.index[window:])
    assert list(res.weights["sample"].index) == list(frame.index[window::every])
    assert res.holding.iloc[0] == frame.index[window]
    assert res.holding.iloc[every] == frame.index[window + every]
    assert res.holding.iloc[-1] == frame.index[window + 5 * every]


def test_no_look_ahead() -> None:
    frame = make_returns(t=150, seed=1)
    window, every, cut = 30, 10, 85
    changed = frame.copy()
    rng = np.random.default_rng(2)
    changed.iloc[cut:] = rng.standard_normal(changed.iloc[cut:].shape) * 0.05
    estimators = {"sample": sample_cov, "lw": ledoit_wolf}
    a = rolling_min_variance_oos(
        frame, estimators, window=window, rebalance_every=every, progress=False
    )
    b = rolling_min_variance_oos(
        changed, estimators, window=window, rebalance_every=every, progress=False
    )
    for name in estimators:
        past = a.weights[name].index < frame.index[cut + 1]  # windows ending before `cut`
        assert past.sum() == 6
        pd.testing.assert_frame_equal(a.weights[name][past], b.weights[name][past])
        before = a.realized.index < frame.index[cut]
        pd.testing.assert_series_equal(a.realized[name][before], b.realized[name][before])
        assert not np.allclose(a.weights[name][~past], b.weights[name][~past])


def test_estimator_sees_only_the_trailing_window() -> None:
    frame = make_returns(t=60, seed=3)
    seen: list[np.ndarray] = []

    def spy(a: np.ndarray) -> np.ndarray:
        seen.append(a.copy())
        a[:] = np.nan  # mutating the argument must not corrupt later periods
        return np.eye(a.shape[1])

    res = rolling_min_variance_oos(
        frame, {"spy": spy}, window=20, rebalance_every=7, progress=False
    )
    starts = rebalance_schedule(60, 20, 7)
    assert len(seen) == len(starts)
    for a, t in zip(seen, starts, strict=True):
        np.testing.assert_array_equal(a, frame.to_numpy()[t - 20 : t])
    # Σ = I gives equal weights
    np.testing.assert_allclose(res.weights["spy"].to_numpy(), 0.25)
    assert np.all(np.isfinite(res.realized.to_numpy()))


def test_long_only_weights() -> None:
    frame = make_returns(t=120, n=6, seed=4)
    frame.iloc[:, 0] *= 4.0  # a volatile asset the unconstrained GMV shorts
    res = rolling_min_variance_oos(
        frame, {"lw": ledoit_wolf}, window=40, rebalance_every=20, long_only=True, progress=False
    )
    w = res.weights["lw"].to_numpy()
    assert np.all(w >= -1e-9)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert res.long_only
    start = 0
    values = frame.to_numpy()
    for k, t in enumerate(rebalance_schedule(120, 40, 20)):
        block = values[t : t + 20] @ w[k]
        np.testing.assert_allclose(res.realized["lw"].iloc[start : start + len(block)], block)
        start += len(block)


def test_rebalance_schedule() -> None:
    assert rebalance_schedule(10, 3, 4) == [3, 7]
    assert rebalance_schedule(4, 3, 1) == [3]
    with pytest.raises(InputError, match="window"):
        rebalance_schedule(10, 1, 1)
    with pytest.raises(InputError, match="rebalance_every"):
        rebalance_schedule(10, 3, 0)
    with pytest.raises(InputError, match="out-of-sample"):
        rebalance_schedule(10, 10, 1)


def test_bad_input() -> None:
    frame = make_returns(t=50, seed=5)
    kw = {"window": 20, "rebalance_every": 5, "progress": False}
    with pytest.raises(InputError, match="DataFrame"):
        rolling_min_variance_oos(frame.to_numpy(), {"s": sample_cov}, **kw)
    with pytest.raises(InputError, match="empty"):
        rolling_min_variance_oos(frame, {}, **kw)
    with pytest.raises(InputError, match="callable"):
        rolling_min_variance_oos(frame, {"s": 3}, **kw)
    bad = frame.copy()
    bad.iloc[7, 2] = np.nan
    with pytest.raises(NonFiniteError):
        rolling_min_variance_oos(bad, {"s": sample_cov}, **kw)
    with pytest.raises(ShapeError, match="expected a"):
        rolling_min_variance_oos(frame, {"s": lambda a: np.eye(2)}, **kw)
    with pytest.raises(NonFiniteError, match="NaN"):
        rolling_min_variance_oos(frame, {"s": lambda a: np.full((4, 4), np.nan)}, **kw)


def test_variance_ratio_bootstrap_exact_cases() -> None:
    rng = np.random.default_rng(6)
    base = rng.standard_normal(500)
    frame = pd.DataFrame({"ref": base, "double": 2.0 * base, "same": base + 0.0})
    out = variance_ratio_bootstrap(frame, "ref", n_boot=200, seed=1)
    # a scaled copy has ratio 4 in every replicate, so its interval collapses on 4
    assert out.loc["double", "variance_ratio"] == pytest.approx(4.0)
    assert out.loc["double", "ci_low"] == pytest.approx(4.0)
    assert out.loc["double", "ci_high"] == pytest.approx(4.0)
    assert out.loc["same", "share_ratio_ge_1"] == 1.0
    assert out.loc["ref", "variance_ratio"] == 1.0
    again = variance_ratio_bootstrap(frame, "ref", n_boot=200, seed=1)
    pd.testing.assert_frame_equal(out, again)


def test_variance_ratio_bootstrap_coverage() -> None:
    # independent series with equal variance: the 90% interval should contain 1 in
    # roughly 90% of samples (loose bounds: 40 samples)
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(40):
        frame = pd.DataFrame(rng.standard_normal((400, 2)), columns=["a", "b"])
        out = variance_ratio_bootstrap(frame, "a", block=5, n_boot=200, level=0.9, seed=2)
        hits += out.loc["b", "ci_low"] <= 1.0 <= out.loc["b", "ci_high"]
    assert 30 <= hits <= 40
    # a 30% larger variance is detected with 2000 observations
    frame = pd.DataFrame(
        rng.standard_normal((2000, 2)) * np.array([1.0, np.sqrt(1.3)]), columns=["a", "b"]
    )
    out = variance_ratio_bootstrap(frame, "a", n_boot=300)
    assert out.loc["b", "ci_low"] > 1.0


def test_variance_ratio_bootstrap_errors() -> None:
    frame = pd.DataFrame(np.ones((50, 2)), columns=["a", "b"])
    with pytest.raises(InputError, match="reference"):
        variance_ratio_bootstrap(frame, "c")
    with pytest.raises(InputError, match="block"):
        variance_ratio_bootstrap(frame, "a", block=0)
    with pytest.raises(InputError, match="n_boot"):
        variance_ratio_bootstrap(frame, "a", n_boot=10)
    with pytest.raises(InputError, match="level"):
        variance_ratio_bootstrap(frame, "a", level=1.0)


def test_permuting_assets_permutes_weights_and_keeps_realized_returns() -> None:
    frame = make_returns(t=90, n=5, seed=8)
    perm = [3, 0, 4, 1, 2]
    shuffled = frame.iloc[:, perm]
    estimators = {
        "lw": ledoit_wolf,
        "lw_cc": lambda a: ledoit_wolf(a, target="constant_correlation"),
        "sample": sample_cov,
    }
    kw = {"window": 30, "rebalance_every": 10, "progress": False}
    a = rolling_min_variance_oos(frame, estimators, **kw)
    b = rolling_min_variance_oos(shuffled, estimators, **kw)
    pd.testing.assert_frame_equal(a.realized, b.realized, rtol=1e-10)
    for name in estimators:
        pd.testing.assert_frame_equal(
            a.weights[name][shuffled.columns], b.weights[name], rtol=1e-8, atol=1e-12
        )
