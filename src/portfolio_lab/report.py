"""The executive report's ledger: every number it shows, read from an artifact, with its address.

The report notebook never types a number: it asks a :class:`Ledger` for each value, naming the
artifact (a file of the run, ``results/<run>/...``, or of ``results/benchmarks/``) and where in
it the value sits. The ledger reads the value, keeps the address, and shows the section's
entries as a table. ``report_review`` re-reads every address by its own means
(:func:`portfolio_lab.review.reread`) and checks that the values are equal and that each
shown value appears in the executed report.

Addresses (``how``)
-------------------
- ``{"kind": "json", "path": [...]}``: a JSON value; a path step is a key, a list index, or a
  mapping that selects the one list item whose fields equal it.
- ``{"kind": "cell", "where": {...}, "column": C}``: the one row of a parquet frame whose
  columns (or index, under the name ``"index"``) equal ``where``, column ``C``.
- ``{"kind": "agg", "where": {...}, "column": C, "agg": "mean" | "std" | "min" | "max" |
  "count"}``: an aggregate of a column over the matching rows (``std`` with ``ddof=1``).
- ``{"kind": "count", "path": [...], "equals": X}``: how many items of a JSON list equal X.
- ``{"kind": "constant", "module": M, "name": N, "path": [...]}``: a reference value the
  package ships (e.g. the OLPS toolbox's logged wealth); ``root`` is ``"package"``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import DataError, InputError

__all__ = ["Ledger", "MissingArtifact", "format_value", "readable", "AGGREGATES", "FORMATS"]

AGGREGATES = ("mean", "std", "min", "max", "count")
#: how a shown value is written: ``4g`` (the ledger's exact form), ``3`` (three significant
#: digits for reading), ``pct`` (a fraction as a percentage), ``x`` (a ratio, "107×"),
#: ``s`` and ``ms`` (seconds), ``text`` (as it is)
FORMATS = ("4g", "3", "pct", "x", "s", "ms", "text")


class MissingArtifact(DataError):
    """An artifact the report wanted is not in this run (the report says so and goes on)."""


def readable(value: float) -> str:
    """Write a number with three significant digits for reading, without an exponent.

    ``479.3 -> "479"``, ``12345 -> "12,300"``, ``0.01234 -> "0.0123"``; magnitudes below 1e-3
    keep an exponent (``"1.30e-15"``).
    """
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.2e}"
    digits = 2 - int(math.floor(math.log10(abs(value))))
    rounded = round(value, digits)
    if abs(rounded) >= 10 ** (3 - digits):  # rounding carried into a new digit (999.6 -> 1000)
        digits -= 1
        rounded = round(value, digits)
    return f"{rounded:,.{max(digits, 0)}f}"


def format_value(value: Any, fmt: str = "4g") -> str:
    """Return the text the report shows for ``value`` in the format ``fmt`` (see FORMATS).

    ``4g`` (the default) writes floats with four significant digits; the reading formats
    write three (:func:`readable`) with a unit: ``pct`` a percentage, ``x`` a ratio with a
    times sign, ``s`` / ``ms`` seconds / milliseconds of a value in seconds.
    """
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {FORMATS}, not {fmt!r}")
    if isinstance(value, bool) or value is None or fmt == "text":
        return str(value)
    if isinstance(value, int) and fmt in ("4g", "3"):
        return str(value)
    if isinstance(value, (int, float)):
        value = float(value)
        if fmt == "4g":
            return "nan" if math.isnan(value) else f"{value:.4g}"
        if fmt == "3":
            return readable(value)
        if fmt == "pct":
            return f"{readable(100.0 * value)} %"
        if fmt == "x":
            return f"{readable(value)}×"
        if fmt == "s":
            return f"{readable(value)} s"
        return f"{readable(1000.0 * value)} ms"
    return str(value)


def _json_step(node: Any, step: Any, where: str) -> Any:
    if isinstance(step, dict):
        if not isinstance(node, list):
            raise InputError(f"{where}: a selector {step} needs a list")
        hits = [item for item in node if all(item.get(k) == v for k, v in step.items())]
        if len(hits) != 1:
            raise InputError(f"{where}: selector {step} matches {len(hits)} items, not one")
        return hits[0]
    try:
        return node[step]
    except (KeyError, IndexError, TypeError) as err:
        raise InputError(f"{where}: no entry {step!r}") from err


def _rows(frame: pd.DataFrame, where: dict[str, Any], file: str) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for key, value in where.items():
        column = frame.index.to_series() if key == "index" else frame.get(key)
        if column is None:
            raise InputError(f"{file}: no column {key!r}")
        mask &= column == value
    return frame[mask.to_numpy()]


@dataclass
class Ledger:
    """Collects every value the report shows, with the artifact address it was read from.

    Parameters
    ----------
    roots : dict of str to path
        Named roots of the addresses, e.g. ``{"run": "results/ci", "benchmarks":
        "results/benchmarks"}``.
    """

    roots: dict[str, str]
    entries: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def path(self, root: str, file: str) -> Path:
        """Return the path of ``file`` under the named root."""
        if root not in self.roots:
            raise InputError(f"unknown ledger root {root!r}; known {sorted(self.roots)}")
        return Path(self.roots[root]) / file

    def has(self, root: str, file: str) -> bool:
        """Whether the artifact exists; records it as missing when it does not."""
        ok = self.path(root, file).is_file()
        if not ok:
            self.missing.append(f"{root}:{file}")
        return ok

    def read_json(self, root: str, file: str) -> Any:
        """Read a JSON artifact to choose what to show (shown values go through :meth:`json`)."""
        path = self.path(root, file)
        if not path.is_file():
            raise MissingArtifact(f"{path} does not exist")
        return json.loads(path.read_text(encoding="utf-8"))

    def read_frame(self, root: str, file: str) -> pd.DataFrame:
        """Read a parquet artifact (for choosing what to show)."""
        path = self.path(root, file)
        if not path.is_file():
            raise MissingArtifact(f"{path} does not exist")
        return pd.read_parquet(path)

    def _record(
        self, section: str, label: str, root: str, file: str, how: dict, value: Any, fmt: str
    ):
        if hasattr(value, "item"):
            value = value.item()
        self.entries.append(
            {
                "section": section,
                "label": label,
                "value": value,
                "fmt": fmt,
                "shown": format_value(value, fmt),
                "root": root,
                "file": file,
                "how": how,
            }
        )
        return value

    def json(
        self, section: str, label: str, root: str, file: str, path: list[Any], *, fmt: str = "4g"
    ) -> Any:
        """Show a JSON value; returns it."""
        node = self.read_json(root, file)
        for step in path:
            node = _json_step(node, step, f"{root}:{file}")
        how = {"kind": "json", "path": list(path)}
        return self._record(section, label, root, file, how, node, fmt)

    def cell(
        self,
        section: str,
        label: str,
        root: str,
        file: str,
        where: dict[str, Any],
        column: str,
        *,
        fmt: str = "4g",
    ) -> Any:
        """Show one cell of a parquet frame; returns it."""
        rows = _rows(self.read_frame(root, file), where, file)
        if len(rows) != 1 or column not in rows:
            raise InputError(f"{root}:{file}: {where} / {column!r} is not one cell")
        how = {"kind": "cell", "where": dict(where), "column": column}
        return self._record(section, label, root, file, how, rows[column].iloc[0], fmt)

    def agg(
        self,
        section: str,
        label: str,
        root: str,
        file: str,
        where: dict[str, Any],
        column: str,
        agg: str,
        *,
        fmt: str = "4g",
    ) -> Any:
        """Show an aggregate of a column over matching rows; returns it."""
        if agg not in AGGREGATES:
            raise InputError(f"aggregate must be one of {AGGREGATES}, not {agg!r}")
        rows = _rows(self.read_frame(root, file), where, file)
        if rows.empty:
            raise InputError(f"{root}:{file}: no rows match {where}")
        values = rows[column]
        value = values.std(ddof=1) if agg == "std" else getattr(values, agg)()
        how = {"kind": "agg", "where": dict(where), "column": column, "agg": agg}
        return self._record(section, label, root, file, how, value, fmt)

    def count(
        self, section: str, label: str, root: str, file: str, path: list[Any], equals: Any
    ) -> int:
        """Show how many items of a JSON list equal ``equals``; returns the count."""
        node = self.read_json(root, file)
        for step in path:
            node = _json_step(node, step, f"{root}:{file}")
        if not isinstance(node, list):
            raise InputError(f"{root}:{file}: {path} is not a list")
        how = {"kind": "count", "path": list(path), "equals": equals}
        return self._record(section, label, root, file, how, sum(x == equals for x in node), "4g")

    def constant(self, section: str, label: str, module: str, name: str, path: list[Any]) -> Any:
        """Show a reference value the package ships (``module.name`` then ``path``)."""
        import importlib

        node = getattr(importlib.import_module(module), name)
        for step in path:
            node = _json_step(node, step, f"{module}.{name}")
        how = {"kind": "constant", "module": module, "name": name, "path": list(path)}
        return self._record(section, label, "package", f"{module}.{name}", how, node, "4g")

    def shown(self, section: str, label: str) -> str:
        """Return the text shown for the entry ``label`` of ``section`` (to write it in prose)."""
        hits = [e for e in self.entries if e["section"] == section and e["label"] == label]
        if not hits:
            raise InputError(f"no ledger entry {label!r} in section {section!r}")
        return hits[-1]["shown"]

    def table(self, section: str) -> pd.DataFrame:
        """Return the entries of ``section`` as the table the report shows."""
        rows = [e for e in self.entries if e["section"] == section]
        return pd.DataFrame(
            {
                "value": [e["shown"] for e in rows],
                "artifact": [f"{e['root']}/{e['file']}" for e in rows],
            },
            index=pd.Index([e["label"] for e in rows], name=section),
        )

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the entries and the missing artifacts to ``folder/shown.json``."""
        from ._io import write_json

        return write_json(
            Path(folder) / "shown.json",
            {"roots": self.roots, "entries": self.entries, "missing": self.missing},
        )
