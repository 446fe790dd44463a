"""Prices: bundled real datasets, Yahoo Finance with an on-disk cache, universes, validation.

See ``DATA.md`` in this folder for the provenance and licences of the bundled data.
"""

from __future__ import annotations

from portfolio_lab.data._loader import list_sources, load_prices
from portfolio_lab.data._universes import Universe, list_universes, load_universe
from portfolio_lab.data._validation import ValidationReport, validate_prices
from portfolio_lab.data._yahoo import cache_path, load_yahoo_ohlcv

__all__ = [
    "load_prices",
    "load_yahoo_ohlcv",
    "cache_path",
    "list_sources",
    "validate_prices",
    "ValidationReport",
    "load_universe",
    "list_universes",
    "Universe",
]
