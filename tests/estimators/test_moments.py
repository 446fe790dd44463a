from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.estimators import (
    annualize_covariance,
    annualize_mean,
    mean_returns,
    sample_covariance,
)
from portfolio_lab.exceptions import InputError, NonFiniteError, ShapeError


def _returns(t: int = 50, n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.001, 0.02, (t, n))


def test_mean_and_covariance_against_direct_loops() -> None:
    x = _returns()
    t, n = x.shape
    mu = mean_returns(x)
    np.testing.assert_allclose(mu, [sum(x[k, j] for k in range(t)) / t for j in range(n)])
    for ddof in (0, 1):
        cov = sample_covariance(x, ddof=ddof)
        loop = np.array(
            [
                [
                    sum((x[k, i] - mu[i]) * (x[k, j] - mu[j]) for k in range(t)) / (t - ddof)
                    for j in range(n)
                ]
                for i in range(n)
            ]
        )
        np.testing.assert_allclose(cov, loop, rtol=1e-12)
        np.testing.assert_allclose(cov, np.cov(x, rowvar=False, ddof=ddof), rtol=1e-12)
        assert np.array_equal(cov, cov.T)


def test_pandas_in_pandas_out() -> None:
    frame = pd.DataFrame(_returns(), columns=["a", "b", "c"])
    mu = mean_returns(frame)
    cov = sample_covariance(frame)
    assert isinstance(mu, pd.Series) and list(mu.index) == ["a", "b", "c"]
    assert isinstance(cov, pd.DataFrame) and list(cov.columns) == ["a", "b", "c"]
    pd.testing.assert_series_equal(mu, frame.mean(), check_names=False)
    pd.testing.assert_frame_equal(cov, frame.cov(), rtol=1e-12)
    one = sample_covariance(frame["a"])
    assert one.shape == (1, 1) and one.iloc[0, 0] == pytest.approx(frame["a"].var())


def test_torch_in_torch_out() -> None:
    x = _returns()
    mu = mean_returns(torch.tensor(x))
    cov = sample_covariance(torch.tensor(x, dtype=torch.float32))
    assert isinstance(mu, torch.Tensor) and cov.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        cov.numpy(), np.cov(x.astype(np.float32).astype(np.float64), rowvar=False), rtol=1e-10
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.floats(-1.0, 1.0))
def test_covariance_is_shift_invariant_and_psd(seed: int, n: int, shift: float) -> None:
    x = _returns(40, n, seed)
    cov = sample_covariance(x)
    np.testing.assert_allclose(sample_covariance(x + shift), cov, atol=1e-12)
    np.testing.assert_allclose(mean_returns(x + shift), mean_returns(x) + shift, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > -1e-15


def test_annualization_scales_linearly_and_keeps_type() -> None:
    x = _returns()
    mu, cov = mean_returns(x), sample_covariance(x)
    np.testing.assert_allclose(annualize_mean(mu), 252 * mu)
    np.testing.assert_allclose(annualize_covariance(cov, periods=12), 12 * cov)
    s = annualize_mean(pd.Series(mu, index=list("abc")), periods=52)
    assert isinstance(s, pd.Series) and s["a"] == pytest.approx(52 * mu[0])
    t = annualize_covariance(torch.tensor(cov))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), 252 * cov)
    np.testing.assert_allclose(annualize_mean([0.001, 0.002]), [0.252, 0.504])
    # annualizing then de-annualizing is the identity
    np.testing.assert_allclose(annualize_mean(annualize_mean(mu, 252), 1 / 252), mu)


def test_errors() -> None:
    x = _returns(5, 2)
    with pytest.raises(NonFiniteError):
        mean_returns(np.array([[np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(ShapeError):
        sample_covariance(np.ones((2, 2, 2)))
    with pytest.raises(ShapeError):
        mean_returns(np.empty((0, 3)))
    with pytest.raises(InputError, match="ddof"):
        sample_covariance(x, ddof=5)
    with pytest.raises(InputError, match="ddof"):
        sample_covariance(x, ddof=-1)
    for bad in (0, -252, float("inf"), "daily"):
        with pytest.raises(InputError, match="periods"):
            annualize_mean(x.mean(axis=0), periods=bad)
