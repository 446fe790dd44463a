from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from portfolio_lab.data import ValidationReport, validate_prices
from portfolio_lab.exceptions import InvalidPricesError


def frame(values, columns=None, start="2020-01-01"):
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    columns = columns or [f"a{i}" for i in range(values.shape[1])]
    index = pd.bdate_range(start, periods=values.shape[0], name="date")
    return pd.DataFrame(values, index=index, columns=columns)


def test_clean_frame_passes_unchanged():
    f = frame(np.linspace(1, 2, 20).reshape(10, 2))
    clean, report = validate_prices(f)
    pd.testing.assert_frame_equal(clean, f)
    assert isinstance(report, ValidationReport)
    assert not report.changed
    assert clean.attrs["validation"] == report.to_dict()
    assert report.columns_out == ("a0", "a1")


def test_short_gap_is_forward_filled_and_reported():
    x = np.arange(1.0, 21.0)
    x[5:8] = np.nan
    clean, report = validate_prices(frame(x), max_gap=3, max_missing=0.2)
    assert clean["a0"].iloc[5:8].tolist() == [5.0, 5.0, 5.0]
    assert report.filled == {"a0": 3}
    assert not report.dropped


def test_long_gap_drops_the_column_and_keeps_others():
    x = np.arange(1.0, 101.0)
    x[10:16] = np.nan  # 6 rows > max_gap 5, but only 6 % missing... max_missing 0.1
    y = np.arange(1.0, 101.0)
    clean, report = validate_prices(frame(np.c_[x, y]), max_gap=5, max_missing=0.1)
    assert list(clean.columns) == ["a1"]
    assert "gap of 6 rows" in report.dropped["a0"]


def test_missing_fraction_drops_the_column():
    x = np.arange(1.0, 101.0)
    x[1:100:10] = np.nan  # 10 single-row gaps = 10 % missing
    y = np.arange(1.0, 101.0)
    clean, report = validate_prices(frame(np.c_[x, y]), max_missing=0.05)
    assert list(clean.columns) == ["a1"]
    assert "missing fraction 0.100" in report.dropped["a0"]


def test_leading_nans_count_as_missing_and_trim_the_start():
    x = np.arange(1.0, 101.0)
    x[:3] = np.nan  # listed on the fourth day
    y = np.arange(1.0, 101.0)
    clean, report = validate_prices(frame(np.c_[x, y]), max_gap=1, max_missing=0.05)
    assert report.trimmed_rows == 3
    assert len(clean) == 97 and clean.index[0] == frame(x).index[3]
    assert not clean.isna().any().any()
    x[:10] = np.nan
    clean, report = validate_prices(frame(np.c_[x, y]), max_missing=0.05)
    assert list(clean.columns) == ["a1"] and report.trimmed_rows == 0
    assert "missing fraction" in report.dropped["a0"]


def test_trailing_gap_follows_the_gap_rule():
    x = np.arange(1.0, 101.0)
    x[-2:] = np.nan
    clean, _ = validate_prices(frame(x), max_gap=2)
    assert clean["a0"].iloc[-1] == 98.0
    x[-4:] = np.nan
    with pytest.raises(InvalidPricesError, match="every column was dropped"):
        validate_prices(frame(x), max_gap=2)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_non_positive_or_infinite_prices_raise_naming_column_and_date(bad):
    x = np.arange(1.0, 11.0)
    x[4] = bad
    f = frame(np.c_[np.arange(1.0, 11.0), x], columns=["ok", "BAD"])
    with pytest.raises(InvalidPricesError, match="BAD") as info:
        validate_prices(f)
    assert str(f.index[4].date()) in str(info.value)


def test_bad_prices_in_a_dropped_column_do_not_raise():
    x = np.full(100, np.nan)
    x[0] = -5.0
    clean, report = validate_prices(frame(np.c_[np.arange(1.0, 101.0), x]))
    assert list(clean.columns) == ["a0"] and "a1" in report.dropped


def test_duplicate_dates_raise():
    f = frame(np.arange(1.0, 6.0))
    f.index = pd.DatetimeIndex(
        ["2020-01-01", "2020-01-02", "2020-01-02", "2020-01-03", "2020-01-06"]
    )
    with pytest.raises(InvalidPricesError, match="duplicate dates: 2020-01-02"):
        validate_prices(f)


def test_unsorted_dates_raise():
    f = frame(np.arange(1.0, 6.0)).iloc[[0, 2, 1, 3, 4]]
    with pytest.raises(InvalidPricesError, match="not sorted"):
        validate_prices(f)


def test_non_numeric_columns_raise():
    f = frame(np.arange(1.0, 6.0))
    f["name"] = "x"
    f["flag"] = True
    with pytest.raises(InvalidPricesError, match="name, flag"):
        validate_prices(f)


@pytest.mark.parametrize(
    "bad",
    [
        pd.DataFrame({"a": [1.0, 2.0]}),  # RangeIndex
        frame(np.arange(1.0, 3.0)).iloc[:0],  # empty
        np.ones((3, 2)),  # not a frame
    ],
)
def test_wrong_containers_raise(bad):
    with pytest.raises(InvalidPricesError):
        validate_prices(bad)


def test_bad_policy_arguments_raise():
    with pytest.raises(InvalidPricesError):
        validate_prices(frame(np.arange(1.0, 3.0)), max_missing=1.5)
    with pytest.raises(InvalidPricesError):
        validate_prices(frame(np.arange(1.0, 3.0)), max_gap=-1)


def test_report_is_frozen():
    _, report = validate_prices(frame(np.arange(1.0, 4.0)))
    with pytest.raises(AttributeError):
        report.max_gap = 3  # type: ignore[misc]


def test_integer_prices_become_float64():
    f = pd.DataFrame({"a": [1, 2, 3]}, index=pd.bdate_range("2020-01-01", periods=3))
    clean, _ = validate_prices(f)
    assert clean["a"].dtype == np.float64


# ---------------------------------------------------------------- property tests


def _reference_drop(col: np.ndarray, max_gap: int, max_missing: float) -> bool:
    """Independent statement of the drop rule (runs via itertools.groupby)."""
    missing = np.isnan(col)
    if missing.mean() > max_missing:
        return True
    runs = [(k, len(list(g))) for k, g in itertools.groupby(missing)]
    if runs and runs[0][0]:
        runs = runs[1:]  # the leading run only counts as missing
    return any(k and n > max_gap for k, n in runs)


@st.composite
def gappy_frames(draw):
    n_rows = draw(st.integers(2, 40))
    n_cols = draw(st.integers(1, 5))
    values = draw(
        arrays(np.float64, (n_rows, n_cols), elements=st.floats(0.5, 100.0, allow_nan=False))
    )
    mask = draw(arrays(np.bool_, (n_rows, n_cols), elements=st.booleans()))
    keep_dense = draw(st.booleans())
    if keep_dense:  # often leave one full column so something survives
        mask[:, 0] = False
    values[mask] = np.nan
    return frame(values)


@settings(max_examples=150, deadline=None)
@given(f=gappy_frames(), max_gap=st.integers(0, 4), max_missing=st.floats(0.0, 1.0))
def test_gap_policy_properties(f, max_gap, max_missing):
    expected_drop = {c for c in f.columns if _reference_drop(f[c].to_numpy(), max_gap, max_missing)}
    try:
        clean, report = validate_prices(f, max_gap=max_gap, max_missing=max_missing)
    except InvalidPricesError:
        kept = [c for c in f.columns if c not in expected_drop]
        # raising is only allowed when nothing (or no row) survives
        assert not kept or any(f[c].isna().all() for c in kept)
        return
    # dropping is exactly the rule, and reported
    assert set(report.dropped) == expected_drop
    assert set(report.columns_out) | set(report.dropped) == set(f.columns)
    assert not set(report.columns_out) & set(report.dropped)
    assert list(clean.columns) == list(report.columns_out)
    # no NaN left; only leading rows may be trimmed
    assert not clean.isna().any().any()
    assert clean.index.equals(f.index[report.trimmed_rows :])
    # every value is the original or a forward fill from at most max_gap rows before
    for c in clean.columns:
        orig = f[c].to_numpy()
        out = clean[c].to_numpy()
        n_filled = 0
        for i, pos in enumerate(range(report.trimmed_rows, len(f))):
            if np.isnan(orig[pos]):
                n_filled += 1
                back = pos - 1
                while np.isnan(orig[back]):
                    back -= 1
                assert pos - back <= max_gap
                assert out[i] == orig[back]
            else:
                assert out[i] == orig[pos]
        assert report.filled.get(c, 0) == n_filled
    assert clean.attrs["validation"] == report.to_dict()
