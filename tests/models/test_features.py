import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.models import (
    ewma_volatility,
    features_of_windows,
    return_windows,
    window_features,
)

from ._fixtures import make_prices


def test_window_features_match_their_definition():
    p = make_prices(40, 3).to_numpy()
    r = p[1:] / p[:-1] - 1
    f = window_features(r, 5)
    assert f.shape == (len(r) - 4, 5, 3, 2)
    t = 10  # window of returns rows 6..10 = prices rows 7..11
    k = t - 4
    np.testing.assert_allclose(f[k, :, :, 0], p[7:12] / p[11] - 1, atol=1e-6)
    np.testing.assert_allclose(f[k, :, :, 1], r[6:11], atol=1e-7)
    assert np.all(f[:, -1, :, 0] == 0)


def test_features_are_causal():
    r = np.random.default_rng(1).normal(0, 0.01, (50, 2))
    f = window_features(r, 6)
    r2 = r.copy()
    r2[30:] *= 5.0
    f2 = window_features(r2, 6)
    # windows ending before row 30 never read it
    np.testing.assert_array_equal(f[: 30 - 5], f2[: 30 - 5])
    assert not np.array_equal(f[30 - 5], f2[30 - 5])


@settings(max_examples=30, deadline=None)
@given(scale=st.lists(st.floats(0.01, 1000.0), min_size=3, max_size=3))
def test_features_are_scale_invariant(scale):
    p = make_prices(30, 3).to_numpy()
    f1 = window_features(p[1:] / p[:-1] - 1, 7)
    q = p * np.asarray(scale)
    f2 = window_features(q[1:] / q[:-1] - 1, 7)
    np.testing.assert_allclose(f1, f2, atol=1e-6)


def test_return_windows_rejects_ends_out_of_range():
    r = np.zeros((10, 2))
    with pytest.raises(ValueError, match="window ends"):
        return_windows(r, 5, np.array([2]))
    assert features_of_windows(return_windows(r, 5)).shape == (6, 5, 2, 2)


def test_ewma_volatility_is_causal_and_matches_a_loop():
    r = np.random.default_rng(2).normal(0, 0.01, (120, 2))
    v = ewma_volatility(r, span=10, lookback=30)
    a = 1 - 2 / 11
    t = 70
    wts = a ** np.arange(30)
    expect = np.sqrt((wts[:, None] * r[t - np.arange(30)] ** 2).sum(0) / wts.sum())
    np.testing.assert_allclose(v[t], expect, rtol=1e-12)
    r2 = r.copy()
    r2[80:] = 0.5
    np.testing.assert_array_equal(ewma_volatility(r2, 10, 30)[:80], v[:80])
