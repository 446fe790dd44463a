"""Baselines against independent references: cvxpy, universal-portfolios, the engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from portfolio_lab.backtest.baselines import (
    BCRP,
    baseline,
    project_simplex,
    simplex_qp,
    solve_bcrp,
)
from portfolio_lab.backtest.baselines._simplex import simplex_qp_batch
from portfolio_lab.backtest.baselines.benchmarks import solve_bcrp_batch
from portfolio_lab.exceptions import InputError


@settings(max_examples=60, deadline=None)
@given(v=arrays(np.float64, st.integers(1, 12), elements=st.floats(-5, 5)))
def test_project_simplex_is_the_euclidean_projection(v: np.ndarray) -> None:
    p = project_simplex(v)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-12)
    # variational inequality on every vertex e_i certifies optimality over the simplex
    assert np.max((v - p) @ (np.eye(v.size) - p).T) <= 1e-10


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 8))
def test_simplex_qp_matches_cvxpy(seed: int, n: int) -> None:
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    Q = M @ M.T + 0.1 * np.eye(n)
    c = rng.normal(size=n) * 3
    y = simplex_qp(Q, c)
    var = cp.Variable(n)
    prob = cp.Problem(
        cp.Minimize(0.5 * cp.quad_form(var, Q) + c @ var), [var >= 0, cp.sum(var) == 1]
    )
    prob.solve(solver=cp.CLARABEL)
    f = 0.5 * y @ Q @ y + c @ y
    assert f <= prob.value + 1e-7
    np.testing.assert_allclose(y, var.value, atol=1e-5)
    # warm start from any feasible point gives the same solution
    np.testing.assert_allclose(simplex_qp(Q, c, rng.dirichlet(np.ones(n))), y, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 9), E=st.integers(1, 7))
def test_simplex_qp_batch_is_simplex_qp_problem_by_problem(seed: int, n: int, E: int) -> None:
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(E, n, n))
    Q = M @ M.transpose(0, 2, 1) + 0.05 * np.eye(n)
    c = rng.normal(size=(E, n)) * rng.choice([0.1, 3.0, 30.0], size=(E, 1))
    # warm starts with zeros (bounds that must be released) and vertices
    y0 = rng.dirichlet(np.ones(n), E) * (rng.random((E, n)) < 0.6)
    y0[y0.sum(axis=1) == 0, 0] = 1.0
    got = simplex_qp_batch(Q, c, y0)
    for e in range(E):
        np.testing.assert_allclose(got[e], simplex_qp(Q[e], c[e], y0[e]), atol=1e-10)
    assert np.all(got >= 0) and np.allclose(got.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 7),
    T=st.integers(3, 60),
    hessian=st.sampled_from(["auto", "dense", "sample"]),
)
def test_solve_bcrp_batch_is_solve_bcrp_sample_by_sample(
    seed: int, n: int, T: int, hessian: str
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.8, 1.25, (T, n))
    E = 6
    masks = rng.random((E, T)) < rng.uniform(0.05, 1.0, (E, 1))
    masks[~masks.any(axis=1), 0] = True
    masks[0] = True  # the whole history, like the (0, 0) expert
    starts = rng.dirichlet(np.ones(n), E)
    got = solve_bcrp_batch(x, masks, starts=starts, hessian=hessian)
    for e in range(E):
        ref = solve_bcrp(x[masks[e]], start=starts[e])
        np.testing.assert_allclose(got[e], ref.weights, atol=1e-8)
        # and the batch answer itself satisfies the KKT conditions of its sample
        g = (x[masks[e]] / (x[masks[e]] @ got[e])[:, None]).mean(axis=0)
        assert g.max() <= 1 + 1e-7
        assert np.all(np.abs(g[got[e] > 1e-6] - 1) < 1e-6)


def test_bcrp_batch_input_errors() -> None:
    x = np.random.default_rng(0).uniform(0.9, 1.1, (5, 3))
    with pytest.raises(InputError, match="selects no day"):
        solve_bcrp_batch(x, np.zeros((2, 5), dtype=bool))
    with pytest.raises(InputError, match="masks must be"):
        solve_bcrp_batch(x, np.ones((2, 4), dtype=bool))
    with pytest.raises(InputError, match="hessian must be"):
        solve_bcrp_batch(x, np.ones((2, 5), dtype=bool), hessian="exact")
    with pytest.raises(InputError, match="packed must be"):
        solve_bcrp_batch(x, np.ones((2, 5), dtype=bool), hessian="dense", packed=np.ones((5, 2)))


def test_hessian_method_follows_the_shape() -> None:
    from portfolio_lab.backtest.baselines import hessian_method, packed_outer

    T = 6000
    # B^K / B^NN on NYSE: most days in most samples, 23-36 assets: one dense product
    assert hessian_method(T, 23, np.full(51, 0.9 * T)) == "dense"
    assert hessian_method(T, 36, np.full(51, 0.8 * T)) == "dense"
    # small samples, or many assets (TSE, 88): a product per sample
    assert hessian_method(T, 36, np.full(51, 0.05 * T)) == "sample"
    assert hessian_method(1259, 88, np.full(51, 0.5 * 1259)) == "sample"
    x = np.random.default_rng(1).uniform(0.9, 1.1, (4, 3))
    z = packed_outer(x)
    i, j = np.triu_indices(3)
    np.testing.assert_array_equal(z, np.einsum("ti,tj->tij", x, x)[:, i, j])


def test_bk_and_bnn_give_the_same_weights_with_either_hessian(monkeypatch) -> None:
    import portfolio_lab.backtest.baselines.pattern_matching as pm
    from portfolio_lab.backtest import run as run_backtest

    rng = np.random.default_rng(5)
    x = rng.uniform(0.95, 1.06, (70, 4))
    prices = pd.DataFrame(np.cumprod(x, axis=0), index=pd.bdate_range("2000-01-03", periods=70))
    out = {}
    for forced in ("dense", "sample"):
        monkeypatch.setattr(pm, "hessian_method", lambda *a, forced=forced: forced)
        for name, cls in (("bk", pm.BK), ("bnn", pm.BNN)):
            out[(name, forced)] = run_backtest(cls(), prices).weights.to_numpy()
    for name in ("bk", "bnn"):
        np.testing.assert_allclose(out[(name, "dense")], out[(name, "sample")], atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bcrp_matches_cvxpy_and_is_kkt_optimal(seed: int) -> None:
    cp = pytest.importorskip("cvxpy")
    x = np.random.default_rng(seed).uniform(0.85, 1.2, (200, 6))
    sol = solve_bcrp(x)
    assert sol.kkt_residual < 1e-9
    b = cp.Variable(6)
    prob = cp.Problem(cp.Maximize(cp.sum(cp.log(x @ b))), [b >= 0, cp.sum(b) == 1])
    prob.solve(solver=cp.CLARABEL)
    assert sol.log_wealth >= prob.value - 1e-7
    np.testing.assert_allclose(sol.weights, b.value, atol=1e-4)


def test_bcrp_policy_wealth_dominates_every_crp() -> None:
    x = np.random.default_rng(4).uniform(0.9, 1.12, (300, 4))
    policy = BCRP()
    policy.fit_hindsight(x)
    best = np.sum(np.log(x @ policy.weights_))
    for w in np.random.default_rng(5).dirichlet(np.ones(4), 50):
        assert np.sum(np.log(x @ w)) <= best + 1e-12


# ------------------------------------------------------------ universal-portfolios


@pytest.fixture(scope="module")
def djia():
    from portfolio_lab.data import load_prices

    prices = load_prices("olps:djia").iloc[:161]
    x = prices.iloc[1:].to_numpy() / prices.iloc[:-1].to_numpy()
    return prices, x


def _ours(name: str, x: np.ndarray) -> np.ndarray:
    policy = baseline(name)
    if policy.hindsight:
        policy.fit_hindsight(x)
        return policy.weights_vectorized(x)
    return policy.weights_path(x)


def _universal(algo, prices):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return algo.run(prices.reset_index(drop=True))


@pytest.mark.parametrize(
    ("name", "factory", "rtol"),
    [
        ("ucrp", lambda a: a.CRP(), 1e-10),
        ("ubah", lambda a: a.BAH(), 1e-10),
        ("bcrp", lambda a: a.BCRP(), 1e-6),
        ("eg", lambda a: a.EG(eta=0.05), 1e-10),
        ("pamr", lambda a: a.PAMR(eps=0.5, variant=0), 1e-10),
        ("pamr1", lambda a: a.PAMR(eps=0.5, C=500, variant=1), 1e-10),
        ("pamr2", lambda a: a.PAMR(eps=0.5, C=500, variant=2), 1e-10),
        # universal projects with cvxopt's interior point (tolerance ~1e-7 per step)
        ("ons", lambda a: a.ONS(delta=0.125, beta=1.0, eta=0.0), 1e-3),
    ],
)
def test_final_wealth_matches_universal_portfolios(djia, name, factory, rtol) -> None:
    algos = pytest.importorskip("universal.algos")
    prices, x = djia
    ref = _universal(factory(algos), prices)
    ours = np.prod(np.sum(_ours(name, x) * x, axis=1))
    assert ours == pytest.approx(ref.total_wealth, rel=rtol)


def test_olmar_matches_universal_with_the_toolbox_warm_up(djia) -> None:
    """universal's OLMAR predicts with the price level during warm-up; with the toolbox's
    rule (keep 1/n until two relatives, then the last relative until w + 1) they agree."""
    algos = pytest.importorskip("universal.algos")
    prices, x = djia

    class ToolboxWarmUp(algos.OLMAR):
        def step(self, x, last_b, history):
            if len(history) < 3:
                return last_b
            if len(history) < self.window + 2:
                pred = history.iloc[-1] / history.iloc[-2]
            else:
                pred = self.predict(x, history.iloc[-self.window :])
            return self.update(last_b, pred, self.eps)

    ref = _universal(ToolboxWarmUp(window=5, eps=10), prices)
    ours = _ours("olmar", x)
    np.testing.assert_allclose(ours, ref.B.to_numpy()[1:], atol=1e-10)
    plain = _universal(algos.OLMAR(window=5, eps=10), prices)
    assert not np.allclose(plain.B.to_numpy()[1:], ours, atol=1e-6)  # the documented quirk


# ------------------------------------------------------------------------ the engine


@pytest.mark.parametrize("name", ["ucrp", "ubah", "bcrp", "olmar", "pamr"])
def test_engine_wealth_and_weights_match_direct_loop(djia, name) -> None:
    from portfolio_lab.backtest import run

    prices, x = djia
    res = run(baseline(name), prices)
    direct = _ours(name, x)
    np.testing.assert_allclose(res.weights.to_numpy(), direct, atol=1e-12)
    np.testing.assert_allclose(
        res.wealth.to_numpy(), np.cumprod(np.sum(direct * x, axis=1)), rtol=1e-12
    )
