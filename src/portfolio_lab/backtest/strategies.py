"""Fixed-weight strategies: constant-rebalanced and buy-and-hold portfolios.

Both need no estimate from the history, so they offer the engine a vectorized path
(:meth:`~portfolio_lab.backtest.Policy.weights_vectorized`) as well as the per-period
:meth:`step`; the two paths give the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import InputError, NonFiniteError, ShapeError
from .policy import Policy

__all__ = ["ConstantRebalanced", "BuyAndHold", "ScheduledWeights"]


def _resolve(weights: Any, n: int, allow_short: bool, label: str) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ShapeError(f"{label}: weights have shape {w.shape}, the run has {n} assets")
    if not np.isfinite(w).all():
        raise NonFiniteError(f"{label}: weights must be finite")
    if abs(w.sum() - 1.0) > 1e-9:
        raise InputError(f"{label}: weights must sum to one, got {w.sum():.10g}")
    if not allow_short and (w < 0).any():
        raise InputError(f"{label}: negative weights need allow_short=True")
    return w


class ConstantRebalanced(Policy):
    """Rebalance to the same weights every period (CRP; 1/N when ``weights`` is None).

    Parameters
    ----------
    weights : array_like, shape (n,), optional
        Target weights (summing to one); ``None`` means uniform.
    allow_short : bool
        Accept negative weights.
    name : str, optional
        Label of the strategy.
    """

    def __init__(
        self, weights: Any = None, *, allow_short: bool = False, name: str | None = None
    ) -> None:
        self.weights = weights
        self.allow_short = allow_short
        self.name = name or ("1/N" if weights is None else "CRP")

    def reset(self, n_assets: int) -> None:
        """Resolve the target weights for ``n_assets`` assets."""
        super().reset(n_assets)
        self.weights_ = _resolve(self.weights, n_assets, self.allow_short, self.name)

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Return the constant target, whatever the history."""
        return self.weights_.copy()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return the target repeated for every period, shape (T, n)."""
        return np.tile(self.weights_, (relatives.shape[0], 1))


class BuyAndHold(Policy):
    """Buy ``weights`` once and never trade again (BAH; the market portfolio when uniform).

    Parameters
    ----------
    weights : array_like, shape (n,), optional
        Initial weights (summing to one); ``None`` means uniform.
    name : str, optional
        Label of the strategy.
    """

    def __init__(self, weights: Any = None, *, name: str | None = None) -> None:
        self.weights = weights
        self.name = name or ("BAH(1/N)" if weights is None else "BAH")

    def reset(self, n_assets: int) -> None:
        """Resolve the initial weights for ``n_assets`` assets."""
        super().reset(n_assets)
        self.weights_ = _resolve(self.weights, n_assets, False, self.name)

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Buy the initial weights at ``t = 0``, then keep what the market made of them."""
        if history.shape[0] == 0:
            return self.weights_.copy()
        return np.asarray(held, dtype=float).copy()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Drifted weights ``w_0 ⊙ Π_{s<t} x_s`` normalized, shape (T, n)."""
        T = relatives.shape[0]
        growth = np.ones_like(relatives)
        if T > 1:
            # log-space cumulative products stay finite over tens of thousands of periods
            growth[1:] = np.exp(np.cumsum(np.log(relatives[:-1]), axis=0))
        value = self.weights_ * growth
        return value / value.sum(axis=1, keepdims=True)


class ScheduledWeights(Policy):
    """Replay a weight schedule chosen earlier by a causal policy (e.g. at another fee).

    A walk-forward policy's weights do not depend on the fee charged (drift does not
    depend on costs), so a schedule recorded once (``BacktestResult.weights``) can be
    re-costed at other rates without retraining. The schedule must have been produced by
    a policy that saw only the past; this class adds no information of its own.

    Parameters
    ----------
    weights : pandas.DataFrame or array, shape (T, n)
        Row ``t``: the weights of period ``t``.
    name : str
    """

    def __init__(self, weights: Any, *, name: str = "scheduled") -> None:
        self.schedule = np.asarray(weights, dtype=float)
        if self.schedule.ndim != 2:
            raise ShapeError(f"weights must be (T, n), got shape {self.schedule.shape}")
        self.name = name
        self.allow_short = bool((self.schedule < 0).any())

    def reset(self, n_assets: int) -> None:
        """Check the schedule's width against the run."""
        super().reset(n_assets)
        if self.schedule.shape[1] != n_assets:
            raise ShapeError(
                f"{self.name}: the schedule has {self.schedule.shape[1]} assets, the run {n_assets}"
            )

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Row ``t`` of the schedule."""
        t = history.shape[0]
        if t >= len(self.schedule):
            raise ShapeError(f"{self.name}: the schedule has {len(self.schedule)} rows, t={t}")
        return self.schedule[t].copy()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return the whole schedule (its length must equal the run's)."""
        if len(self.schedule) != len(relatives):
            raise ShapeError(
                f"{self.name}: the schedule has {len(self.schedule)} rows, the run {len(relatives)}"
            )
        return self.schedule.copy()
