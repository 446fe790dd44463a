"""``load_prices``: one entry point for the bundled datasets and Yahoo Finance."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from portfolio_lab.data._bundled import BUNDLED_SOURCES, load_bundled
from portfolio_lab.data._validation import validate_prices
from portfolio_lab.exceptions import DataError, UnknownSourceError, UnknownTickerError

__all__ = ["as_timestamp", "list_sources", "load_prices", "select"]

_NETWORK_SOURCES = ("yahoo",)


def list_sources() -> list[str]:
    """Names accepted by :func:`load_prices`.

    Returns
    -------
    list of str
        ``"sp500"``, ``"sp500_index"``, ``"olps:<name>"`` for the six online-portfolio
        datasets (all bundled, offline) and ``"yahoo"`` (network plus on-disk cache).
    """
    return [*BUNDLED_SOURCES, *_NETWORK_SOURCES]


def _as_list(tickers: str | Sequence[str] | None) -> list[str] | None:
    if tickers is None:
        return None
    names = [tickers] if isinstance(tickers, str) else [str(t) for t in tickers]
    if not names:
        raise DataError("tickers= is empty; pass None for every column")
    return names


def as_timestamp(value: Any, name: str) -> pd.Timestamp | None:
    """Parse an optional date argument, raising ``DataError`` on nonsense.

    Parameters
    ----------
    value : date-like or None
        A string, ``datetime``, ``numpy.datetime64`` or ``pandas.Timestamp``.
    name : str
        Argument name, for the message.

    Returns
    -------
    pandas.Timestamp or None
        Timezone-naive timestamp (None stays None).
    """
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}={value!r} is not a date (use e.g. '2015-01-31')") from exc
    if ts is pd.NaT:
        raise DataError(f"{name}={value!r} is not a date (use e.g. '2015-01-31')")
    return ts.tz_localize(None) if ts.tz is not None else ts


def select(
    frame: pd.DataFrame,
    tickers: Sequence[str] | None,
    start: Any,
    end: Any,
    source: str,
) -> pd.DataFrame:
    """Select columns and slice dates of a full price frame.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (T, n)
        Full frame of one source.
    tickers : sequence of str or None
        Columns to keep, in this order (None keeps all).
    start, end : date-like or None
        Inclusive date bounds.
    source : str
        Source name, for messages.

    Returns
    -------
    pandas.DataFrame, shape (T', n')
        The selection (attrs kept).
    """
    attrs = dict(frame.attrs)
    if tickers is not None:
        unknown = [t for t in tickers if t not in frame.columns]
        if unknown:
            raise UnknownTickerError(
                f"{source!r} has no ticker(s) {unknown}; valid: {list(frame.columns)}"
            )
        if len(set(tickers)) != len(tickers):
            raise DataError(f"tickers repeat a name: {list(tickers)}")
        frame = frame[list(tickers)]
    start_ts = as_timestamp(start, "start")
    end_ts = as_timestamp(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise DataError(f"start {start_ts.date()} is after end {end_ts.date()}")
    out = frame.loc[start_ts:end_ts]
    if out.empty:
        raise DataError(
            f"{source!r} has no rows between {start} and {end}; it covers "
            f"{frame.index[0].date()} to {frame.index[-1].date()}"
        )
    out = out.copy()
    out.attrs = attrs
    return out


def load_prices(
    source: str,
    *,
    tickers: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    validate: bool = True,
    universe: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: bool = False,
    max_gap: int = 5,
    max_missing: float = 0.05,
) -> pd.DataFrame:
    """Load daily prices from a bundled dataset or from Yahoo Finance.

    Parameters
    ----------
    source : str
        One of :func:`list_sources`: ``"sp500"`` (20 US stocks, adjusted closes
        1990-2022), ``"sp500_index"`` (column ``"SP500"``), ``"olps:nyse_o"``,
        ``"olps:nyse_n"``, ``"olps:tse"``, ``"olps:sp500"``, ``"olps:msci"``,
        ``"olps:djia"`` (cumulative products of the original price relatives after a
        leading row of ones, on a synthetic business-day calendar, columns ``s01, ...``)
        or ``"yahoo"`` (yfinance with an on-disk cache).
    tickers : str or sequence of str, optional
        Columns to return, in this order; all when None (required for ``"yahoo"``
        unless ``universe`` is given).
    start, end : date-like, optional
        Inclusive date bounds.
    validate : bool, default True
        Apply :func:`~portfolio_lab.data.validate_prices` (its report is stored in
        ``frame.attrs["validation"]``).
    universe : str, optional
        ``"yahoo"`` only: take the tickers of :func:`~portfolio_lab.data.load_universe`.
    cache_dir : path-like, optional
        ``"yahoo"`` only: cache folder (default ``$PORTFOLIO_LAB_DATA`` or
        ``~/.cache/portfolio-lab``).
    refresh : bool, default False
        ``"yahoo"`` only: download again even when the cache covers the request.
    progress : bool, default False
        ``"yahoo"`` only: show a progress bar over tickers.
    max_gap, max_missing
        Passed to :func:`~portfolio_lab.data.validate_prices`.

    Returns
    -------
    pandas.DataFrame, shape (T, n)
        Float64 prices indexed by a DatetimeIndex named ``"date"``, one column per asset;
        ``attrs`` holds ``"source"``, ``"calendar"`` and (if validated) ``"validation"``.

    Raises
    ------
    UnknownSourceError
        ``source`` is not one of :func:`list_sources`.
    UnknownTickerError
        A requested ticker is not in the dataset (the message lists the valid ones).
    DataError
        Empty date range, or yahoo-specific failures (see ``OfflineError``,
        ``CacheCorruptError``).
    """
    if not isinstance(source, str) or source not in list_sources():
        raise UnknownSourceError(f"unknown source {source!r}; valid sources: {list_sources()}")
    names = _as_list(tickers)
    if source == "yahoo":
        from portfolio_lab.data._yahoo import load_yahoo

        frame = load_yahoo(
            names,
            start=start,
            end=end,
            universe=universe,
            cache_dir=cache_dir,
            refresh=refresh,
            progress=progress,
        )
    else:
        if universe is not None or cache_dir is not None or refresh or progress:
            raise DataError(
                "universe=, cache_dir=, refresh= and progress= apply to 'yahoo' only, "
                f"not {source!r}"
            )
        frame = select(load_bundled(source), names, start, end, source)
    if validate:
        frame, _ = validate_prices(frame, max_gap=max_gap, max_missing=max_missing)
    return frame
