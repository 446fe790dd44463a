from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest

from portfolio_lab.data import Universe, list_universes, load_universe
from portfolio_lab.data._universes import parse_universe
from portfolio_lab.exceptions import DataError

# corrections the source project's list needs (see DATA.md)
GLOBAL50_FIXES = {
    "MSTF": "MSFT",
    "APPL": "AAPL",
    "VS": "VZ",
    "GOOG.L": "GOOG",
    "FB": "META",
    "RDSA.AS": "SHELL.AS",
}


def test_list_universes():
    assert list_universes() == ["colcap", "global50", "twse50", "zhang2020"]


@pytest.mark.parametrize("name", ["colcap", "global50", "twse50", "zhang2020"])
def test_universe_records_are_consistent(name):
    u = load_universe(name)
    assert isinstance(u, Universe) and u.name == name and u.description
    n = len(u)
    for field in ("names", "exchange", "sector", "original", "notes"):
        assert len(getattr(u, field)) == n
    assert len(set(u.tickers)) == n
    assert all(t == t.strip() and " " not in t for t in u.tickers)
    assert all(u.names) and all(u.exchange) and all(u.sector)
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.name = "x"  # type: ignore[misc]


def test_global50_corrects_the_source_typos_and_renames():
    u = load_universe("global50")
    assert len(u) == 50
    assert u.changes == GLOBAL50_FIXES
    assert not set(GLOBAL50_FIXES) & set(u.tickers)
    for original, ticker in GLOBAL50_FIXES.items():
        note = u.notes[u.tickers.index(ticker)]
        assert f"{original} -> {ticker}" in note
    # five names in each of ten sectors, as in the source
    assert sorted(u.sector.count(s) for s in set(u.sector)) == [5] * 10


def test_global50_changes_are_documented_in_data_md():
    text = resources.files("portfolio_lab.data").joinpath("DATA.md").read_text(encoding="utf-8")
    for original, ticker in GLOBAL50_FIXES.items():
        assert f"`{original}` | `{ticker}`" in text


def test_twse50_uses_tw_suffixes():
    u = load_universe("twse50")
    assert len(u) == 50
    assert all(re.fullmatch(r"\d{4}\.TW", t) for t in u.tickers)
    assert "2330.TW" in u.tickers  # TSMC, the largest


def test_colcap_uses_cl_suffixes():
    u = load_universe("colcap")
    assert 15 <= len(u) <= 30
    assert all(re.fullmatch(r"[A-Z]+\.CL", t) for t in u.tickers)
    assert "ECOPETROL.CL" in u.tickers and "PFBCOLOM.CL" in u.tickers


def test_unknown_universe_lists_valid_ones():
    with pytest.raises(DataError, match="global50"):
        load_universe("sp100")


HEADER = "ticker,name,exchange,sector,original,notes\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (HEADER + "A,a,US,x,A,\n", "description"),
        ("# d\nticker,name\nA,a\n", "header"),
        ("# d\n" + HEADER, "header"),
        ("# d\n" + HEADER + "A,a,US,x,A,\nA,b,US,x,A,\n", "duplicate"),
        ("# d\n" + HEADER + " ,a,US,x,A,\n", "blank"),
    ],
)
def test_malformed_universe_files_raise(text, match):
    with pytest.raises(DataError, match=match):
        parse_universe("bad", text)
