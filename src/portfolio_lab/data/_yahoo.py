"""Yahoo Finance prices through yfinance, with a per-ticker on-disk parquet cache.

Cache layout: ``<cache_dir>/yahoo/<quoted ticker>.parquet``, one file per ticker, holding
the columns ``date, open, high, low, close, volume`` (yfinance ``auto_adjust=True`` prices)
and a JSON header in the schema metadata: the schema version (2), the ticker and the
inclusive date range that was *requested* (``start``, ``end``), so a ticker listed after
``start`` still counts as covered. A schema-1 file (``date, close`` only, no version) is
migrated on first read: rewritten atomically as schema 2 with its closes kept and open,
high, low and volume empty, so no cached close is lost; a request for those fields then
downloads the range again (or says that it cannot, offline).

Rules:

* a request inside the cached range is served from disk without touching the network;
* a cache that ends before ``end`` is extended by downloading only the missing tail,
  appended after the last cached row; the tail download starts on that last row and, if
  Yahoo's adjusted close for it differs (a dividend or split re-based the history), the
  whole range is downloaded again instead, so one file never mixes two adjustment bases;
* a request that starts before the cache, or ``refresh=True``, downloads the whole range;
* every write is atomic (:mod:`portfolio_lab._io`), so an interrupted download never
  leaves a partial file;
* before any download the Yahoo host is probed with a short socket timeout; offline,
  :class:`~portfolio_lab.exceptions.OfflineError` names the cache path and the bundled
  sources;
* a cache file that cannot be read is moved aside to ``<name>.corrupt`` and downloaded
  again; offline, :class:`~portfolio_lab.exceptions.CacheCorruptError` says so.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from portfolio_lab._io import atomic_path
from portfolio_lab.data._bundled import BUNDLED_SOURCES
from portfolio_lab.exceptions import (
    CacheCorruptError,
    DataError,
    OfflineError,
    UnknownTickerError,
)

__all__ = [
    "default_cache_dir",
    "cache_path",
    "load_yahoo",
    "load_yahoo_ohlcv",
    "YAHOO_HOST",
    "SCHEMA_VERSION",
    "FIELDS",
]

YAHOO_HOST = "query2.finance.yahoo.com"
_META_KEY = b"portfolio_lab"
_PROBE_TIMEOUT_S = 3.0
_REBASE_RTOL = 1e-6
SCHEMA_VERSION = 2
FIELDS = ("open", "high", "low", "close", "volume")


def default_cache_dir() -> Path:
    """Cache root: ``$PORTFOLIO_LAB_DATA`` if set, else ``~/.cache/portfolio-lab``."""
    env = os.environ.get("PORTFOLIO_LAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "portfolio-lab"


def cache_path(ticker: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Cache file of one ticker (the name is URL-quoted, e.g. ``^GSPC`` -> ``%5EGSPC``)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "yahoo" / f"{quote(ticker, safe='._-')}.parquet"


def _online(host: str = YAHOO_HOST, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host:443`` opens within about ``timeout`` seconds.

    The probe runs in a daemon thread with a hard deadline, because a name lookup is not
    bounded by the socket timeout and can hang on a machine without a working resolver.
    """
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="portfolio-lab-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result) and result[0]


def _yf_download(ticker: str, start: pd.Timestamp, end_exclusive: pd.Timestamp) -> Any:
    """Call ``yfinance.download`` for one ticker (imported lazily)."""
    try:
        import yfinance as yf
    except ImportError as exc:  # pragma: no cover - yfinance is a core dependency
        raise DataError(
            "the 'yahoo' source needs yfinance: pip install yfinance (or use a bundled "
            f"source: {list(BUNDLED_SOURCES)})"
        ) from exc
    return yf.download(
        ticker,
        start=start.strftime("%Y-%m-%d"),
        end=end_exclusive.strftime("%Y-%m-%d"),
        auto_adjust=True,
        actions=False,
        progress=False,
        threads=False,
    )


def _ohlcv_frame(raw: Any, ticker: str) -> pd.DataFrame:
    """Extract the OHLCV columns of ``ticker`` from a yfinance frame (flat or MultiIndex).

    Fields yfinance did not return are NaN; rows without a close are dropped.
    """
    empty = pd.DataFrame(
        {f: pd.Series(dtype=np.float64) for f in FIELDS}, index=pd.DatetimeIndex([], name="date")
    )
    if raw is None or len(raw) == 0:
        return empty
    cols = {}
    for field in FIELDS:
        name = field.capitalize()
        if isinstance(raw.columns, pd.MultiIndex):
            level = "Price" if "Price" in raw.columns.names else 0
            if name not in raw.columns.get_level_values(level):
                continue
            part = raw.xs(name, axis=1, level=level)
            col = part[ticker] if ticker in part.columns else part.iloc[:, 0]
        else:
            if name not in raw.columns:
                continue
            col = raw[name]
            if isinstance(col, pd.DataFrame):
                col = col.iloc[:, 0]
        cols[field] = col.to_numpy(dtype=np.float64)
    if "close" not in cols:
        return empty
    index = pd.DatetimeIndex(raw.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    out = pd.DataFrame(
        {f: cols.get(f, np.full(len(index), np.nan)) for f in FIELDS}, index=index.normalize()
    )
    out.index.name = "date"
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out[out["close"].notna()]


def _fetch(ticker: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Download the adjusted OHLCV of ``ticker`` on ``[start, end]`` (inclusive)."""
    raw = _yf_download(ticker, start, end + pd.Timedelta(days=1))
    return _ohlcv_frame(raw, ticker).loc[start:end]


def _read_cache(path: Path, ticker: str) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp, int]:
    """Read one cache file (schema 1 or 2); raise ``CacheCorruptError`` if it is not usable.

    Returns the OHLCV frame, the requested range and the file's schema version.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        header = json.loads((table.schema.metadata or {})[_META_KEY])
        frame = table.to_pandas()
        version = int(header.get("schema", 1))
        expected = ["date", "close"] if version == 1 else ["date", *FIELDS]
        if header.get("ticker") != ticker or list(frame.columns) != expected:
            raise ValueError(f"header {header} / columns {list(frame.columns)} do not match")
        if version not in (1, SCHEMA_VERSION):
            raise ValueError(f"unknown cache schema {version}")
        index = pd.DatetimeIndex(frame["date"], name="date")
        out = pd.DataFrame(
            {
                f: frame[f].to_numpy(dtype=np.float64)
                if f in frame
                else np.full(len(frame), np.nan)
                for f in FIELDS
            },
            index=index,
        )
        if not out.index.is_monotonic_increasing or not out.index.is_unique:
            raise ValueError("dates are not sorted and unique")
        return out, pd.Timestamp(header["start"]), pd.Timestamp(header["end"]), version
    except Exception as exc:  # any failure to read means the file cannot be trusted
        raise CacheCorruptError(f"cache file {path} for {ticker!r} is unreadable: {exc}") from exc


def _write_cache(
    path: Path, ticker: str, frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {"date": pa.array(frame.index.to_numpy(dtype="datetime64[ns]"))}
    for field in FIELDS:
        data[field] = pa.array(frame[field].to_numpy(dtype=np.float64))
    table = pa.table(data)
    header = {
        "schema": SCHEMA_VERSION,
        "ticker": ticker,
        "start": str(start.date()),
        "end": str(end.date()),
    }
    table = table.replace_schema_metadata({_META_KEY: json.dumps(header).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _offline_message(tickers: Sequence[str], cache_dir: Path, why: str) -> str:
    return (
        f"cannot reach {YAHOO_HOST} ({why}) and the cache at {cache_dir / 'yahoo'} does not "
        f"cover {list(tickers)} for the requested dates. Connect to the internet, or use a "
        f"bundled offline source: {list(BUNDLED_SOURCES)}"
    )


class _Network:
    """Probes the Yahoo host at most once per ``load_yahoo`` call."""

    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root
        self._state: bool | None = None

    def require(self, ticker: str) -> None:
        if self._state is None:
            self._state = _online()
        if not self._state:
            raise OfflineError(_offline_message([ticker], self.cache_root, "probe failed"))


def _load_one(
    ticker: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    cache_root: Path,
    refresh: bool,
    net: _Network,
    need_ohlc: bool = False,
) -> pd.DataFrame:
    path = cache_path(ticker, cache_root)
    cached = None
    if path.exists():
        try:
            cached = _read_cache(path, ticker)
        except CacheCorruptError as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            try:
                net.require(ticker)
            except OfflineError as off:
                raise CacheCorruptError(
                    f"{exc}. It was moved aside to {aside} and cannot be downloaded again "
                    f"because {YAHOO_HOST} is unreachable; reconnect and call again, or use "
                    f"a bundled source: {list(BUNDLED_SOURCES)}"
                ) from off
            warnings.warn(
                f"{exc}; moved aside to {aside} and downloaded again", UserWarning, stacklevel=4
            )
    dl_start, dl_end = start, end
    if cached is not None:
        frame, c_start, c_end, version = cached
        if version == 1:  # migrate in place: closes kept, the other fields empty
            _write_cache(path, ticker, frame, c_start, c_end)
        window = frame.loc[start:end]
        ohlc_missing = need_ohlc and window[["open", "high", "low"]].isna().any().any()
        if ohlc_missing:
            try:
                net.require(ticker)
            except OfflineError as off:
                raise OfflineError(
                    f"the cache of {ticker!r} holds closes only for part of "
                    f"{start.date()}..{end.date()} (a schema-1 file migrated without open, "
                    f"high and low); {YAHOO_HOST} is unreachable, so they cannot be "
                    "downloaded: reconnect, or use features=('close',)"
                ) from off
            refresh = True
        if not refresh and c_start <= start and end <= c_end:
            return window
        if not refresh and c_start <= start and len(frame):
            net.require(ticker)
            last = frame.index[-1]
            tail = _fetch(ticker, last, end)
            if tail.empty:
                _write_cache(path, ticker, frame, c_start, end)
                return frame.loc[start:end]
            if tail.index[0] == last and np.isclose(
                tail["close"].iloc[0], frame["close"].iloc[-1], rtol=_REBASE_RTOL, atol=0
            ):
                merged = pd.concat([frame, tail.loc[tail.index > last]])
                _write_cache(path, ticker, merged, c_start, end)
                return merged.loc[start:end]
            # Yahoo re-based its adjusted history (dividend or split): download it all again
        dl_start, dl_end = min(start, c_start), max(end, c_end)
    net.require(ticker)
    frame = _fetch(ticker, dl_start, dl_end)
    if frame.empty:
        raise UnknownTickerError(
            f"Yahoo returned no prices for {ticker!r} between {dl_start.date()} and "
            f"{dl_end.date()}; check the symbol and its exchange suffix (e.g. 2330.TW, "
            "ECOPETROL.CL, BRK-A), or widen a range that holds no trading day"
        )
    _write_cache(path, ticker, frame, dl_start, dl_end)
    return frame.loc[start:end]


def _load_fields(
    tickers: Sequence[str] | None,
    fields: tuple[str, ...],
    *,
    start: Any,
    end: Any,
    universe: str | None,
    cache_dir: str | os.PathLike[str] | None,
    refresh: bool,
    progress: bool,
) -> dict[str, pd.DataFrame]:
    """Load ``fields`` of every ticker through the cache: one (T, n) frame per field."""
    if universe is not None:
        if tickers is not None:
            raise DataError("pass either tickers= or universe=, not both")
        from portfolio_lab.data._universes import load_universe

        tickers = list(load_universe(universe).tickers)
    if not tickers:
        raise DataError("the 'yahoo' source needs tickers=[...] or universe='...'")
    if len(set(tickers)) != len(tickers):
        raise DataError(f"tickers repeat a name: {list(tickers)}")
    if start is None:
        raise DataError("the 'yahoo' source needs start= (e.g. start='2015-01-01')")
    from portfolio_lab.data._loader import as_timestamp

    start_ts = as_timestamp(start, "start").normalize()
    end_parsed = as_timestamp(end, "end")
    yesterday = pd.Timestamp.today().normalize() - pd.Timedelta(days=1)
    end_ts = end_parsed.normalize() if end_parsed is not None else yesterday
    if start_ts > end_ts:
        raise DataError(f"start {start_ts.date()} is after end {end_ts.date()}")
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    net = _Network(cache_root)
    need_ohlc = bool(set(fields) & {"open", "high", "low"})

    from tqdm import tqdm

    columns = {}
    for ticker in tqdm(tickers, desc="yahoo", disable=not progress):
        columns[ticker] = _load_one(
            ticker, start_ts, end_ts, cache_root, refresh, net, need_ohlc=need_ohlc
        )
    out = {}
    for field in fields:
        frame = pd.concat({t: f[field] for t, f in columns.items()}, axis=1, join="outer")
        frame = frame.sort_index()
        frame.index.name = "date"
        # Mon-Fri only: a market trading on Sundays (Tadawul) would otherwise add a row on
        # which every other ticker is missing
        frame = frame.loc[frame.index.dayofweek < 5, list(tickers)].astype(np.float64)
        if frame.empty:
            raise DataError(
                f"no Yahoo prices for {list(tickers)} on weekdays between {start_ts.date()} "
                f"and {end_ts.date()}"
            )
        frame.attrs = {
            "source": "yahoo",
            "calendar": "weekdays on which at least one ticker traded",
        }
        out[field] = frame
    return out


def load_yahoo(
    tickers: Sequence[str] | None,
    *,
    start: Any = None,
    end: Any = None,
    universe: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Load adjusted daily closes from Yahoo Finance, from the on-disk cache when possible.

    Parameters
    ----------
    tickers : sequence of str or None
        Yahoo symbols; None when ``universe`` is given.
    start : date-like
        First date (inclusive); required.
    end : date-like, optional
        Last date (inclusive); default yesterday.
    universe : str, optional
        Name of a universe (:func:`~portfolio_lab.data.list_universes`) to take tickers from.
    cache_dir : path-like, optional
        Cache root (default :func:`default_cache_dir`).
    refresh : bool, default False
        Download the whole range again even if the cache covers it.
    progress : bool, default False
        Show a tqdm progress bar over tickers.

    Returns
    -------
    pandas.DataFrame, shape (T, n)
        Float64 closes in each ticker's own currency on the weekdays on which at least
        one ticker traded (NaN where a market was closed; weekend sessions such as
        Tadawul's Sundays are left out), DatetimeIndex named ``date``, columns in the
        order of ``tickers``.

    Raises
    ------
    OfflineError
        A download is needed and the Yahoo host cannot be reached.
    CacheCorruptError
        A cache file is unreadable (it is moved to ``<name>.corrupt``) and cannot be
        downloaded again.
    UnknownTickerError
        Yahoo returned no rows for a ticker.
    """
    return _load_fields(
        tickers,
        ("close",),
        start=start,
        end=end,
        universe=universe,
        cache_dir=cache_dir,
        refresh=refresh,
        progress=progress,
    )["close"]


def load_yahoo_ohlcv(
    tickers: Sequence[str] | None,
    *,
    fields: Sequence[str] = FIELDS,
    start: Any = None,
    end: Any = None,
    universe: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: bool = False,
) -> dict[str, pd.DataFrame]:
    """Load adjusted daily open, high, low, close and volume, one frame per field.

    Same cache, rules and errors as :func:`load_yahoo`; a migrated schema-1 cache (closes
    only) is downloaded again for the other fields, or raises ``OfflineError`` offline.

    Parameters
    ----------
    tickers, start, end, universe, cache_dir, refresh, progress
        As in :func:`load_yahoo`.
    fields : sequence of str
        Some of ``("open", "high", "low", "close", "volume")``.

    Returns
    -------
    dict of str to pandas.DataFrame
        Field -> (T, n) frame on the same dates and columns (``attrs["field"]`` names it).
    """
    chosen = tuple(str(f) for f in fields)
    bad = [f for f in chosen if f not in FIELDS]
    if bad or not chosen:
        raise DataError(f"unknown fields {bad or chosen}; use some of {FIELDS}")
    out = _load_fields(
        tickers,
        chosen,
        start=start,
        end=end,
        universe=universe,
        cache_dir=cache_dir,
        refresh=refresh,
        progress=progress,
    )
    for field, frame in out.items():
        frame.attrs["field"] = field
    return out
