"""Ticker universes stored as CSV files in ``data/universes/``.

Each file starts with one ``#`` line describing the universe, then a header
``ticker,name,exchange,sector,original,notes``: ``ticker`` is the Yahoo Finance symbol to
use, ``original`` the symbol as written in the source the list comes from and ``notes``
the reason for any change (see ``DATA.md``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from portfolio_lab.exceptions import DataError

__all__ = ["Universe", "list_universes", "load_universe"]

_COLUMNS = ["ticker", "name", "exchange", "sector", "original", "notes"]


@dataclass(frozen=True)
class Universe:
    """A named list of tickers with metadata, one entry per ticker.

    Attributes
    ----------
    name : str
        Universe name (the CSV file stem).
    description : str
        What the universe is and where it comes from.
    tickers : tuple of str, shape (n,)
        Yahoo Finance symbols.
    names : tuple of str, shape (n,)
        Company or fund names.
    exchange : tuple of str, shape (n,)
        Market of each symbol.
    sector : tuple of str, shape (n,)
        Sector of each company.
    original : tuple of str, shape (n,)
        Symbol as written in the source of the list.
    notes : tuple of str, shape (n,)
        Why a symbol or name was changed (empty when unchanged).
    """

    name: str
    description: str
    tickers: tuple[str, ...]
    names: tuple[str, ...]
    exchange: tuple[str, ...]
    sector: tuple[str, ...]
    original: tuple[str, ...]
    notes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tickers)

    @property
    def changes(self) -> dict[str, str]:
        """Map ``original -> ticker`` for every symbol that was corrected."""
        return {o: t for o, t in zip(self.original, self.tickers, strict=True) if o != t}


def _folder() -> Traversable:
    return resources.files("portfolio_lab.data").joinpath("universes")


def list_universes() -> list[str]:
    """Names of the bundled universes, sorted.

    Returns
    -------
    list of str
        E.g. ``["colcap", "global50", "twse50"]``.
    """
    return sorted(p.name[:-4] for p in _folder().iterdir() if p.name.endswith(".csv"))


def parse_universe(name: str, text: str) -> Universe:
    """Parse the text of a universe CSV file.

    Parameters
    ----------
    name : str
        Universe name, for the record and messages.
    text : str
        File content: a ``#`` description line, then the CSV header and rows.

    Returns
    -------
    Universe
        The parsed record.

    Raises
    ------
    DataError
        Missing description, wrong header, empty list, or duplicate or blank tickers.
    """
    first, _, body = text.partition("\n")
    if not first.startswith("#"):
        raise DataError(f"universe {name!r}: first line must be a '# description'")
    rows = list(csv.DictReader(io.StringIO(body)))
    header = list(rows[0].keys()) if rows else []
    if header != _COLUMNS:
        raise DataError(f"universe {name!r}: header {header} should be {_COLUMNS}")
    tickers = [r["ticker"].strip() for r in rows]
    if not tickers or any(not t for t in tickers):
        raise DataError(f"universe {name!r}: empty or blank tickers")
    dup = sorted({t for t in tickers if tickers.count(t) > 1})
    if dup:
        raise DataError(f"universe {name!r}: duplicate tickers {dup}")

    def col(key: str) -> tuple[str, ...]:
        return tuple((r[key] or "").strip() for r in rows)

    return Universe(
        name=name,
        description=first.lstrip("#").strip(),
        tickers=tuple(tickers),
        names=col("name"),
        exchange=col("exchange"),
        sector=col("sector"),
        original=col("original"),
        notes=col("notes"),
    )


@lru_cache(maxsize=8)
def load_universe(name: str) -> Universe:
    """Load a bundled universe.

    Parameters
    ----------
    name : str
        One of :func:`list_universes` (``"global50"``, ``"twse50"``, ``"colcap"``).

    Returns
    -------
    Universe
        Frozen record of tickers, names, exchanges, sectors, original symbols and notes.

    Raises
    ------
    DataError
        Unknown name (the message lists the valid ones) or a malformed file.
    """
    valid = list_universes()
    if name not in valid:
        raise DataError(f"unknown universe {name!r}; valid universes: {valid}")
    text = _folder().joinpath(f"{name}.csv").read_text(encoding="utf-8")
    return parse_universe(name, text)
