"""Yahoo loader tests on recorded frames: the download function and the connectivity probe
are monkeypatched, so these tests never touch the network."""

from __future__ import annotations

import os
import sys
import threading
import types

import numpy as np
import pandas as pd
import pytest

from portfolio_lab.data import _yahoo as yahoo
from portfolio_lab.data import load_prices, load_universe
from portfolio_lab.exceptions import (
    CacheCorruptError,
    DataError,
    OfflineError,
    UnknownTickerError,
)

SP500 = load_prices("sp500", validate=False)


def yf_shaped(ticker: str, close: pd.Series) -> pd.DataFrame:
    """A frame shaped like ``yfinance.download(ticker)`` (1.x: Price/Ticker MultiIndex)."""
    fields = {
        "Close": close,
        "High": close * 1.01,
        "Low": close * 0.99,
        "Open": close,
        "Volume": pd.Series(1e6, index=close.index),
    }
    cols = pd.MultiIndex.from_tuples([(f, ticker) for f in fields], names=["Price", "Ticker"])
    out = pd.DataFrame(np.column_stack(list(fields.values())), index=close.index, columns=cols)
    out.index.name = "Date"
    return out


class FakeYahoo:
    """Recorded closes served like yfinance, with a log of every download."""

    def __init__(self, scale: float = 1.0, fail: BaseException | None = None):
        self.calls: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self.scale = scale
        self.fail = fail

    def __call__(self, ticker, start, end_exclusive):
        self.calls.append((ticker, start, end_exclusive))
        if self.fail is not None:
            raise self.fail
        if ticker not in SP500.columns:
            return pd.DataFrame()
        close = SP500[ticker] * self.scale
        close = close[(close.index >= start) & (close.index < end_exclusive)]
        return yf_shaped(ticker, close)


@pytest.fixture
def fake(monkeypatch):
    f = FakeYahoo()
    monkeypatch.setattr(yahoo, "_yf_download", f)
    monkeypatch.setattr(yahoo, "_online", lambda *a, **k: True)
    return f


def go_offline(monkeypatch, fake=None):
    def no_probe(*a, **k):
        return False

    monkeypatch.setattr(yahoo, "_online", no_probe)
    if fake is not None:
        fake.fail = AssertionError("download attempted while offline")


def expected(ticker, start, end):
    return SP500[ticker].loc[start:end]


def test_download_writes_cache_then_hits_without_network(fake, tmp_path, monkeypatch):
    f1 = yahoo.load_yahoo(
        ["AAPL", "MSFT"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path
    )
    assert [c[0] for c in fake.calls] == ["AAPL", "MSFT"]
    assert yahoo.cache_path("AAPL", tmp_path).is_file()
    np.testing.assert_array_equal(f1["AAPL"], expected("AAPL", "2010-01-01", "2010-12-31"))
    assert f1.index.name == "date" and list(f1.columns) == ["AAPL", "MSFT"]

    go_offline(monkeypatch, fake)
    f2 = yahoo.load_yahoo(
        ["AAPL", "MSFT"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path
    )
    pd.testing.assert_frame_equal(f1, f2)
    f3 = yahoo.load_yahoo(["MSFT"], start="2010-03-01", end="2010-03-31", cache_dir=tmp_path)
    np.testing.assert_array_equal(f3["MSFT"], expected("MSFT", "2010-03-01", "2010-03-31"))
    assert len(fake.calls) == 2


def test_stale_cache_downloads_only_the_tail_and_appends(fake, tmp_path):
    yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-06-30", cache_dir=tmp_path)
    first, _, _, _ = yahoo._read_cache(yahoo.cache_path("AAPL", tmp_path), "AAPL")
    out = yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)
    _, tail_start, tail_end = fake.calls[-1]
    assert tail_start == first.index[-1]  # overlap of one row, nothing earlier
    assert tail_end == pd.Timestamp("2011-01-01")
    np.testing.assert_array_equal(out["AAPL"], expected("AAPL", "2010-01-01", "2010-12-31"))
    after, c_start, c_end, version = yahoo._read_cache(yahoo.cache_path("AAPL", tmp_path), "AAPL")
    assert version == yahoo.SCHEMA_VERSION
    assert c_start == pd.Timestamp("2010-01-01") and c_end == pd.Timestamp("2010-12-31")
    pd.testing.assert_frame_equal(after.loc[: first.index[-1]], first)  # append-only


def test_rebased_history_is_downloaded_again_not_spliced(fake, tmp_path):
    yahoo.load_yahoo(["KO"], start="2012-01-01", end="2012-06-30", cache_dir=tmp_path)
    fake.scale = 0.98  # a dividend re-based Yahoo's adjusted closes
    out = yahoo.load_yahoo(["KO"], start="2012-01-01", end="2012-12-31", cache_dir=tmp_path)
    assert fake.calls[-1][1] == pd.Timestamp("2012-01-01")  # full range again
    np.testing.assert_allclose(out["KO"], 0.98 * expected("KO", "2012-01-01", "2012-12-31"))


def test_earlier_start_redownloads_and_keeps_the_later_range(fake, tmp_path):
    yahoo.load_yahoo(["PG"], start="2015-01-01", end="2016-12-31", cache_dir=tmp_path)
    yahoo.load_yahoo(["PG"], start="2014-01-01", end="2014-12-31", cache_dir=tmp_path)
    assert fake.calls[-1][1:] == (pd.Timestamp("2014-01-01"), pd.Timestamp("2017-01-01"))
    _, c_start, c_end, _ = yahoo._read_cache(yahoo.cache_path("PG", tmp_path), "PG")
    assert (c_start, c_end) == (pd.Timestamp("2014-01-01"), pd.Timestamp("2016-12-31"))


def test_refresh_downloads_even_when_cached(fake, tmp_path):
    yahoo.load_yahoo(["PG"], start="2015-01-01", end="2015-03-31", cache_dir=tmp_path)
    yahoo.load_yahoo(["PG"], start="2015-01-01", end="2015-03-31", cache_dir=tmp_path, refresh=True)
    assert len(fake.calls) == 2


def test_offline_without_cache_raises_quickly_naming_cache_and_bundled(fake, tmp_path, monkeypatch):
    go_offline(monkeypatch, fake)
    with pytest.raises(OfflineError) as info:
        yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "yahoo") in msg and "olps:nyse_o" in msg and "sp500" in msg
    assert isinstance(info.value, ConnectionError) and not fake.calls


def test_offline_with_stale_cache_raises(fake, tmp_path, monkeypatch):
    yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-06-30", cache_dir=tmp_path)
    go_offline(monkeypatch, fake)
    with pytest.raises(OfflineError):
        yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)


def test_probe_uses_a_short_socket_timeout(monkeypatch):
    seen = {}

    def refuse(address, timeout):
        seen["address"], seen["timeout"] = address, timeout
        raise OSError("unreachable")

    monkeypatch.setattr(yahoo.socket, "create_connection", refuse)
    assert yahoo._online() is False
    assert seen["address"] == (yahoo.YAHOO_HOST, 443) and seen["timeout"] <= 5

    class Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(yahoo.socket, "create_connection", lambda address, timeout: Conn())
    assert yahoo._online() is True


def test_probe_gives_up_on_a_hanging_name_lookup(monkeypatch):
    release = threading.Event()

    def hang(address, timeout):
        release.wait(30)  # a resolver that never answers
        raise OSError("late")

    monkeypatch.setattr(yahoo.socket, "create_connection", hang)
    try:
        assert yahoo._online(timeout=0.05) is False
        assert not release.is_set()  # returned while the lookup was still hanging
    finally:
        release.set()


def test_corrupt_cache_is_moved_aside_and_redownloaded(fake, tmp_path):
    path = yahoo.cache_path("JPM", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a parquet file")
    with pytest.warns(UserWarning, match="moved aside"):
        out = yahoo.load_yahoo(["JPM"], start="2011-01-01", end="2011-02-28", cache_dir=tmp_path)
    assert path.with_name(path.name + ".corrupt").read_bytes() == b"not a parquet file"
    np.testing.assert_array_equal(out["JPM"], expected("JPM", "2011-01-01", "2011-02-28"))
    assert yahoo._read_cache(path, "JPM")[0]["close"].size == out["JPM"].size


def test_corrupt_cache_offline_raises_cache_corrupt(fake, tmp_path, monkeypatch):
    yahoo.load_yahoo(["JPM"], start="2011-01-01", end="2011-02-28", cache_dir=tmp_path)
    path = yahoo.cache_path("JPM", tmp_path)
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    go_offline(monkeypatch, fake)
    with pytest.raises(CacheCorruptError, match="moved aside") as info:
        yahoo.load_yahoo(["JPM"], start="2011-01-01", end="2011-02-28", cache_dir=tmp_path)
    assert "unreachable" in str(info.value)
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()


def test_cache_of_another_ticker_counts_as_corrupt(fake, tmp_path):
    yahoo.load_yahoo(["JPM"], start="2011-01-01", end="2011-02-28", cache_dir=tmp_path)
    src = yahoo.cache_path("JPM", tmp_path)
    os.replace(src, yahoo.cache_path("KO", tmp_path))
    with pytest.warns(UserWarning, match="do not match"):
        out = yahoo.load_yahoo(["KO"], start="2011-01-01", end="2011-02-28", cache_dir=tmp_path)
    np.testing.assert_array_equal(out["KO"], expected("KO", "2011-01-01", "2011-02-28"))


def _no_leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ConnectionResetError("reset")])
def test_interrupted_download_leaves_no_file(fake, tmp_path, error):
    fake.fail = error
    with pytest.raises(type(error)):
        yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)
    assert _no_leftovers(tmp_path) == []


def test_interrupted_write_leaves_no_partial_file(fake, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    real = pq.write_table

    def write_then_die(table, where, **kwargs):
        real(table.slice(0, 3), where, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        yahoo.load_yahoo(["AAPL"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)
    assert _no_leftovers(tmp_path) == []


def test_unknown_ticker_raises_and_writes_nothing(fake, tmp_path):
    with pytest.raises(UnknownTickerError, match="NOPE"):
        yahoo.load_yahoo(["NOPE"], start="2010-01-01", end="2010-12-31", cache_dir=tmp_path)
    assert _no_leftovers(tmp_path) == []


def test_universe_gives_the_tickers(tmp_path, monkeypatch):
    def any_ticker(ticker, start, end_exclusive):
        close = SP500["AAPL"]
        return yf_shaped(ticker, close[(close.index >= start) & (close.index < end_exclusive)])

    monkeypatch.setattr(yahoo, "_yf_download", any_ticker)
    monkeypatch.setattr(yahoo, "_online", lambda *a, **k: True)
    out = yahoo.load_yahoo(
        None, universe="colcap", start="2020-01-01", end="2020-01-31", cache_dir=tmp_path
    )
    assert list(out.columns) == list(load_universe("colcap").tickers)
    with pytest.raises(DataError, match="not both"):
        yahoo.load_yahoo(["A"], universe="colcap", start="2020-01-01", cache_dir=tmp_path)


def test_weekend_sessions_are_left_out(tmp_path, monkeypatch):
    # a market open Sunday-Thursday (like Tadawul) next to a Monday-Friday one
    week = pd.date_range("2021-03-07", "2021-03-19", freq="D")  # Sun .. Fri
    sun_thu = pd.Series(1.0 + np.arange(len(week)), index=week)
    sun_thu = sun_thu[week.dayofweek.isin([6, 0, 1, 2, 3])]
    mon_fri = pd.Series(2.0 + np.arange(len(week)), index=week)[week.dayofweek < 5]
    data = {"2010.SR": sun_thu, "AAPL": mon_fri}

    def download(ticker, start, end_exclusive):
        close = data[ticker]
        return yf_shaped(ticker, close[(close.index >= start) & (close.index < end_exclusive)])

    monkeypatch.setattr(yahoo, "_yf_download", download)
    monkeypatch.setattr(yahoo, "_online", lambda *a, **k: True)
    out = yahoo.load_yahoo(["2010.SR", "AAPL"], start=week[0], end=week[-1], cache_dir=tmp_path)
    assert (out.index.dayofweek < 5).all()
    assert out.index.equals(pd.DatetimeIndex(mon_fri.index, name="date"))
    assert out["2010.SR"].isna().sum() == 2  # the two Fridays
    np.testing.assert_array_equal(out["AAPL"], mon_fri)


def test_argument_errors(fake, tmp_path):
    with pytest.raises(DataError, match="start="):
        yahoo.load_yahoo(["AAPL"], cache_dir=tmp_path)
    with pytest.raises(DataError, match="tickers="):
        yahoo.load_yahoo(None, start="2020-01-01", cache_dir=tmp_path)
    with pytest.raises(DataError, match="repeat"):
        yahoo.load_yahoo(["AAPL", "AAPL"], start="2020-01-01", cache_dir=tmp_path)
    with pytest.raises(DataError, match="after"):
        yahoo.load_yahoo(["AAPL"], start="2020-01-02", end="2020-01-01", cache_dir=tmp_path)
    with pytest.raises(DataError, match="not a date"):
        yahoo.load_yahoo(["AAPL"], start="someday", cache_dir=tmp_path)


def test_env_var_sets_the_cache_root(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTFOLIO_LAB_DATA", str(tmp_path / "env"))
    assert yahoo.default_cache_dir() == tmp_path / "env"
    yahoo.load_yahoo(["KO"], start="2010-01-01", end="2010-01-31")
    assert (tmp_path / "env" / "yahoo" / "KO.parquet").is_file()


def test_cache_file_names_are_quoted():
    assert yahoo.cache_path("^GSPC", "/c").name == "%5EGSPC.parquet"
    assert yahoo.cache_path("BRK-A", "/c").name == "BRK-A.parquet"
    assert yahoo.cache_path("0700.HK", "/c").name == "0700.HK.parquet"


def test_load_prices_yahoo_validates_and_keeps_column_order(fake, tmp_path):
    out = load_prices(
        "yahoo", tickers=["MSFT", "AAPL"], start="2019-01-01", end="2019-12-31", cache_dir=tmp_path
    )
    assert list(out.columns) == ["MSFT", "AAPL"]
    assert out.attrs["source"] == "yahoo" and "validation" in out.attrs
    assert not out.isna().any().any()


def test_close_series_reads_flat_and_multiindex_and_tz_frames():
    close = SP500["AAPL"].iloc[:5]
    multi = yf_shaped("AAPL", close)
    flat = multi.droplevel("Ticker", axis=1)
    tz = flat.copy()
    tz.index = tz.index.tz_localize("America/New_York")
    for raw in (multi, flat, tz):
        out = yahoo._ohlcv_frame(raw, "AAPL")
        np.testing.assert_array_equal(out["close"].to_numpy(), close.to_numpy())
        np.testing.assert_allclose(out["high"].to_numpy(), 1.01 * close.to_numpy())
        assert out.index.equals(pd.DatetimeIndex(close.index, name="date"))
    assert yahoo._ohlcv_frame(pd.DataFrame(), "AAPL").empty
    only_close = flat[["Close"]]
    assert yahoo._ohlcv_frame(only_close, "AAPL")["open"].isna().all()


def test_yf_download_asks_for_adjusted_closes(monkeypatch):
    seen = {}

    def download(ticker, **kwargs):
        seen["ticker"] = ticker
        seen.update(kwargs)
        return pd.DataFrame()

    monkeypatch.setitem(sys.modules, "yfinance", types.SimpleNamespace(download=download))
    yahoo._yf_download("AAPL", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01"))
    assert seen["ticker"] == "AAPL" and seen["auto_adjust"] is True
    assert (seen["start"], seen["end"]) == ("2020-01-01", "2020-02-01")
    assert seen["progress"] is False


@pytest.mark.network
@pytest.mark.skipif(
    os.environ.get("PORTFOLIO_LAB_NETWORK") != "1",
    reason="real Yahoo download; set PORTFOLIO_LAB_NETWORK=1 to run",
)
def test_real_yahoo_download(tmp_path):
    out = load_prices(
        "yahoo", tickers=["AAPL"], start="2020-01-02", end="2020-01-31", cache_dir=tmp_path
    )
    assert len(out) == 21 and (out["AAPL"] > 0).all()


def _write_schema1(path, ticker, close, start, end):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "date": pa.array(close.index.to_numpy(dtype="datetime64[ns]")),
            "close": pa.array(close.to_numpy(dtype=np.float64)),
        }
    )
    header = {"ticker": ticker, "start": start, "end": end}
    table = table.replace_schema_metadata({b"portfolio_lab": json.dumps(header).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_schema1_cache_is_migrated_without_losing_closes(fake, tmp_path, monkeypatch):
    close = expected("KO", "2012-01-01", "2012-12-31")
    path = yahoo.cache_path("KO", tmp_path)
    _write_schema1(path, "KO", close, "2012-01-01", "2012-12-31")
    go_offline(monkeypatch, fake)
    out = yahoo.load_yahoo(["KO"], start="2012-01-01", end="2012-12-31", cache_dir=tmp_path)
    np.testing.assert_array_equal(out["KO"].to_numpy(), close.to_numpy())
    frame, c_start, c_end, version = yahoo._read_cache(path, "KO")
    assert version == yahoo.SCHEMA_VERSION and list(frame.columns) == list(yahoo.FIELDS)
    np.testing.assert_array_equal(frame["close"].to_numpy(), close.to_numpy())
    assert frame["open"].isna().all()
    assert (c_start, c_end) == (pd.Timestamp("2012-01-01"), pd.Timestamp("2012-12-31"))
    # closes only, offline: asking for OHLC says why it cannot
    with pytest.raises(OfflineError, match="closes only"):
        yahoo.load_yahoo_ohlcv(["KO"], start="2012-01-01", end="2012-12-31", cache_dir=tmp_path)
    assert yahoo.load_yahoo_ohlcv(
        ["KO"], fields=("close", "volume"), start="2012-01-01", end="2012-12-31", cache_dir=tmp_path
    )["close"].shape == (len(close), 1)


def test_ohlcv_fields_come_back_on_the_same_dates(fake, tmp_path, monkeypatch):
    ohlc = yahoo.load_yahoo_ohlcv(
        ["KO", "PG"], start="2012-01-01", end="2012-06-30", cache_dir=tmp_path
    )
    assert set(ohlc) == set(yahoo.FIELDS)
    for frame in ohlc.values():
        assert list(frame.columns) == ["KO", "PG"] and frame.index.equals(ohlc["close"].index)
    assert (ohlc["high"] >= np.maximum(ohlc["open"], ohlc["close"])).all().all()
    assert (ohlc["low"] <= np.minimum(ohlc["open"], ohlc["close"])).all().all()
    go_offline(monkeypatch, fake)  # now served from the schema-2 cache
    again = yahoo.load_yahoo_ohlcv(
        ["KO"], fields=("open", "close"), start="2012-01-01", end="2012-06-30", cache_dir=tmp_path
    )
    pd.testing.assert_frame_equal(again["open"], ohlc["open"][["KO"]], check_freq=False)
    with pytest.raises(DataError, match="unknown fields"):
        yahoo.load_yahoo_ohlcv(["KO"], fields=("vwap",), start="2012-01-01", cache_dir=tmp_path)


def test_migrated_cache_is_downloaded_again_for_ohlc_when_online(fake, tmp_path):
    close = expected("KO", "2012-01-01", "2012-12-31")
    _write_schema1(yahoo.cache_path("KO", tmp_path), "KO", close, "2012-01-01", "2012-12-31")
    ohlc = yahoo.load_yahoo_ohlcv(["KO"], start="2012-01-01", end="2012-12-31", cache_dir=tmp_path)
    assert not ohlc["open"].isna().any().any()
    np.testing.assert_array_equal(ohlc["close"]["KO"].to_numpy(), close.to_numpy())
