"""The datasets bundled with portfolio-lab (read offline from ``data/bundled/``).

See ``data/DATA.md`` for provenance, licences and the checks made on each file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from portfolio_lab.data._codec import read_bundled
from portfolio_lab.exceptions import DataError

__all__ = [
    "OlpsDataset",
    "OLPS_DATASETS",
    "SYNTHETIC_CALENDAR",
    "BUNDLED_SOURCES",
    "bundled_path",
    "load_bundled",
    "olps_relatives",
]

SYNTHETIC_CALENDAR = "synthetic business days (dataset has no dates)"


@dataclass(frozen=True)
class OlpsDataset:
    """One online-portfolio-selection dataset of the Li & Hoi survey.

    Attributes
    ----------
    name : str
        Short name used in ``"olps:<name>"``.
    title : str
        Name in the literature.
    start : str
        Published first trading date (ISO).
    end : str
        Published last trading date (ISO).
    n_days : int
        Published number of trading days (rows of price relatives).
    n_assets : int
        Published number of assets.
    description : str
        What the assets are.
    """

    name: str
    title: str
    start: str
    end: str
    n_days: int
    n_assets: int
    description: str


OLPS_DATASETS: dict[str, OlpsDataset] = {
    d.name: d
    for d in (
        OlpsDataset(
            "nyse_o", "NYSE (O)", "1962-07-03", "1984-12-31", 5651, 36,
            "36 large NYSE stocks (Cover 1991; Helmbold et al. 1998)",
        ),
        OlpsDataset(
            "nyse_n", "NYSE (N)", "1985-01-01", "2010-06-30", 6431, 23,
            "23 of the NYSE (O) stocks that survived to 2010 (Li & Hoi)",
        ),
        OlpsDataset(
            "tse", "TSE", "1994-01-04", "1998-12-31", 1259, 88,
            "88 Toronto Stock Exchange stocks (Borodin et al. 2004)",
        ),
        OlpsDataset(
            "sp500", "SP500", "1998-01-02", "2003-01-31", 1276, 25,
            "25 largest S&P 500 stocks by market cap (Borodin et al. 2004)",
        ),
        OlpsDataset(
            "msci", "MSCI", "2006-04-01", "2010-03-31", 1043, 24,
            "24 MSCI World country indices (Li et al. 2012)",
        ),
        OlpsDataset(
            "djia", "DJIA", "2001-01-14", "2003-01-14", 507, 30,
            "30 Dow Jones Industrial Average stocks (Borodin et al. 2004)",
        ),
    )
}  # fmt: skip

BUNDLED_SOURCES: tuple[str, ...] = ("sp500", "sp500_index") + tuple(
    f"olps:{name}" for name in OLPS_DATASETS
)


def bundled_path(stem: str) -> str:
    """Path of the bundled file ``<stem>.parquet`` inside the installed package."""
    return str(resources.files("portfolio_lab.data").joinpath("bundled", f"{stem}.parquet"))


@lru_cache(maxsize=16)
def _read(stem: str) -> tuple[pd.DataFrame, str]:
    frame, header = read_bundled(bundled_path(stem))
    return frame, header["kind"]


def _business_days(first: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
    """Return ``periods`` weekdays from ``first`` (a weekday); a fast ``pd.bdate_range``."""
    days = pd.date_range(first, periods=periods * 7 // 5 + 7, freq="D")
    return pd.DatetimeIndex(days[days.dayofweek < 5][:periods], name="date")


def olps_relatives(name: str) -> pd.DataFrame:
    """Original price relatives of an OLPS dataset.

    Parameters
    ----------
    name : str
        A key of :data:`OLPS_DATASETS`.

    Returns
    -------
    pandas.DataFrame, shape (n_days, n_assets)
        Relatives ``x[t, i] = p[t, i] / p[t - 1, i]``, columns ``s01, s02, ...``,
        RangeIndex (the datasets carry no dates).
    """
    frame, kind = _read(f"olps_{name}")
    if kind != "relatives":
        raise DataError(f"bundled file olps_{name} holds {kind}, expected relatives")
    return frame.copy()


def _olps_prices(name: str) -> pd.DataFrame:
    spec = OLPS_DATASETS[name]
    rel = olps_relatives(name).to_numpy()
    prices = np.vstack([np.ones((1, rel.shape[1])), np.cumprod(rel, axis=0)])
    index = _business_days(pd.Timestamp(spec.start) - pd.offsets.BDay(1), prices.shape[0])
    columns = [f"s{i + 1:02d}" for i in range(rel.shape[1])]
    frame = pd.DataFrame(prices, index=index, columns=columns)
    frame.attrs["calendar"] = SYNTHETIC_CALENDAR
    frame.attrs["source"] = f"olps:{name}"
    return frame


def load_bundled(source: str) -> pd.DataFrame:
    """Full price frame of one bundled source (no selection, no validation).

    Parameters
    ----------
    source : str
        One of :data:`BUNDLED_SOURCES`.

    Returns
    -------
    pandas.DataFrame, shape (T, n)
        Float64 prices indexed by a DatetimeIndex named ``date``.
    """
    if source.startswith("olps:"):
        return _olps_prices(source.removeprefix("olps:"))
    frame, kind = _read(source)
    if kind != "prices":
        raise DataError(f"bundled file {source} holds {kind}, expected prices")
    frame = frame.copy()
    frame.attrs["calendar"] = "trading days"
    frame.attrs["source"] = source
    return frame
