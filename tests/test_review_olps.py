"""The reviews' second implementation of the OLPS baselines agrees with the package's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from portfolio_lab.backtest.baselines import baseline
from portfolio_lab.data import load_prices
from portfolio_lab.review import baseline_wealth_by_loop
from portfolio_lab.review_olps import OLPS_DEFAULTS, olps_weights_by_loop, simplex_projection


@pytest.fixture(scope="module")
def relatives() -> np.ndarray:
    p = load_prices("olps:djia").iloc[-130:, :12].to_numpy()
    return p[1:] / p[:-1]


@pytest.mark.parametrize("name", sorted(OLPS_DEFAULTS))
def test_plain_loops_match_the_package(relatives, name):
    mine = olps_weights_by_loop(name, relatives)
    ref = baseline(name).weights_path(relatives)
    tol = 1e-6 if name == "ons" else 1e-10  # ONS: Clarabel's projection against the exact one
    assert np.abs(mine - ref).max() < tol
    assert np.allclose(mine.sum(axis=1), 1.0) and (mine >= 0).all()


def test_weights_use_only_the_past(relatives):
    for name in OLPS_DEFAULTS:
        full = olps_weights_by_loop(name, relatives)
        cut = olps_weights_by_loop(name, relatives[:60])
        np.testing.assert_array_equal(full[:60], cut)


def test_wealth_with_costs_is_below_the_free_wealth(relatives):
    assert baseline_wealth_by_loop("olmar", relatives, 0.001) < baseline_wealth_by_loop(
        "olmar", relatives, 0.0
    )
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_wealth_by_loop("nope", relatives, 0.0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-5, 5)))
def test_simplex_projection_is_the_nearest_simplex_point(v):
    p = simplex_projection(v)
    assert abs(p.sum() - 1.0) < 1e-12 and (p >= 0).all()
    # KKT of min ½‖p − v‖²: p − v = τ on the support, p − v >= τ off it (one τ)
    g = p - v
    tau = g[p > 0].mean()
    assert np.allclose(g[p > 0], tau, atol=1e-9)
    assert (g[p == 0] >= tau - 1e-9).all()
