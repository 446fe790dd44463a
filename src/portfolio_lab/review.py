"""Bookkeeping for review notebooks: record checks, show a verdict table, fail loudly.

The checks themselves are computed *in the review notebook* by independent means
(a general-purpose convex solver, KKT residuals, direct loops); this module only
collects their outcomes so every review ends the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .exceptions import PortfolioLabError

__all__ = ["ReviewFailed", "Review"]


class ReviewFailed(PortfolioLabError, AssertionError):
    """At least one review check failed."""


@dataclass
class Review:
    """An ordered list of named checks with their measured value and tolerance.

    Examples
    --------
    >>> r = Review("03_lagrange")
    >>> r.check("weights sum to one", abs(1.0 - 1.0), 1e-10)
    >>> r.verdict()["passed"].all()
    True
    """

    subject: str
    rows: list[dict[str, object]] = field(default_factory=list)

    def check(self, name: str, value: float, tol: float, *, kind: str = "<=") -> None:
        """Record a numeric check: passes when ``value <= tol`` (or ``>=`` with ``kind``)."""
        value = float(value)
        passed = value <= tol if kind == "<=" else value >= tol
        self.rows.append(
            {"check": name, "value": value, "tolerance": f"{kind} {tol:g}", "passed": bool(passed)}
        )

    def require(self, name: str, condition: bool, detail: str = "") -> None:
        """Record a boolean check (``detail`` says what was compared)."""
        self.rows.append(
            {"check": name, "value": detail, "tolerance": "true", "passed": bool(condition)}
        )

    def verdict(self) -> pd.DataFrame:
        """Return the verdict table (one row per check)."""
        return pd.DataFrame(self.rows, columns=["check", "value", "tolerance", "passed"])

    def raise_if_failed(self) -> pd.DataFrame:
        """Return the verdict table, or raise :class:`ReviewFailed` naming failed checks."""
        table = self.verdict()
        if table.empty:
            raise ReviewFailed(f"review of {self.subject} recorded no checks")
        failed = table.loc[~table["passed"], "check"].tolist()
        if failed:
            raise ReviewFailed(f"review of {self.subject}: failed checks: {failed}")
        return table
