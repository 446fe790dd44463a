import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.models import log_return_loss, portfolio_returns, sharpe_loss, turnover_penalty


def _inputs(seed=0, B=2, T=12, n=4):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(n), size=(B, T))
    r = rng.normal(0.001, 0.02, size=(B, T, n))
    prev = rng.dirichlet(np.ones(n), size=B)
    return torch.tensor(w, requires_grad=True), torch.tensor(r), torch.tensor(prev)


def test_values_match_numpy_formulas():
    w, r, prev = _inputs()
    w = w.detach()
    wn, rn, pn = w.detach().numpy(), r.numpy(), prev.numpy()
    c = 0.002
    port = (wn * rn).sum(-1)
    turn = np.concatenate(
        [np.abs(wn[:, :1] - pn[:, None]).sum(-1), np.abs(np.diff(wn, axis=1)).sum(-1)], axis=1
    )
    net = port - c * turn
    got = portfolio_returns(w, r, cost=c, previous=prev).detach().numpy()
    np.testing.assert_allclose(got, net, rtol=1e-12)
    sharpe = (net.mean(1) / net.std(1)).mean()
    assert float(sharpe_loss(w, r, cost=c, previous=prev)) == pytest.approx(-sharpe, rel=1e-8)
    assert float(log_return_loss(w, r, cost=c, previous=prev)) == pytest.approx(
        -np.log1p(net).mean(), rel=1e-12
    )
    assert float(turnover_penalty(w, prev)) == pytest.approx(turn.mean(), rel=1e-12)
    ann = float(sharpe_loss(w, r, cost=c, previous=prev, periods_per_year=252))
    assert ann == pytest.approx(-sharpe * np.sqrt(252), rel=1e-8)


@pytest.mark.parametrize("loss", ["sharpe", "log", "turnover"])
@pytest.mark.parametrize("cost", [0.0, 0.003])
def test_gradients_match_finite_differences(loss, cost):
    w, r, prev = _inputs(seed=3)

    def f(weights):
        if loss == "sharpe":
            return sharpe_loss(weights, r, cost=cost, previous=prev)
        if loss == "log":
            return log_return_loss(weights, r, cost=cost, previous=prev)
        return turnover_penalty(weights, prev) * (1 + cost)

    assert torch.autograd.gradcheck(f, (w,), eps=1e-6, atol=1e-7, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(k=st.floats(0.1, 10.0), shift=st.integers(0, 3))
def test_sharpe_loss_is_scale_free_and_permutation_invariant(k, shift):
    w, r, _ = _inputs(seed=5)
    w = w.detach()
    base = float(sharpe_loss(w, r))
    assert float(sharpe_loss(w, r * k)) == pytest.approx(base, rel=1e-4)  # up to eps
    perm = np.roll(np.arange(w.shape[-1]), shift)
    assert float(sharpe_loss(w[..., perm], r[..., perm])) == pytest.approx(base, rel=1e-10)


def test_cost_lowers_the_sharpe_ratio_and_shapes_are_checked():
    w, r, prev = _inputs(seed=6)
    assert float(sharpe_loss(w, r, cost=0.01)) > float(sharpe_loss(w, r))
    with pytest.raises(ValueError, match="batch, time, assets"):
        sharpe_loss(w[0], r[0])
