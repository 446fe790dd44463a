from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from portfolio_lab.backtest.costs import remainder_factor, remainder_factor_linear
from portfolio_lab.exceptions import InputError, ShapeError

fees = st.floats(0.0, 0.05, allow_nan=False)


@st.composite
def simplex(draw, n):
    # exact zeros too: an asset sold off entirely, or bought from nothing
    weight = st.one_of(st.just(0.0), st.floats(1e-3, 1.0))
    raw = np.array(draw(st.lists(weight, min_size=n, max_size=n)))
    if raw.sum() == 0.0:
        raw[draw(st.integers(0, n - 1))] = 1.0
    return raw / raw.sum()


@st.composite
def trade(draw):
    n = draw(st.integers(2, 7))
    held = draw(simplex(n))
    target = draw(simplex(n))
    cash = draw(st.sampled_from([None, 0, 1]))
    return held, target, draw(fees), draw(fees), cash


def cash_and_risky(held, target, cash_index):
    if cash_index is None:
        return 1 - held.sum(), 1 - target.sum(), held, target
    keep = [i for i in range(held.size) if i != cash_index]
    return held[cash_index], target[cash_index], held[keep], target[keep]


def cash_after_trading(mu, held, target, c_p, c_s, cash_index):
    """Account for the rebalancing trade by trade (independent of eq. 14).

    Start with value 1 split as ``held``; end with ``mu * target``. Sales of risky assets
    bring (1 - c_s) of their value in cash; buying b of an asset costs b / (1 - c_p) cash.
    Returns the cash left minus the cash the target asks for (zero at the true μ).
    """
    h0, w0, h, w = cash_and_risky(held, target, cash_index)
    sold = np.clip(h - mu * w, 0, None).sum()
    bought = np.clip(mu * w - h, 0, None).sum()
    return h0 + (1 - c_s) * sold - bought / (1 - c_p) - mu * w0


@settings(max_examples=100, deadline=None)
@given(trade())
def test_remainder_bounds_and_fixed_point(case):
    held, target, c_p, c_s, cash = case
    mu = float(remainder_factor(held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash))
    assert 0.0 < mu <= 1.0 + 1e-15
    # the cash account balances exactly at μ
    assert abs(cash_after_trading(mu, held, target, c_p, c_s, cash)) < 1e-11
    # and μ is the root found by a bracketing solver on the same accounting
    root = brentq(cash_after_trading, 1e-9, 1.0 + 1e-9, args=(held, target, c_p, c_s, cash))
    assert mu == pytest.approx(root, abs=1e-11)


@settings(max_examples=100, deadline=None)
@given(trade())
def test_no_trade_costs_nothing(case):
    held, _, c_p, c_s, cash = case
    for fn in (remainder_factor, remainder_factor_linear):
        assert float(fn(held, held, buy_fee=c_p, sell_fee=c_s, cash_index=cash)) == pytest.approx(
            1.0, abs=1e-14
        )


@settings(max_examples=100, deadline=None)
@given(trade())
def test_linear_form_agrees_to_first_order(case):
    held, target, c_p, c_s, cash = case
    exact = float(remainder_factor(held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash))
    approx = float(
        remainder_factor_linear(held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash)
    )
    c = max(c_p, c_s)
    assert abs(exact - approx) <= 2.0 * c * c + 1e-15


def test_linear_error_is_quadratic_in_the_rate():
    rng = np.random.default_rng(3)
    held, target = rng.dirichlet(np.ones(6), size=2)
    errors = []
    for c in (1e-2, 1e-3):
        exact = remainder_factor(held, target, buy_fee=c, sell_fee=c)
        approx = remainder_factor_linear(held, target, buy_fee=c, sell_fee=c)
        errors.append(abs(float(exact - approx)))
    assert errors[0] > 0
    # a tenfold smaller rate shrinks the gap about a hundredfold
    assert 50 < errors[0] / errors[1] < 200


def test_linear_form_equals_one_rate_turnover_formula():
    rng = np.random.default_rng(4)
    held, target = rng.dirichlet(np.ones(5), size=2)
    got = remainder_factor_linear(held, target, buy_fee=0.003, sell_fee=0.003)
    assert got == pytest.approx(1 - 0.003 * np.abs(held - target).sum(), abs=1e-15)


def test_entry_from_cash():
    w = np.array([0.2, 0.3, 0.5])
    # no cash column: everything is bought, only the purchase rate applies
    assert remainder_factor(np.zeros(3), w, buy_fee=0.01, sell_fee=0.2) == pytest.approx(0.99)
    # explicit cash column 0 keeps 20% in cash: (1 - c_p) / (1 - c_p w_0)
    start = np.array([1.0, 0.0, 0.0])
    got = remainder_factor(start, w, buy_fee=0.01, sell_fee=0.2, cash_index=0)
    assert got == pytest.approx(0.99 / (1 - 0.01 * 0.2), abs=1e-14)


def test_vectorized_rows_match_single_calls():
    rng = np.random.default_rng(5)
    held = rng.dirichlet(np.ones(4), size=30)
    target = rng.dirichlet(np.ones(4), size=30)
    rows = remainder_factor(held, target, buy_fee=0.004, sell_fee=0.006, cash_index=2)
    single = [
        float(remainder_factor(h, w, buy_fee=0.004, sell_fee=0.006, cash_index=2))
        for h, w in zip(held, target, strict=True)
    ]
    np.testing.assert_allclose(rows, single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cash", [None, 0])
def test_torch_matches_numpy_and_is_differentiable(cash):
    rng = np.random.default_rng(6)
    held, target = rng.dirichlet(np.ones(5), size=(2, 3))
    ref = remainder_factor(held, target, buy_fee=0.01, sell_fee=0.02, cash_index=cash)
    h = torch.tensor(held, requires_grad=True)
    w = torch.tensor(target, requires_grad=True)
    got = remainder_factor(h, w, buy_fee=0.01, sell_fee=0.02, cash_index=cash)
    np.testing.assert_allclose(got.detach().numpy(), ref, atol=1e-15)

    def exact(a, b):
        return remainder_factor(a, b, buy_fee=0.01, sell_fee=0.02, cash_index=cash)

    def linear(a, b):
        return remainder_factor_linear(a, b, buy_fee=0.01, sell_fee=0.02, cash_index=cash)

    assert torch.autograd.gradcheck(exact, (h, w))
    assert torch.autograd.gradcheck(linear, (h, w))


def test_bad_inputs():
    w = np.full(3, 1 / 3)
    with pytest.raises(InputError, match="buy_fee"):
        remainder_factor(w, w, buy_fee=1.0, sell_fee=0.0)
    with pytest.raises(InputError, match="sell_fee"):
        remainder_factor_linear(w, w, buy_fee=0.0, sell_fee=-0.1)
    with pytest.raises(ShapeError):
        remainder_factor(w, np.full(4, 0.25), buy_fee=0.01, sell_fee=0.01)
    with pytest.raises(InputError, match="cash_index"):
        remainder_factor(w, w, buy_fee=0.01, sell_fee=0.01, cash_index=5)
