from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from portfolio_lab.estimators import log_returns, price_relatives, simple_returns
from portfolio_lab.exceptions import DataError, InvalidPricesError, ShapeError


def _prices(t: int = 30, n: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    idx = pd.bdate_range("2021-01-01", periods=t, name="date")
    return pd.DataFrame(values, index=idx, columns=[f"s{i}" for i in range(n)])


def test_simple_returns_frame_against_a_direct_loop_and_pandas() -> None:
    prices = _prices()
    out = simple_returns(prices)
    assert isinstance(out, pd.DataFrame) and out.shape == (29, 4)
    assert out.index.equals(prices.index[1:]) and list(out.columns) == list(prices.columns)
    p = prices.to_numpy()
    loop = np.array([[p[t, j] / p[t - 1, j] - 1 for j in range(4)] for t in range(1, 30)])
    np.testing.assert_allclose(out.to_numpy(), loop, rtol=1e-14)
    pd.testing.assert_frame_equal(out, prices.pct_change().iloc[1:], rtol=1e-12)


def test_log_returns_and_relatives_are_consistent() -> None:
    prices = _prices()
    rel = price_relatives(prices)
    logr = log_returns(prices)
    np.testing.assert_allclose(np.exp(logr.to_numpy()), rel.to_numpy(), rtol=1e-13)
    np.testing.assert_allclose(rel.to_numpy() - 1, simple_returns(prices).to_numpy(), atol=1e-15)
    # log returns telescope
    np.testing.assert_allclose(
        logr.sum().to_numpy(), np.log(prices.iloc[-1] / prices.iloc[0]).to_numpy(), rtol=1e-12
    )
    # relatives compound back to the price path
    np.testing.assert_allclose(
        prices.iloc[0].to_numpy() * rel.cumprod().to_numpy(), prices.iloc[1:].to_numpy()
    )


def test_series_numpy_torch_and_lists() -> None:
    prices = _prices(10, 2)
    ref = simple_returns(prices)
    s = simple_returns(prices["s0"])
    assert isinstance(s, pd.Series) and s.name == "s0"
    np.testing.assert_allclose(s.to_numpy(), ref["s0"].to_numpy())
    arr = log_returns(prices.to_numpy())
    assert isinstance(arr, np.ndarray) and arr.shape == (9, 2)
    ten = log_returns(torch.tensor(prices.to_numpy(), dtype=torch.float32))
    assert isinstance(ten, torch.Tensor) and ten.dtype == torch.float64
    np.testing.assert_allclose(ten.numpy(), arr, atol=1e-6)  # float32 prices in
    vec = price_relatives([1.0, 2.0, 3.0])
    np.testing.assert_allclose(vec, [2.0, 1.5])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([[1.0, 2.0], [0.0, 3.0]]), "strictly positive"),
        (np.array([[1.0, 2.0], [-1.0, 3.0]]), "strictly positive"),
        (np.array([[1.0, np.nan], [1.0, 3.0]]), "NaN"),
        (np.array([[1.0, 2.0]]), "at least two"),
    ],
)
def test_invalid_prices(bad: np.ndarray, match: str) -> None:
    for fn in (simple_returns, log_returns, price_relatives):
        with pytest.raises(InvalidPricesError, match=match):
            fn(bad)
        with pytest.raises(InvalidPricesError, match=match):
            fn(pd.DataFrame(bad))
    assert issubclass(InvalidPricesError, DataError) and issubclass(InvalidPricesError, ValueError)


def test_three_dimensional_prices_are_rejected() -> None:
    with pytest.raises(ShapeError):
        simple_returns(np.ones((3, 2, 2)))
