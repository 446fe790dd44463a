"""Returns from prices: price relatives, simple returns and log returns.

A price frame of ``T`` rows gives ``T − 1`` rows of returns: row ``t`` of the output
belongs to the date of price row ``t + 1`` (the first price row is dropped). pandas in
gives pandas out with that index; arrays of any namespace (NumPy, torch, CuPy; lists
become NumPy) give float64 arrays of the same namespace and device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._backend import as_float64, namespace, to_numpy
from ..exceptions import InvalidPricesError, ShapeError

__all__ = ["price_relatives", "simple_returns", "log_returns"]


def _check_prices(values: np.ndarray) -> None:
    if values.ndim not in (1, 2):
        raise ShapeError(f"prices must be 1-D (T,) or 2-D (T, n), got shape {values.shape}")
    if values.shape[0] < 2:
        raise InvalidPricesError(
            f"need at least two price rows to form a return, got {values.shape[0]}"
        )
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise InvalidPricesError(
            f"prices hold {bad} NaN or infinite value(s); fill or drop them "
            "(e.g. prices.dropna()) before computing returns"
        )
    nonpos = values <= 0
    if nonpos.any():
        idx = np.argwhere(nonpos)[0]
        raise InvalidPricesError(
            f"prices must be strictly positive; found {int(nonpos.sum())} value(s) ≤ 0, "
            f"the first at position {tuple(int(i) for i in idx)} = {values[tuple(idx)]:g}"
        )


def _relatives(prices: Any) -> Any:
    """Price relatives ``p[t] / p[t-1]`` in the input's own type."""
    if isinstance(prices, (pd.DataFrame, pd.Series)):
        values = prices.to_numpy(dtype=np.float64)
        _check_prices(values)
        rel = values[1:] / values[:-1]
        if isinstance(prices, pd.Series):
            return pd.Series(rel, index=prices.index[1:], name=prices.name)
        return pd.DataFrame(rel, index=prices.index[1:], columns=prices.columns)
    if isinstance(prices, (list, tuple)):
        prices = np.asarray(prices, dtype=np.float64)
    xp = namespace(prices)
    arr = as_float64(prices, xp)
    _check_prices(to_numpy(arr))
    return arr[1:, ...] / arr[:-1, ...]


def price_relatives(prices: Any) -> Any:
    """Compute gross returns (price relatives) ``x[t] = p[t] / p[t-1]``.

    Parameters
    ----------
    prices : DataFrame, Series or array, shape (T, n) or (T,)
        Strictly positive, finite prices, one row per date.

    Returns
    -------
    DataFrame, Series or array, shape (T - 1, n) or (T - 1,)
        Same type as ``prices`` (index ``prices.index[1:]`` for pandas).

    Raises
    ------
    InvalidPricesError
        Fewer than two rows, non-finite or non-positive prices.
    ShapeError
        More than two dimensions.
    """
    return _relatives(prices)


def simple_returns(prices: Any) -> Any:
    """Compute simple (arithmetic) returns ``r[t] = p[t] / p[t-1] − 1``.

    Parameters
    ----------
    prices : DataFrame, Series or array, shape (T, n) or (T,)
        Strictly positive, finite prices.

    Returns
    -------
    DataFrame, Series or array, shape (T - 1, n) or (T - 1,)
        Same type as ``prices``.

    Raises
    ------
    InvalidPricesError
        Fewer than two rows, non-finite or non-positive prices.
    """
    return _relatives(prices) - 1.0


def log_returns(prices: Any) -> Any:
    """Compute log returns ``ℓ[t] = log(p[t] / p[t-1])``.

    Parameters
    ----------
    prices : DataFrame, Series or array, shape (T, n) or (T,)
        Strictly positive, finite prices.

    Returns
    -------
    DataFrame, Series or array, shape (T - 1, n) or (T - 1,)
        Same type as ``prices``; sums over time telescope to ``log(p[T-1] / p[0])``.

    Raises
    ------
    InvalidPricesError
        Fewer than two rows, non-finite or non-positive prices.
    """
    rel = _relatives(prices)
    if isinstance(rel, (pd.DataFrame, pd.Series)):
        return np.log(rel)
    return namespace(rel).log(rel)
