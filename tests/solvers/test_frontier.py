from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from portfolio_lab.solvers import (
    FrontierResult,
    efficient_frontier,
    markowitz_lagrange,
    max_sharpe,
    min_variance,
)
from portfolio_lab.solvers._bounds import resolve_bounds

from ._problems import cvx_markowitz, random_problem, real_like_problem


def test_rows_equal_single_point_lagrange() -> None:
    mu, cov, _ = random_problem(9, seed=4)
    targets = np.linspace(mu.min() - 0.5, mu.max() + 0.5, 25)
    fr = efficient_frontier(mu, cov, targets)
    assert isinstance(fr, FrontierResult) and len(fr) == 25
    assert fr.weights.shape == (25, 9)
    for i, r in enumerate(targets):
        single = markowitz_lagrange(mu, cov, r)
        np.testing.assert_allclose(fr.weights[i], single.weights, atol=1e-10, rtol=0)
        assert fr.risks[i] == pytest.approx(single.risk, rel=1e-10)
    np.testing.assert_allclose(fr.returns, targets, atol=1e-12)
    np.testing.assert_allclose(fr.weights.sum(axis=1), 1.0, atol=1e-12)
    assert fr.status == ("optimal",) * 25
    assert fr.n_iter.dtype.kind == "i" and not fr.n_iter.any()
    assert fr.primal_residual.max() < 1e-12 and fr.dual_residual.max() < 1e-12
    assert fr.method == "closed_form"


def test_frontier_matches_clarabel_on_real_like_problem() -> None:
    mu, cov = real_like_problem(15, seed=3)
    targets = np.quantile(mu, [0.2, 0.5, 0.9])
    fr = efficient_frontier(mu, cov, targets)
    for i, r in enumerate(targets):
        np.testing.assert_allclose(fr.weights[i], cvx_markowitz(mu, cov, r), atol=1e-6, rtol=0)


def test_frontier_variance_is_the_parabola() -> None:
    mu, cov, _ = random_problem(6, seed=9)
    lag = markowitz_lagrange(mu, cov, 0.0)
    targets = np.linspace(-2, 2, 50)
    fr = efficient_frontier(mu, cov, targets)
    parabola = (lag.A * targets**2 - 2 * lag.B * targets + lag.C) / lag.delta
    np.testing.assert_allclose(fr.risks**2, parabola, rtol=1e-10)


def test_geq_frontier_is_min_variance_below_the_vertex() -> None:
    mu, cov, _ = random_problem(7, seed=13)
    lag = markowitz_lagrange(mu, cov, 0.0)
    r_mv = lag.B / lag.A
    targets = np.array([r_mv - 1.0, r_mv - 0.1, r_mv + 0.1, r_mv + 1.0])
    fr = efficient_frontier(mu, cov, targets, target_kind="geq")
    mv = min_variance(cov).weights
    np.testing.assert_allclose(fr.weights[0], mv, atol=1e-10)
    np.testing.assert_allclose(fr.weights[1], mv, atol=1e-10)
    eq = efficient_frontier(mu, cov, targets[2:])
    np.testing.assert_allclose(fr.weights[2:], eq.weights, atol=1e-12)
    for i, r in enumerate(targets):
        ref = cvx_markowitz(mu, cov, r, kind="geq")
        np.testing.assert_allclose(fr.weights[i], ref, atol=1e-6, rtol=0)
    assert fr.primal_residual.max() < 1e-12 and fr.dual_residual.max() < 1e-12


def test_frontier_in_torch_with_numpy_or_list_targets() -> None:
    mu, cov, _ = random_problem(5, seed=1)
    targets = [0.0, 0.5, 1.0]
    ref = efficient_frontier(mu, cov, targets)
    for tg in (targets, np.array(targets), torch.tensor(targets)):
        fr = efficient_frontier(torch.tensor(mu), torch.tensor(cov), tg)
        for arr in (fr.targets, fr.weights, fr.returns, fr.risks):
            assert isinstance(arr, torch.Tensor) and arr.dtype == torch.float64
        assert isinstance(fr.primal_residual, np.ndarray)
        np.testing.assert_allclose(fr.weights.numpy(), ref.weights, atol=1e-12)
    single = efficient_frontier(mu, cov, 0.5)
    assert single.weights.shape == (1, 5)


class _FakeQP(types.ModuleType):
    """Stands in for portfolio_lab.solvers.qp and records what the dispatchers pass."""

    def __init__(self) -> None:
        super().__init__("portfolio_lab.solvers.qp")
        self.calls: list[tuple[str, tuple, dict]] = []

    def qp_frontier(self, *args, **kwargs):
        self.calls.append(("qp_frontier", args, kwargs))
        return "frontier"

    def qp_min_variance(self, *args, **kwargs):
        self.calls.append(("qp_min_variance", args, kwargs))
        return "min_variance"

    def qp_max_sharpe(self, *args, **kwargs):
        self.calls.append(("qp_max_sharpe", args, kwargs))
        return "max_sharpe"


@pytest.fixture
def fake_qp(monkeypatch: pytest.MonkeyPatch) -> _FakeQP:
    fake = _FakeQP()
    monkeypatch.setitem(sys.modules, "portfolio_lab.solvers.qp", fake)
    return fake


def test_constrained_calls_delegate_to_qp_with_resolved_bounds(fake_qp: _FakeQP) -> None:
    mu, cov, _ = random_problem(4, seed=0)
    assert efficient_frontier(
        mu, cov, [0.1, 0.2], long_only=True, target_kind="geq", method="admm"
    ) == ("frontier")
    name, args, kwargs = fake_qp.calls[-1]
    assert name == "qp_frontier"
    np.testing.assert_array_equal(args[0], mu)
    np.testing.assert_array_equal(args[1], cov)
    np.testing.assert_array_equal(args[2], [0.1, 0.2])
    np.testing.assert_array_equal(kwargs["lower"], np.zeros(4))
    np.testing.assert_array_equal(kwargs["upper"], np.full(4, np.inf))
    assert kwargs["target_kind"] == "geq"

    assert min_variance(cov, bounds=(-0.1, 0.5)) == "min_variance"
    _, args, kwargs = fake_qp.calls[-1]
    np.testing.assert_array_equal(kwargs["lower"], np.full(4, -0.1))
    np.testing.assert_array_equal(kwargs["upper"], np.full(4, 0.5))

    upper = np.array([0.4, 0.4, 0.4, 1.0])
    assert max_sharpe(mu, cov, 0.01, long_only=True, bounds=(None, upper), method="admm") == (
        "max_sharpe"
    )
    _, args, kwargs = fake_qp.calls[-1]
    assert args[2] == 0.01
    np.testing.assert_array_equal(kwargs["lower"], np.zeros(4))
    np.testing.assert_array_equal(kwargs["upper"], upper)
    assert len(fake_qp.calls) == 3


def test_delegation_keeps_torch_namespace(fake_qp: _FakeQP) -> None:
    mu, cov, _ = random_problem(3, seed=0)
    min_variance(torch.tensor(cov), long_only=True)
    _, args, kwargs = fake_qp.calls[-1]
    assert isinstance(args[0], torch.Tensor)
    assert isinstance(kwargs["lower"], torch.Tensor) and kwargs["lower"].dtype == torch.float64
    efficient_frontier(torch.tensor(mu), torch.tensor(cov), [0.0], bounds=(0, 1), method="admm")
    _, args, kwargs = fake_qp.calls[-1]
    assert isinstance(args[2], torch.Tensor) and isinstance(kwargs["upper"], torch.Tensor)


def test_unconstrained_calls_never_touch_qp(fake_qp: _FakeQP) -> None:
    mu, cov, _ = random_problem(3, seed=0)
    efficient_frontier(mu, cov, [0.0])
    min_variance(cov)
    max_sharpe(mu, cov, -10.0)
    assert fake_qp.calls == []


def test_resolve_bounds_combinations() -> None:
    import array_api_compat.numpy as xnp

    lo, up = resolve_bounds(3, False, None, xnp)
    assert np.isneginf(lo).all() and np.isposinf(up).all()
    lo, up = resolve_bounds(3, True, (-0.5, None), xnp)  # long_only tightens a looser bound
    np.testing.assert_array_equal(lo, 0.0)
    lo, up = resolve_bounds(3, True, ([0.1, 0.0, 0.2], [0.5, 0.6, 0.7]), xnp)
    np.testing.assert_array_equal(lo, [0.1, 0.0, 0.2])
    np.testing.assert_array_equal(up, [0.5, 0.6, 0.7])
    lo, up = resolve_bounds(2, False, (torch.tensor([0.5, 0.5]), 1.0), xnp)
    np.testing.assert_array_equal(lo, [0.5, 0.5])  # sum(lower) == 1 exactly is feasible
    assert lo.dtype == np.float64
