from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.data import list_sources, load_prices
from portfolio_lab.data._bundled import OLPS_DATASETS, SYNTHETIC_CALENDAR, olps_relatives
from portfolio_lab.data._codec import decimals_needed, decode_table, encode_frame
from portfolio_lab.exceptions import DataError, UnknownSourceError, UnknownTickerError

OLPS = sorted(OLPS_DATASETS)


def test_list_sources_names_every_bundled_dataset():
    sources = list_sources()
    assert {"sp500", "sp500_index", "yahoo"} <= set(sources)
    assert {f"olps:{n}" for n in ["nyse_o", "nyse_n", "tse", "sp500", "msci", "djia"]} <= set(
        sources
    )


@pytest.mark.parametrize("source", [s for s in list_sources() if s != "yahoo"])
def test_frames_follow_the_contract(source):
    frame = load_prices(source)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert (frame.dtypes == np.float64).all()
    values = frame.to_numpy()
    assert np.isfinite(values).all() and (values > 0).all()
    assert frame.attrs["validation"]["columns_out"] == list(frame.columns)
    report = frame.attrs["validation"]
    assert not report["dropped"] and not report["filled"] and report["trimmed_rows"] == 0


@pytest.mark.parametrize("name", OLPS)
def test_olps_shape_matches_published_counts(name):
    spec = OLPS_DATASETS[name]
    frame = load_prices(f"olps:{name}")
    assert frame.shape == (spec.n_days + 1, spec.n_assets)
    assert list(frame.columns) == [f"s{i:02d}" for i in range(1, spec.n_assets + 1)]


@pytest.mark.parametrize("name", OLPS)
def test_olps_prices_give_back_every_relative_first_included(name):
    frame = load_prices(f"olps:{name}")
    rel = olps_relatives(name).to_numpy()
    assert np.array_equal(frame.iloc[0].to_numpy(), np.ones(rel.shape[1]))
    back = frame.iloc[1:].to_numpy() / frame.iloc[:-1].to_numpy()
    assert back.shape == rel.shape
    np.testing.assert_allclose(back, rel, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(frame.iloc[1].to_numpy(), rel[0])


@pytest.mark.parametrize("name", OLPS)
def test_olps_synthetic_calendar(name):
    spec = OLPS_DATASETS[name]
    frame = load_prices(f"olps:{name}")
    assert frame.attrs["calendar"] == SYNTHETIC_CALENDAR
    published = pd.Timestamp(spec.start)
    assert frame.index[0] < published <= frame.index[1]
    assert frame.index[0] == published - pd.offsets.BDay(1)
    assert (frame.index.dayofweek < 5).all()
    assert frame.index.equals(pd.bdate_range(frame.index[0], periods=len(frame), name="date"))


def test_olps_integer_decimal_datasets_keep_their_precision():
    # NYSE (O) relatives were published with 5 decimals, TSE with 6.
    for name, d in (("nyse_o", 5), ("tse", 6)):
        rel = olps_relatives(name).to_numpy()
        assert np.array_equal(rel, np.round(rel, d))
        assert not np.array_equal(rel, np.round(rel, d - 1))


def package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.parametrize("name", OLPS)
def test_olps_matches_universal_portfolios_package_data(name):
    path = package_file("universal", "data", f"{name}.csv")
    original = pd.read_csv(path).to_numpy(dtype=np.float64)
    ours = load_prices(f"olps:{name}").iloc[1:].to_numpy()
    np.testing.assert_allclose(ours, original, rtol=1e-12, atol=0)


def test_sp500_matches_skfolio_package_data_exactly():
    folder = ("datasets", "data")
    ref = pd.read_csv(package_file("skfolio", *folder, "sp500_dataset.csv.gz"), index_col=0)
    ours = load_prices("sp500")
    assert list(ours.columns) == list(ref.columns)
    assert ours.index.equals(pd.DatetimeIndex(ref.index))
    np.testing.assert_array_equal(ours.to_numpy(), ref.to_numpy())
    ref_idx = pd.read_csv(package_file("skfolio", *folder, "sp500_index.csv.gz"), index_col=0)
    np.testing.assert_array_equal(load_prices("sp500_index").to_numpy(), ref_idx.to_numpy())


def test_sp500_shape_and_index_alignment():
    stocks = load_prices("sp500")
    index = load_prices("sp500_index")
    assert stocks.shape == (8313, 20)
    assert list(index.columns) == ["SP500"]
    assert stocks.index.equals(index.index)
    assert stocks.index[0] == pd.Timestamp("1990-01-02")
    assert stocks.index[-1] == pd.Timestamp("2022-12-28")


def test_tickers_select_columns_in_the_given_order():
    frame = load_prices("sp500", tickers=["MSFT", "AAPL"])
    assert list(frame.columns) == ["MSFT", "AAPL"]
    full = load_prices("sp500")
    np.testing.assert_array_equal(frame.to_numpy(), full[["MSFT", "AAPL"]].to_numpy())
    assert list(load_prices("olps:djia", tickers="s03").columns) == ["s03"]


def test_unknown_ticker_lists_valid_ones():
    with pytest.raises(UnknownTickerError, match="MSTF") as info:
        load_prices("sp500", tickers=["AAPL", "MSTF"])
    assert "MSFT" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_source_lists_valid_ones():
    with pytest.raises(UnknownSourceError) as info:
        load_prices("olps:nyse")
    assert "olps:nyse_o" in str(info.value) and "sp500_index" in str(info.value)


def test_start_end_are_inclusive():
    frame = load_prices("sp500", start="2000-01-03", end="2000-01-31")
    assert frame.index[0] == pd.Timestamp("2000-01-03")
    assert frame.index[-1] == pd.Timestamp("2000-01-31")
    full = load_prices("sp500")
    mask = (full.index >= "2000-01-03") & (full.index <= "2000-01-31")
    assert len(frame) == int(mask.sum())


def test_empty_or_reversed_range_raises():
    with pytest.raises(DataError, match="covers"):
        load_prices("sp500", start="2030-01-01")
    with pytest.raises(DataError, match="after"):
        load_prices("sp500", start="2001-01-01", end="2000-01-01")


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(DataError, match="not a date"):
        load_prices("sp500", start="yesterday-ish")
    with pytest.raises(DataError, match="empty"):
        load_prices("sp500", tickers=[])
    with pytest.raises(DataError, match="repeat"):
        load_prices("sp500", tickers=["AAPL", "AAPL"])
    with pytest.raises(UnknownSourceError):
        load_prices(None)  # type: ignore[arg-type]


def test_yahoo_only_options_are_rejected_for_bundled_sources():
    with pytest.raises(DataError, match="yahoo"):
        load_prices("sp500", refresh=True)


def test_loaded_frames_are_independent_copies():
    a = load_prices("olps:djia")
    a.iloc[0, 0] = -1.0
    b = load_prices("olps:djia")
    assert b.iloc[0, 0] == 1.0


@settings(max_examples=50, deadline=None)
@given(
    ints=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=40),
    decimals=st.integers(0, 9),
    delta=st.booleans(),
)
def test_decimal_encoding_round_trips_exactly(ints, decimals, delta):
    values = np.array(ints, dtype=np.float64).reshape(-1, 1) / 10.0**decimals
    frame = pd.DataFrame(values, columns=["a"])
    encoding = "decimal_delta" if delta else "decimal"
    table = encode_frame(frame, kind="prices", encoding=encoding, decimals=decimals)
    back = decode_table(table.copy(), table.attrs["portfolio_lab"])
    np.testing.assert_array_equal(back.to_numpy(), values)
    assert decimals_needed(values, max_decimals=9) <= decimals


def test_decimal_encoding_refuses_lossy_input():
    frame = pd.DataFrame({"a": [1.23456]})
    with pytest.raises(DataError, match="round-trip"):
        encode_frame(frame, kind="prices", encoding="decimal", decimals=3)
