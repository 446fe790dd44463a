"""Baselines: registry, simplex invariants, no look-ahead, hand-checked steps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from portfolio_lab.backtest.baselines import (
    BASELINES,
    BCRP,
    CWMR,
    EG,
    OLMAR,
    PAMR,
    RMR,
    UBAH,
    UCRP,
    BAHAnticor,
    BestStock,
    anticor_transfer,
    baseline,
    l1_median,
    project_simplex,
)
from portfolio_lab.backtest.baselines._base import OnlinePolicy
from portfolio_lab.exceptions import ConvergenceError, InputError, ShapeError

CONTRACT_NAMES = "ubah best_stock bcrp ucrp eg ons anticor pamr olmar cwmr rmr".split()

# small windows so that every code path (Anticor transfers, OLMAR/RMR averages) runs
SMALL = {
    "anticor": {"max_window": 3},
    "anticor_single": {"window": 2},
    "olmar": {"window": 3},
    "rmr": {"window": 3},
    "bk": {"K": 2, "L": 2},
    "bnn": {"K": 2, "L": 2},
    "corn": {"window": 2},
    "up": {"n_samples": 300},
    "bah_olmar": {"max_window": 5},
}


def make(name: str):
    return baseline(name, **SMALL.get(name, {}))


def all_weights(policy, x: np.ndarray) -> np.ndarray:
    if policy.hindsight:
        policy.fit_hindsight(x)
        return policy.weights_vectorized(x)
    return policy.weights_path(x)


def relatives_strategy(min_t: int = 1, max_t: int = 25, max_n: int = 5):
    shapes = st.tuples(st.integers(min_t, max_t), st.integers(1, max_n))
    return shapes.flatmap(
        lambda s: arrays(np.float64, s, elements=st.floats(0.5, 2.0, allow_subnormal=False))
    )


def test_registry_has_contract_names_and_defaults() -> None:
    assert set(CONTRACT_NAMES) <= set(BASELINES)
    for name in BASELINES:
        policy = baseline(name)
        assert isinstance(policy.name, str) and policy.name
    assert baseline("olmar").eps == 10.0 and baseline("olmar").window == 5
    assert baseline("eg").eta == 0.05
    assert (baseline("ons").eta, baseline("ons").beta, baseline("ons").delta) == (0, 1, 0.125)
    assert isinstance(baseline("anticor"), BAHAnticor) and baseline("anticor").max_window == 30
    assert baseline("pamr2").variant == "PAMR-2" and baseline("pamr2").C == 500
    assert baseline("cwmr").variant == "stdev" and baseline("cwmr_var").variant == "var"
    assert baseline("rmr").eps == 5 and baseline("rmr").window == 5
    assert baseline("OLMAR", eps=5).eps == 5


def test_registry_errors() -> None:
    with pytest.raises(InputError, match="unknown baseline"):
        baseline("nope")
    with pytest.raises(InputError, match="does not accept"):
        baseline("eg", window=3)
    with pytest.raises(InputError):
        baseline("pamr", variant="PAMR-3")
    with pytest.raises(InputError):
        baseline("olmar", window=1)
    with pytest.raises(InputError):
        baseline("cwmr", variant="cov")


@pytest.mark.parametrize("name", sorted(BASELINES))
@settings(max_examples=25, deadline=None)
@given(x=relatives_strategy())
def test_weights_stay_on_simplex(name: str, x: np.ndarray) -> None:
    w = all_weights(make(name), x)
    assert w.shape == x.shape
    assert np.all(np.isfinite(w))
    assert np.all(w >= 0.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n in BASELINES if not BASELINES[n].hindsight))
@settings(max_examples=15, deadline=None)
@given(
    x=relatives_strategy(min_t=8, max_t=20),
    cut=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_no_look_ahead(name: str, x: np.ndarray, cut: int, seed: int) -> None:
    """Changing relatives from row ``cut`` on leaves the weights of periods <= cut unchanged."""
    y = x.copy()
    y[cut:] = np.random.default_rng(seed).uniform(0.5, 2.0, y[cut:].shape)
    wx = make(name).weights_path(x)
    wy = make(name).weights_path(y)
    np.testing.assert_array_equal(wx[: cut + 1], wy[: cut + 1])


@pytest.mark.parametrize("name", sorted(n for n in BASELINES if not BASELINES[n].hindsight))
def test_step_matches_path_and_is_incremental(name: str) -> None:
    x = np.random.default_rng(3).uniform(0.8, 1.25, (14, 4))
    path = make(name).weights_path(x)
    policy = make(name)
    policy.reset(4)
    # called every other period: the policy must catch up on the skipped relatives
    for t in range(0, 14, 2):
        np.testing.assert_array_equal(policy.step(x[:t], np.full(4, 0.25)), path[t])
    np.testing.assert_array_equal(policy.step(x[:12], np.full(4, 0.25)), path[12])
    with pytest.raises(InputError, match="history shrank"):
        policy.step(x[:3], np.full(4, 0.25))


def test_online_policy_validates_relatives() -> None:
    with pytest.raises(ShapeError):
        UCRP().weights_path(np.ones(5))
    with pytest.raises(InputError):
        UCRP().weights_path(np.array([[1.0, -1.0]]))
    with pytest.raises(InputError):
        EG().weights_path(np.array([[1.0, np.nan]]))


def test_hindsight_policies_need_fit() -> None:
    with pytest.raises(ConvergenceError, match="fit_hindsight"):
        BCRP().step(np.ones((0, 3)), np.full(3, 1 / 3))
    assert BCRP.hindsight and BestStock.hindsight and not UBAH.hindsight


# ---------------------------------------------------------------- hand-checked cases


def test_ucrp_and_ubah_by_hand() -> None:
    x = np.array([[2.0, 1.0], [0.5, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(UCRP().weights_path(x), 0.5)
    # buy and hold: values (1/2, 1/2) -> (1, 1/2) -> (1/2, 1/2)
    expected = np.array([[0.5, 0.5], [2 / 3, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(UBAH().weights_path(x), expected)
    np.testing.assert_allclose(UBAH().weights_vectorized(x), expected)
    wealth = np.prod(np.sum(UBAH().weights_path(x) * x, axis=1))
    assert wealth == pytest.approx((2 * 0.5 * 1 + 1 * 1 * 3) / 2)


def test_best_stock_by_hand() -> None:
    x = np.array([[2.0, 1.0, 1.1], [0.4, 1.0, 1.1]])
    policy = BestStock()
    policy.fit_hindsight(x)
    np.testing.assert_array_equal(policy.weights_, [0.0, 0.0, 1.0])


def test_eg_one_step_by_hand() -> None:
    x = np.array([[1.2, 0.9]])
    w = EG(eta=0.5).weights_path(np.vstack([x, x]))
    ret = 0.5 * 1.2 + 0.5 * 0.9
    a, b = np.exp(0.5 * 1.2 / ret), np.exp(0.5 * 0.9 / ret)
    np.testing.assert_allclose(w[1], [a / (a + b), b / (a + b)])
    np.testing.assert_allclose(w[0], [0.5, 0.5])


def test_pamr_one_step_by_hand() -> None:
    x = np.array([[1.2, 0.9], [1.0, 1.0]])
    w = PAMR(eps=0.5).weights_path(x)
    # loss = 1.05 - 0.5; x - mean = (0.15, -0.15); tau = 0.55 / 0.045 -> b goes to (0, 1)
    np.testing.assert_allclose(w[1], [0.0, 1.0])
    w = PAMR(eps=1.04, variant="PAMR-1", C=0.1).weights_path(x)
    # tau = min(0.1, 0.01 / 0.045) = 0.1: b = (0.5 - 0.015, 0.5 + 0.015)
    np.testing.assert_allclose(w[1], [0.485, 0.515])
    w = PAMR(eps=1.04, variant="PAMR-2", C=10.0).weights_path(x)
    tau = 0.01 / (0.045 + 0.05)
    np.testing.assert_allclose(w[1], [0.5 - 0.15 * tau, 0.5 + 0.15 * tau])
    # no loss when the return is below eps: passive
    np.testing.assert_allclose(PAMR(eps=2.0).weights_path(x)[1], [0.5, 0.5])


def test_olmar_prediction_by_hand() -> None:
    # 3 assets, window 3; after 4 relatives the prediction is the moving average of
    # the last three prices over the current price
    x = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.1, 0.9, 1.0], [1.1, 0.8, 1.0]])
    policy = OLMAR(eps=10.0, window=3)
    w = policy.weights_path(np.vstack([x, np.ones((1, 3))]))
    p = np.cumprod(np.vstack([np.ones((1, 3)), x]), axis=0)
    pred = p[-3:].mean(axis=0) / p[-1]
    dev = pred - pred.mean()
    b = w[3]
    lam = (10.0 - b @ pred) / (dev @ dev)
    np.testing.assert_allclose(w[4], project_simplex(b + lam * dev))
    # the uniform portfolio is kept until two relatives are known (OLPS timing)
    np.testing.assert_allclose(w[:2], 1 / 3)


def test_l1_median_hand_cases_and_scipy() -> None:
    square = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(l1_median(square), [1.0, 1.0], atol=1e-8)
    # with a data point at the centre the median is that point (Vardi-Zhang case)
    np.testing.assert_allclose(l1_median(np.vstack([square, [1.0, 1.0]])), [1.0, 1.0])
    line = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    np.testing.assert_allclose(l1_median(line), [1.0, 1.0], atol=1e-8)
    from scipy.optimize import minimize

    X = np.random.default_rng(0).uniform(0.5, 2.0, (5, 4))
    ref = minimize(lambda y: np.linalg.norm(X - y, axis=1).sum(), X.mean(axis=0), tol=1e-12)
    med = l1_median(X, tol=1e-13, max_iter=5000)
    obj = np.linalg.norm(X - med, axis=1).sum()
    assert obj <= ref.fun + 1e-9


def test_rmr_uses_last_relative_before_window() -> None:
    x = np.array([[1.2, 0.9], [1.0, 1.0]])
    w = RMR(eps=5.0, window=3).weights_path(x)
    dev = x[0] - x[0].mean()
    lam = (5.0 - 0.5 * 1.2 - 0.5 * 0.9) / (dev @ dev)
    np.testing.assert_allclose(w[1], project_simplex(np.full(2, 0.5) + lam * dev))


def test_anticor_transfer_by_hand() -> None:
    # asset 0 rose more in the second window and its return is positively correlated
    # with asset 1's a window later: wealth moves from 0 to 1
    lx1 = np.array([[0.1, 0.0], [0.0, 0.05], [0.2, 0.1]])
    lx2 = np.array([[0.3, 0.0], [0.1, 0.1], [0.5, 0.2]])
    b = np.array([0.5, 0.5])
    out = anticor_transfer(np.vstack([lx1, lx2]), b, 3)
    c1, c2 = lx1 - lx1.mean(0), lx2 - lx2.mean(0)
    cor = (c1.T @ c2) / np.sqrt(np.outer((c1**2).sum(0), (c2**2).sum(0)))
    claim = cor[0, 1] + max(0, -cor[0, 0]) + max(0, -cor[1, 1])
    assert cor[0, 1] > 0 and claim > 0
    np.testing.assert_allclose(out, [0.0, 1.0])  # the only claim takes all of b_0
    # the toolbox's >= comparison adds the positive self-correlation to the row sum
    out_ge = anticor_transfer(np.vstack([lx1, lx2]), b, 3, strict=False)
    share = claim / (claim + max(cor[0, 0], 0))
    np.testing.assert_allclose(out_ge, [0.5 - 0.5 * share, 0.5 + 0.5 * share])


def test_cwmr_first_step_moves_toward_loser() -> None:
    x = np.array([[1.2, 0.9, 1.0], [1.0, 1.0, 1.0]])
    for variant in ("stdev", "var"):
        w = CWMR(variant=variant).weights_path(x)[1]
        assert w[1] > 1 / 3 > w[0]
        np.testing.assert_allclose(w.sum(), 1.0)


def test_bah_anticor_is_the_wealth_weighted_mix_of_experts() -> None:
    from portfolio_lab.backtest.baselines import Anticor

    x = np.random.default_rng(5).uniform(0.8, 1.25, (16, 3))
    mix = BAHAnticor(max_window=4, strict=True).weights_path(x)
    experts = [Anticor(window=w, strict=True).weights_path(x) for w in (2, 3, 4)]
    wealth = np.array(
        [np.concatenate([[1.0], np.cumprod((e * x).sum(axis=1))[:-1]]) for e in experts]
    )
    expected = np.einsum("kt,ktn->tn", wealth, np.array(experts)) / wealth.sum(axis=0)[:, None]
    np.testing.assert_allclose(mix, expected, atol=1e-12)


def test_online_policy_is_abstract() -> None:
    class Half(OnlinePolicy):
        name = "half"

        def _update(self, history):
            return np.full(history.shape[1], 1 / history.shape[1])

    np.testing.assert_allclose(Half().weights_path(np.ones((3, 2))), 0.5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), strict=st.booleans())
def test_anticor_batch_equals_one_window_at_a_time(seed: int, n: int, strict: bool) -> None:
    from portfolio_lab.backtest.baselines import anticor_transfer_batch

    rng = np.random.default_rng(seed)
    logs = np.log(rng.uniform(0.8, 1.25, (12, n)))
    logs[:, 0] = 0.0  # a constant asset: zero variance, zero correlation
    B = rng.dirichlet(np.ones(n), 5)
    out = anticor_transfer_batch(logs, B, np.arange(2, 7), strict=strict)
    ref = [anticor_transfer(logs[-2 * w :], B[w - 2], w, strict=strict) for w in range(2, 7)]
    np.testing.assert_allclose(out, np.array(ref), atol=1e-12)


def test_project_simplex_survives_huge_updates() -> None:
    v = np.array([1.0, 1.0 + 1e-16, 1.0]) * 3e16
    p = project_simplex(v)
    assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)
    with pytest.raises(InputError):
        project_simplex(np.array([np.inf, 0.0]))
