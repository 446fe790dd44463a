"""Input checks shared by every model: prices in, a clean float frame out, typed errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import (
    ColumnMismatchError,
    InsufficientHistoryError,
    InvalidPricesError,
    NonFiniteError,
    ShapeError,
)

__all__ = ["check_prices", "check_columns"]


def check_prices(
    prices: Any, *, min_rows: int, what: str = "prices", need: str = "its window"
) -> pd.DataFrame:
    """Validate a (T, n) frame of prices for a model.

    Parameters
    ----------
    prices : pandas.DataFrame, shape (T, n)
        Positive, finite prices, oldest row first, one column per asset.
    min_rows : int
        Rows the caller needs (the model's window plus what it trains on).
    what : str
        Name used in error messages.
    need : str
        What the rows are needed for (in the too-short message).

    Returns
    -------
    pandas.DataFrame, shape (T, n)
        A float64 copy.

    Raises
    ------
    ShapeError
        Not a DataFrame, no columns, duplicated column names.
    NonFiniteError
        NaN or infinite values (the message names the first asset and date).
    InvalidPricesError
        A zero or negative price.
    InsufficientHistoryError
        Fewer than ``min_rows`` rows.
    """
    if isinstance(prices, pd.Series):
        prices = prices.to_frame()
    if not isinstance(prices, pd.DataFrame):
        raise ShapeError(
            f"{what} must be a pandas DataFrame of dates x assets, got {type(prices).__name__}"
        )
    if prices.shape[1] == 0:
        raise ShapeError(f"{what} has no columns")
    if prices.columns.duplicated().any():
        dup = prices.columns[prices.columns.duplicated()].tolist()
        raise ShapeError(f"{what} has duplicated columns {dup}")
    try:
        frame = prices.astype(float)
    except (TypeError, ValueError) as err:
        raise ShapeError(f"{what} must hold numbers: {err}") from err
    values = frame.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise NonFiniteError(
            f"{what} hold NaN or infinite values (first: {frame.columns[col]!r} at "
            f"{frame.index[row]}); drop or fill them before fitting or predicting"
        )
    if (values <= 0).any():
        row, col = np.argwhere(values <= 0)[0]
        raise InvalidPricesError(
            f"{what} must be strictly positive (first bad: {frame.columns[col]!r} at "
            f"{frame.index[row]} = {values[row, col]:g})"
        )
    if len(frame) < min_rows:
        raise InsufficientHistoryError(
            f"{what} have {len(frame)} rows; this model needs at least {min_rows} "
            f"({need}); pass a longer history"
        )
    return frame


def check_columns(frame: pd.DataFrame, expected: Sequence[str]) -> None:
    """Raise :class:`ColumnMismatchError` unless ``frame`` has exactly ``expected`` columns.

    Parameters
    ----------
    frame : pandas.DataFrame
    expected : sequence of str
        Asset names the model was fitted on, in order.
    """
    got = [str(c) for c in frame.columns]
    want = [str(c) for c in expected]
    if got == want:
        return
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    if not missing and not extra:
        raise ColumnMismatchError(
            f"the assets are in another order than at fit: got {got}, expected {want}"
        )
    raise ColumnMismatchError(
        f"the model was fitted on {want}; missing {missing}, unexpected {extra}"
    )
