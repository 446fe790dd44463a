"""The record of one backtest run: wealth, weights, turnover, costs and metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import read_json, write_json
from ..exceptions import InputError

__all__ = ["BacktestResult"]


def _series_to_json(s: pd.Series) -> dict[str, list[Any]]:
    return {"index": [str(i) for i in s.index], "values": s.to_numpy(dtype=float).tolist()}


def _series_from_json(d: dict[str, list[Any]], name: str) -> pd.Series:
    idx = pd.Index(d["index"])
    try:
        idx = pd.DatetimeIndex(idx, name="date")
    except (ValueError, TypeError):
        pass
    return pd.Series(np.asarray(d["values"], dtype=float), index=idx, name=name)


@dataclass(eq=False)
class BacktestResult:
    """Outcome of :func:`portfolio_lab.backtest.run`.

    Attributes
    ----------
    name : str
        Policy name.
    wealth : pandas.Series, shape (T,)
        Wealth after each date's price relative, starting from 1 before the first date.
    weights : pandas.DataFrame, shape (T, n)
        Row for a date: weights chosen before that date's relative was seen.
    returns : pandas.Series, shape (T,)
        Net simple returns ``W_t / W_{t-1} - 1`` (costs included).
    turnover : pandas.Series, shape (T,)
        One-way turnover ``½ Σ |w_t - w'_t|`` of each rebalancing (implicit cash included,
        so buying everything from cash counts as 1).
    remainder : pandas.Series, shape (T,)
        Transaction remainder factor μ_t of each rebalancing.
    buy_fee, sell_fee : float
        Proportional rates used.
    cost_model : str
        ``"exact"`` (fixed point) or ``"linear"`` (first-order form).
    hindsight : bool
        True when the policy saw the whole sample (BCRP, Best Stock).
    benchmark_returns : pandas.Series or None
        Simple returns of the benchmark on the same dates.
    periods_per_year : int
        Used to annualize the metrics.
    params : dict
        Extra run description (engine path, cash, initial position).
    """

    name: str
    wealth: pd.Series
    weights: pd.DataFrame
    returns: pd.Series
    turnover: pd.Series
    remainder: pd.Series
    buy_fee: float = 0.0
    sell_fee: float = 0.0
    cost_model: str = "exact"
    hindsight: bool = False
    benchmark_returns: pd.Series | None = None
    periods_per_year: int = 252
    params: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Summary statistics (see :func:`portfolio_lab.backtest.metrics.summary`)."""
        from .metrics import summary

        return summary(
            self.returns,
            benchmark=self.benchmark_returns,
            turnover=self.turnover,
            periods_per_year=self.periods_per_year,
        )

    @property
    def final_wealth(self) -> float:
        """Cumulative wealth at the end of the run (fAPV)."""
        return float(self.wealth.iloc[-1]) if len(self.wealth) else 1.0

    def since(self, start: Any) -> BacktestResult:
        """Return the run restricted to dates ``>= start``, wealth rebased to 1 before it.

        Parameters
        ----------
        start : date-like or int
            First date kept (or its integer position when the index is not dated).

        Returns
        -------
        BacktestResult
        """
        if isinstance(start, (int, np.integer)) and not isinstance(
            self.wealth.index, pd.DatetimeIndex
        ):
            pos = int(start)
        else:
            pos = int(self.wealth.index.searchsorted(pd.Timestamp(start)))
        if not 0 <= pos < len(self.wealth):
            raise InputError(f"start {start!r} leaves no period in the run")
        keep = slice(pos, None)
        base = float(self.wealth.iloc[pos - 1]) if pos > 0 else 1.0
        bench = None if self.benchmark_returns is None else self.benchmark_returns.iloc[keep]
        return replace(
            self,
            wealth=self.wealth.iloc[keep] / base,
            weights=self.weights.iloc[keep],
            returns=self.returns.iloc[keep],
            turnover=self.turnover.iloc[keep],
            remainder=self.remainder.iloc[keep],
            benchmark_returns=bench,
            params={**self.params, "since": str(self.wealth.index[pos])},
        )

    def to_dict(self, *, include_weights: bool = False) -> dict[str, Any]:
        """Return a JSON-ready record of the run.

        Parameters
        ----------
        include_weights : bool
            Also store the (T, n) weights (large for long runs).
        """
        record: dict[str, Any] = {
            "name": self.name,
            "hindsight": self.hindsight,
            "buy_fee": self.buy_fee,
            "sell_fee": self.sell_fee,
            "cost_model": self.cost_model,
            "periods_per_year": self.periods_per_year,
            "params": self.params,
            "metrics": self.metrics,
            "wealth": _series_to_json(self.wealth),
            "returns": _series_to_json(self.returns),
            "turnover": _series_to_json(self.turnover),
            "remainder": _series_to_json(self.remainder),
            "benchmark_returns": None
            if self.benchmark_returns is None
            else _series_to_json(self.benchmark_returns),
        }
        if include_weights:
            record["weights"] = {
                "columns": [str(c) for c in self.weights.columns],
                "values": self.weights.to_numpy(dtype=float).tolist(),
            }
        return record

    def to_json(self, path: str | os.PathLike[str], *, include_weights: bool = False) -> Path:
        """Atomically write :meth:`to_dict` to ``path`` and return the path."""
        return write_json(path, self.to_dict(include_weights=include_weights))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> BacktestResult:
        """Read a record written by :meth:`to_json` (weights empty unless stored)."""
        d = read_json(path)
        wealth = _series_from_json(d["wealth"], "wealth")
        if "weights" in d:
            weights = pd.DataFrame(
                np.asarray(d["weights"]["values"], dtype=float),
                index=wealth.index,
                columns=d["weights"]["columns"],
            )
        else:
            weights = pd.DataFrame(index=wealth.index)
        bench = d.get("benchmark_returns")
        return cls(
            name=d["name"],
            wealth=wealth,
            weights=weights,
            returns=_series_from_json(d["returns"], "returns"),
            turnover=_series_from_json(d["turnover"], "turnover"),
            remainder=_series_from_json(d["remainder"], "remainder"),
            buy_fee=float(d["buy_fee"]),
            sell_fee=float(d["sell_fee"]),
            cost_model=d["cost_model"],
            hindsight=bool(d["hindsight"]),
            benchmark_returns=None if bench is None else _series_from_json(bench, "benchmark"),
            periods_per_year=int(d["periods_per_year"]),
            params=d.get("params", {}),
        )

    def __repr__(self) -> str:
        tag = " (hindsight)" if self.hindsight else ""
        return (
            f"BacktestResult({self.name!r}{tag}, periods={len(self.wealth)}, "
            f"final_wealth={self.final_wealth:.6g})"
        )
