"""Bookkeeping for review notebooks: record checks, show a verdict table, fail loudly.

The checks themselves are computed *in the review notebook* by independent means
(a general-purpose convex solver, KKT residuals, direct loops); this module only
collects their outcomes so every review ends the same way.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .exceptions import InputError, PortfolioLabError
from .review_olps import OLPS_DEFAULTS, olps_weights_by_loop

__all__ = [
    "CHECK_KINDS",
    "ReviewFailed",
    "Review",
    "remainder_by_root",
    "reread",
    "notebook_output_text",
    "absent",
    "wealth_by_loop",
    "baseline_wealth_by_loop",
]

#: The comparisons :meth:`Review.check` accepts: ``kind`` -> ``passed(value, tol)``.
CHECK_KINDS = {"<=": operator.le, ">=": operator.ge}


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
        """Record a numeric check: passes when ``value <= tol`` (or ``value >= tol``).

        Parameters
        ----------
        name : str
            What is checked.
        value : float
            The measured value (NaN never passes).
        tol : float
            The bound.
        kind : {"<=", ">="}, default "<="
            Which side of ``tol`` passes.

        Raises
        ------
        InputError
            ``kind`` is neither ``"<="`` nor ``">="`` (a typo must not reverse a check).
        """
        if kind not in CHECK_KINDS:
            raise InputError(
                f"review check {name!r}: kind must be one of {list(CHECK_KINDS)}, not {kind!r}"
            )
        value = float(value)
        passed = CHECK_KINDS[kind](value, tol)
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


def remainder_by_root(held: np.ndarray, target: np.ndarray, fee: float, *, cash: bool) -> float:
    """Transaction remainder μ as a root of the cash account (Brent's method), for reviews.

    Independent of the backtester's fixed point: μ solves ``cash_before + (1 − c) · sold
    − bought / (1 − c) = μ · cash_after``, with ``sold = Σ (w'_i − μ w_i)⁺`` and
    ``bought = Σ (μ w_i − w'_i)⁺`` over the risky assets.

    Parameters
    ----------
    held, target : numpy.ndarray, shape (n,)
        Weights before (drifted) and after the rebalancing; cash first when ``cash``.
    fee : float
        Proportional cost on each side.
    cash : bool
        Whether entry 0 is cash.

    Returns
    -------
    float
    """
    from scipy.optimize import brentq

    h, w = np.asarray(held, dtype=float), np.asarray(target, dtype=float)
    c0_before, c0_after = (h[0], w[0]) if cash else (1.0 - h.sum(), 1.0 - w.sum())
    hr, wr = (h[1:], w[1:]) if cash else (h, w)

    def surplus(mu: float) -> float:
        sold = np.clip(hr - mu * wr, 0, None).sum()
        bought = np.clip(mu * wr - hr, 0, None).sum()
        return float(c0_before + (1 - fee) * sold - bought / (1 - fee) - mu * c0_after)

    if fee == 0.0 or abs(surplus(1.0)) < 1e-15:
        return 1.0
    return float(brentq(surplus, 1e-9, 1.0, xtol=1e-15, rtol=1e-15, maxiter=200))


def wealth_by_loop(
    weights: np.ndarray, relatives: np.ndarray, held0: np.ndarray, fee: float, *, cash: bool
) -> np.ndarray:
    """Net per-period returns of a weight schedule by a plain loop, for reviews.

    Parameters
    ----------
    weights, relatives : numpy.ndarray, shape (T, n)
        Target weights and price relatives (cash column of ones included when ``cash``).
    held0 : numpy.ndarray, shape (n,)
        Weights held before the first rebalancing.
    fee : float
    cash : bool

    Returns
    -------
    numpy.ndarray, shape (T,)
        ``μ_t · w_tᵀ x_t − 1``.
    """
    held = np.asarray(held0, dtype=float)
    out = np.empty(len(weights))
    for t in range(len(weights)):
        mu = remainder_by_root(held, weights[t], fee, cash=cash)
        g = float(weights[t] @ relatives[t])
        out[t] = mu * g - 1.0
        held = weights[t] * relatives[t] / g
    return out


def baseline_wealth_by_loop(name: str, relatives: np.ndarray, fee: float) -> float:
    """Compute the final wealth of a simple baseline by a direct loop, for reviews.

    Written apart from :mod:`portfolio_lab.backtest` (its strategies and engine): the
    weights by plain rules, the costs by :func:`wealth_by_loop` (the brute-force root of the
    cash account), starting all in cash as the backtester does.

    Parameters
    ----------
    name : {"ubah", "ucrp", "1/N", "best_stock", "eg", "ons", "anticor", "pamr", "olmar"}
        Buy 1/N and hold; rebalance to 1/N daily; rebalance to 1/N every 21 periods from
        the first; the asset with the best final relative product, bought and held; or an
        OLPS strategy with the survey's parameters, by the plain loops of
        :mod:`portfolio_lab.review_olps`.
    relatives : numpy.ndarray, shape (T, n)
        Price relatives of the assets (no cash column).
    fee : float
        Proportional cost per side.

    Returns
    -------
    float
    """
    x = np.asarray(relatives, dtype=float)
    T, n = x.shape
    xc = np.hstack([np.ones((T, 1)), x])
    uniform = np.concatenate([[0.0], np.full(n, 1.0 / n)])
    w = np.empty((T, n + 1))
    if name == "best_stock":
        w[:] = 0.0
        w[:, 1 + int(np.argmax(np.prod(x, axis=0)))] = 1.0
    elif name in ("ubah", "ucrp", "1/N"):
        for t in range(T):
            if t == 0 or name == "ucrp" or (name == "1/N" and t % 21 == 0):
                w[t] = uniform
            else:
                g = w[t - 1] * xc[t - 1]
                w[t] = g / g.sum()
    elif name.lower() in OLPS_DEFAULTS:
        w[:, 0] = 0.0
        w[:, 1:] = olps_weights_by_loop(name, x)
    else:
        raise ValueError(
            f"unknown baseline {name!r}; use ubah, ucrp, 1/N, best_stock or {sorted(OLPS_DEFAULTS)}"
        )
    start = np.zeros(n + 1)
    start[0] = 1.0
    return float(np.prod(1.0 + wealth_by_loop(w, xc, start, fee, cash=True)))


def reread(entry: dict, roots: dict[str, str]) -> object:
    """Read one value of the report's ledger again, from its file, for ``report_review``.

    Written apart from :mod:`portfolio_lab.report` (plain ``json`` and boolean masks), so a
    slip in the report's readers shows up as a difference.

    Parameters
    ----------
    entry : dict
        One ledger entry (``root``, ``file``, ``how``; see :mod:`portfolio_lab.report`).
    roots : dict of str to path
        Where each named root is.

    Returns
    -------
    object
        The value at the entry's address.
    """
    import json
    from pathlib import Path

    how = entry["how"]
    if how["kind"] == "constant":
        import importlib

        node = vars(importlib.import_module(how["module"]))[how["name"]]
        for step in how["path"]:
            node = node[step]
        return node
    path = Path(roots[entry["root"]]) / entry["file"]
    if how["kind"] in ("json", "count"):
        with open(path, encoding="utf-8") as handle:
            node = json.load(handle)
        for step in how["path"]:
            if isinstance(step, dict):
                (node,) = [x for x in node if {k: x.get(k) for k in step} == step]
            else:
                node = node[step]
        return node if how["kind"] == "json" else len([x for x in node if x == how["equals"]])
    frame = pd.read_parquet(path)
    keep = np.ones(len(frame), dtype=bool)
    for key, value in how["where"].items():
        column = np.asarray(frame.index if key == "index" else frame[key])
        keep &= column == value
    values = frame.loc[keep, how["column"]].to_numpy()
    if how["kind"] == "cell":
        (value,) = values
        return value.item() if hasattr(value, "item") else value
    agg = how["agg"]
    if agg == "std":
        return float(np.std(values.astype(float), ddof=1))
    if agg == "count":
        return int(values.size)
    return float({"mean": np.mean, "min": np.min, "max": np.max}[agg](values.astype(float)))


def notebook_output_text(path: str | os.PathLike[str]) -> str:
    """Return every text output of an executed notebook (plain, HTML, streams), joined.

    Parameters
    ----------
    path : path
        The executed ``.ipynb``.

    Returns
    -------
    str
    """
    import json

    with open(path, encoding="utf-8") as handle:
        cells = json.load(handle)["cells"]
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if "text" in out:
                parts.append("".join(out["text"]))
            for kind in ("text/plain", "text/html", "text/markdown"):
                if kind in out.get("data", {}):
                    parts.append("".join(out["data"][kind]))
    return "\n".join(parts)


def absent(paths: list[str]) -> list[str]:
    """Return the paths of ``paths`` that are not files (for checking reported gaps)."""
    from pathlib import Path

    return [p for p in paths if not Path(p).is_file()]
