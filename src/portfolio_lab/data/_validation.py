"""Validation of price frames: typed errors for broken data, a documented gap policy.

Policy (per column, NaN = missing):

1. *Leading* NaNs (an asset listed after the first date) count as missing but cannot be
   filled without looking ahead.
2. Every other run of NaNs (interior or trailing) is a gap; gaps of at most ``max_gap``
   consecutive rows are forward-filled with the last observed price.
3. A column is dropped when its missing fraction (leading NaNs included) exceeds
   ``max_missing`` or when it has a gap longer than ``max_gap``.
4. If surviving columns start late, the first rows up to the latest first observation are
   trimmed, so the clean frame holds no NaN.

Non-positive or non-finite prices left after this policy raise
:class:`~portfolio_lab.exceptions.InvalidPricesError`, as do duplicate or unsorted dates
and non-numeric columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from portfolio_lab.exceptions import InvalidPricesError

__all__ = ["ValidationReport", "validate_prices"]

_SHOW = 5


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_prices` changed in a price frame.

    Attributes
    ----------
    n_rows_in, n_rows_out : int
        Rows before and after validation.
    columns_in, columns_out : tuple of str
        Columns before and after validation.
    filled : dict of str to int
        Per kept column, how many cells were forward-filled (columns with none omitted).
    dropped : dict of str to str
        Per dropped column, the reason.
    trimmed_rows : int
        Leading rows removed because a kept column had not started yet.
    max_gap : int
        Longest run of missing rows that was allowed to be forward-filled.
    max_missing : float
        Largest missing fraction a kept column may have.
    """

    n_rows_in: int
    n_rows_out: int
    columns_in: tuple[str, ...]
    columns_out: tuple[str, ...]
    filled: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    trimmed_rows: int = 0
    max_gap: int = 5
    max_missing: float = 0.05

    @property
    def changed(self) -> bool:
        """Whether validation filled, dropped or trimmed anything."""
        return bool(self.filled or self.dropped or self.trimmed_rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        out = asdict(self)
        out["columns_in"] = list(self.columns_in)
        out["columns_out"] = list(self.columns_out)
        return out


def _names(items: Any) -> str:
    items = [str(i) for i in items]
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(items[:_SHOW]) + more


def _check_index(frame: pd.DataFrame) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidPricesError(
            f"prices need a DatetimeIndex, got {type(frame.index).__name__}; "
            "set one with frame.set_index(pd.to_datetime(...))"
        )
    dup = frame.index[frame.index.duplicated()]
    if len(dup):
        raise InvalidPricesError(
            f"duplicate dates: {_names(d.date() for d in dup.unique())}; "
            "aggregate or drop them first"
        )
    if not frame.index.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(frame.index.asi8) < 0)[0]) + 1
        raise InvalidPricesError(
            f"dates are not sorted: {frame.index[pos].date()} comes after "
            f"{frame.index[pos - 1].date()}; call frame.sort_index() first"
        )


def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    bad = [
        c
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]
    if bad:
        raise InvalidPricesError(f"non-numeric columns: {_names(bad)}; prices must be numbers")
    return frame.astype(np.float64)


def _runs(missing: np.ndarray) -> tuple[int, int]:
    """Return (length of the leading NaN run, longest later NaN run) of one column."""
    n = missing.size
    if missing.all():
        return n, 0
    lead = int(np.argmin(missing))  # first observed row
    rest = missing[lead:]
    if not rest.any():
        return lead, 0
    edges = np.diff(np.concatenate([[0], rest.astype(np.int8), [0]]))
    return lead, int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def validate_prices(
    frame: pd.DataFrame, *, max_gap: int = 5, max_missing: float = 0.05
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check a price frame and apply the gap policy of this module.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (T, n)
        Prices indexed by a DatetimeIndex, one column per asset.
    max_gap : int, default 5
        Longest run of consecutive missing rows that is forward-filled.
    max_missing : float, default 0.05
        Largest fraction of missing rows (leading NaNs included) a column may have.

    Returns
    -------
    clean : pandas.DataFrame, shape (T', n')
        Float64 prices without NaN, ``T' <= T``, ``n' <= n``; ``clean.attrs["validation"]``
        holds ``report.to_dict()``.
    report : ValidationReport
        What was filled, dropped and trimmed.

    Raises
    ------
    InvalidPricesError
        Non-DataFrame or empty input, non-DatetimeIndex, duplicate or unsorted dates,
        non-numeric columns, every column dropped, or non-positive / infinite prices in
        the kept data (columns and first dates named in the message).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidPricesError(f"prices must be a pandas DataFrame, got {type(frame).__name__}")
    if max_gap < 0 or not 0.0 <= max_missing <= 1.0:
        raise InvalidPricesError(
            f"need max_gap >= 0 and 0 <= max_missing <= 1, got {max_gap}, {max_missing}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InvalidPricesError(f"price frame is empty (shape {frame.shape})")
    if not frame.columns.is_unique:
        dup = frame.columns[frame.columns.duplicated()]
        raise InvalidPricesError(f"duplicate columns: {_names(dup.unique())}")
    _check_index(frame)
    attrs = dict(frame.attrs)
    values = _as_float(frame)
    n_rows = values.shape[0]

    dropped: dict[str, str] = {}
    leads: dict[str, int] = {}
    for col in values.columns:
        missing = values[col].isna().to_numpy()
        frac = float(missing.mean())
        lead, gap = _runs(missing)
        if frac > max_missing:
            dropped[str(col)] = f"missing fraction {frac:.3f} > max_missing {max_missing}"
        elif gap > max_gap:
            dropped[str(col)] = f"gap of {gap} rows > max_gap {max_gap}"
        else:
            leads[col] = lead
    if not leads:
        reasons = _names(f"{c} ({r})" for c, r in dropped.items())
        raise InvalidPricesError(f"every column was dropped by the gap policy: {reasons}")
    kept = values[list(leads)]
    trimmed = max(leads.values())
    if trimmed >= n_rows:
        raise InvalidPricesError(f"no row left: column(s) {_names(leads)} hold no price at all")
    # fill before trimming: a gap right after the trimmed rows is filled from inside them
    clean = (kept.ffill(limit=max_gap) if max_gap > 0 else kept).iloc[trimmed:]
    before = kept.iloc[trimmed:].isna().sum()
    filled = {str(c): int(before[c]) for c in kept.columns if before[c] > 0}

    arr = clean.to_numpy()
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = [
            f"{clean.columns[c]} on {clean.index[r].date()} ({arr[r, c]})"
            for r, c in zip(rows, cols, strict=True)
        ]
        raise InvalidPricesError(
            f"non-positive or non-finite prices: {_names(where)}; fix or drop these columns"
        )

    report = ValidationReport(
        n_rows_in=n_rows,
        n_rows_out=clean.shape[0],
        columns_in=tuple(str(c) for c in values.columns),
        columns_out=tuple(str(c) for c in clean.columns),
        filled=filled,
        dropped=dropped,
        trimmed_rows=trimmed,
        max_gap=max_gap,
        max_missing=max_missing,
    )
    clean = clean.copy()
    clean.attrs = {**attrs, "validation": report.to_dict()}
    return clean, report
