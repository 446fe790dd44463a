"""Compact, exact storage of the bundled datasets as zstd-compressed parquet files.

A bundled file holds one table whose columns are the assets (plus an optional ``date``
column) and a JSON header under the schema-metadata key ``portfolio_lab``:

``kind``
    ``"prices"`` or ``"relatives"``.
``encoding``
    ``"float64"`` (values stored as they are), ``"decimal"`` (values with at most
    ``decimals`` decimal places stored as the integers ``round(x * 10**decimals)``) or
    ``"decimal_delta"`` (the same integers, stored as first differences down each column).
``decimals``
    Number of decimal places (``decimal`` encodings only).

Decoding an integer ``k`` as ``k / 10**decimals`` gives the double nearest to the decimal
number, i.e. the value a CSV reader returns for the original text, so both integer
encodings are exact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portfolio_lab.exceptions import DataError

__all__ = ["decimals_needed", "encode_frame", "decode_table", "read_bundled", "write_bundled"]

_META_KEY = b"portfolio_lab"
_ENCODINGS = ("float64", "decimal", "decimal_delta")


def decimals_needed(
    values: np.ndarray, *, max_decimals: int = 10, atol: float = 1e-12
) -> int | None:
    """Return the fewest decimal places that represent every value, or None.

    Parameters
    ----------
    values : numpy.ndarray, shape (T, n)
        Finite values.
    max_decimals : int
        Largest number of decimal places tried.
    atol : float
        A value counts as having ``d`` decimals when it lies within ``atol`` of its
        rounding to ``d`` places (absorbs the float error of a division).

    Returns
    -------
    int or None
        The smallest ``d`` in ``0..max_decimals`` that fits every value, else None.
    """
    for d in range(max_decimals + 1):
        if np.max(np.abs(values - np.round(values, d))) <= atol:
            return d
    return None


def encode_frame(
    frame: pd.DataFrame, *, kind: str, encoding: str, decimals: int | None = None
) -> pd.DataFrame:
    """Turn a float frame into the stored table (integers for the decimal encodings).

    Parameters
    ----------
    frame : pandas.DataFrame, shape (T, n)
        Float values; the index is stored as a ``date`` column when it is a DatetimeIndex.
    kind : {"prices", "relatives"}
        What the values are.
    encoding : {"float64", "decimal", "decimal_delta"}
        Storage encoding (see the module docstring).
    decimals : int, optional
        Decimal places, required by the decimal encodings.

    Returns
    -------
    pandas.DataFrame
        The table to write, with the header in ``attrs["portfolio_lab"]``.
    """
    if encoding not in _ENCODINGS:
        raise DataError(f"unknown encoding {encoding!r}; use one of {_ENCODINGS}")
    values = frame.to_numpy(dtype=np.float64)
    if encoding == "float64":
        stored = values
    else:
        if decimals is None:
            raise DataError(f"encoding {encoding!r} needs decimals")
        ints = np.round(values * 10.0**decimals).astype(np.int64)
        err = np.abs(ints / 10.0**decimals - values)
        if not (err <= 1e-12 * np.maximum(1.0, np.abs(values))).all():
            raise DataError(f"values do not round-trip through {decimals} decimals")
        if encoding == "decimal_delta":
            ints = np.diff(ints, axis=0, prepend=np.zeros((1, ints.shape[1]), np.int64))
        stored = ints.astype(np.int32) if np.abs(ints).max() < 2**31 else ints
    table = pd.DataFrame(stored, columns=[str(c) for c in frame.columns])
    if isinstance(frame.index, pd.DatetimeIndex):
        table.insert(0, "date", frame.index.to_numpy())
    table.attrs["portfolio_lab"] = {"kind": kind, "encoding": encoding, "decimals": decimals}
    return table


def decode_table(table: pd.DataFrame, header: dict[str, Any]) -> pd.DataFrame:
    """Invert :func:`encode_frame`.

    Parameters
    ----------
    table : pandas.DataFrame, shape (T, n) or (T, n + 1)
        Stored table (with an optional ``date`` column).
    header : dict
        The JSON header of the file.

    Returns
    -------
    pandas.DataFrame, shape (T, n)
        Float64 values, indexed by ``date`` when the table has that column.
    """
    index = None
    if "date" in table.columns:
        index = pd.DatetimeIndex(table.pop("date"), name="date")
    encoding = header["encoding"]
    raw = table.to_numpy()
    if encoding == "float64":
        values = raw.astype(np.float64)
    elif encoding in ("decimal", "decimal_delta"):
        ints = raw.astype(np.int64)
        if encoding == "decimal_delta":
            ints = np.cumsum(ints, axis=0)
        values = ints / 10.0 ** int(header["decimals"])
    else:
        raise DataError(f"bundled file has unknown encoding {encoding!r}")
    return pd.DataFrame(values, index=index, columns=list(table.columns))


def write_bundled(target: str | os.PathLike[str], table: pd.DataFrame) -> Path:
    """Atomically write an encoded table with its header (zstd level 19).

    Parameters
    ----------
    target : path-like
        Destination ``.parquet`` file.
    table : pandas.DataFrame
        Output of :func:`encode_frame`.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from portfolio_lab._io import atomic_path

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {_META_KEY: json.dumps(table.attrs["portfolio_lab"]).encode()}
    arrow = arrow.replace_schema_metadata(meta)
    with atomic_path(target) as tmp:
        pq.write_table(arrow, tmp, compression="zstd", compression_level=19)
    return Path(target)


def read_bundled(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read and decode a bundled file.

    Parameters
    ----------
    path : path-like
        A file written by :func:`write_bundled`.

    Returns
    -------
    frame : pandas.DataFrame, shape (T, n)
        Decoded float64 values.
    header : dict
        The JSON header.
    """
    import pyarrow.parquet as pq

    arrow = pq.read_table(path)
    meta = arrow.schema.metadata or {}
    if _META_KEY not in meta:
        raise DataError(f"{path} is not a portfolio-lab bundled file (no header)")
    header = json.loads(meta[_META_KEY])
    return decode_table(arrow.to_pandas(), header), header
