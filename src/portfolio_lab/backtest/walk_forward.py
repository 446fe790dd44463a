"""Walk-forward policies: estimate on a trailing window, solve, rebalance on a schedule.

A :class:`WalkForwardSchedule` decides, for each period ``t`` (the policy then knows the
relatives ``0 .. t-1``), whether to hold, to rebalance back to the current target, or to
refit the target on a rolling (last ``window`` rows) or expanding (all rows) training set.
:class:`MarkowitzPolicy` plugs a covariance estimator and a Markowitz solver into it.

Until the first refit (``t < window``) a walk-forward policy buys the uniform portfolio at
``t = 0`` and holds it; compare strategies from ``t = window`` on
(:meth:`BacktestResult.since <portfolio_lab.backtest.BacktestResult.since>`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..estimators.covariance import COVARIANCE_ESTIMATORS
from ..exceptions import InputError, PortfolioLabError
from .policy import Policy

__all__ = ["WalkForwardSchedule", "MarkowitzPolicy", "COVARIANCES", "estimate_covariance"]

COVARIANCES = COVARIANCE_ESTIMATORS  # the estimators' one vocabulary
KINDS = ("gmv", "max_sharpe", "target_return", "equal_weight")


@dataclass(frozen=True)
class WalkForwardSchedule:
    """When to refit and rebalance, and on which rows.

    Parameters
    ----------
    window : int
        Rows of history needed before the first fit (and the rolling window length).
    expanding : bool
        Train on all rows ``0 .. t-1`` instead of the last ``window``.
    rebalance_every : int
        Trade back to the target every this many periods (from ``t = window``).
    refit_every : int, optional
        Re-estimate the target every this many periods; a multiple of
        ``rebalance_every`` (default: ``rebalance_every``).
    """

    window: int
    expanding: bool = False
    rebalance_every: int = 1
    refit_every: int | None = None

    def __post_init__(self) -> None:
        if int(self.window) < 2:
            raise InputError(f"window must be at least 2 periods, got {self.window}")
        if int(self.rebalance_every) < 1:
            raise InputError(f"rebalance_every must be at least 1, got {self.rebalance_every}")
        refit = self.refit
        if refit < 1 or refit % self.rebalance_every:
            raise InputError(
                f"refit_every ({refit}) must be a positive multiple of rebalance_every "
                f"({self.rebalance_every})"
            )

    @property
    def refit(self) -> int:
        """The refit interval actually used."""
        return int(self.rebalance_every if self.refit_every is None else self.refit_every)

    def action(self, t: int) -> str:
        """Return ``"start"``, ``"hold"``, ``"rebalance"`` or ``"refit"`` for period ``t``."""
        if t == 0:
            return "start"
        if t < self.window:
            return "hold"
        k = t - self.window
        if k % self.refit == 0:
            return "refit"
        if k % self.rebalance_every == 0:
            return "rebalance"
        return "hold"

    def train(self, t: int) -> slice:
        """Rows of the history used by a refit at period ``t``."""
        return slice(0 if self.expanding else max(0, t - self.window), t)

    def refit_periods(self, n_periods: int) -> np.ndarray:
        """Periods ``t < n_periods`` at which the target is refitted, shape (k,)."""
        return np.array([t for t in range(n_periods) if self.action(t) == "refit"], dtype=int)


def estimate_covariance(
    returns: np.ndarray, method: str | Callable[[np.ndarray], Any], **params: Any
) -> np.ndarray:
    """Covariance of a (T, n) window of simple returns, as a NumPy (n, n) array.

    The names are those of :data:`portfolio_lab.estimators.COVARIANCE_ESTIMATORS` (one
    vocabulary with chapter 07); see :func:`portfolio_lab.estimators.estimate_covariance`.

    Parameters
    ----------
    returns : numpy.ndarray, shape (T, n)
        Simple returns, oldest first.
    method : str or callable
        An estimator name or a callable.
    **params
        Keyword arguments passed to the estimator.

    Returns
    -------
    numpy.ndarray, shape (n, n)
    """
    from ..estimators.covariance import estimate_covariance as _estimate

    return np.atleast_2d(np.asarray(_estimate(returns, method, **params), dtype=float))


class MarkowitzPolicy(Policy):
    """Walk-forward Markowitz portfolio on a trailing window of simple returns.

    Parameters
    ----------
    kind : {"gmv", "max_sharpe", "target_return", "equal_weight"}
        Global minimum variance, tangency portfolio, minimum variance at a target
        return, or 1/N (no estimate; same schedule, for a like-for-like comparison).
    covariance : str or callable
        Estimator name (see :func:`estimate_covariance`) or callable.
    window : int
        Training rows (rolling) or rows before the first fit (expanding).
    expanding : bool
        Expanding instead of rolling window.
    rebalance_every : int
        Trade back to the target every this many periods.
    refit_every : int, optional
        Re-estimate every this many periods (multiple of ``rebalance_every``).
    long_only : bool
        Forbid short positions (the solvers then use the QP path).
    bounds : tuple, optional
        ``(lower, upper)`` weight bounds passed to the solver.
    risk_free : float
        Per-period risk-free return for ``max_sharpe``.
    target_return : float, optional
        Per-period target for ``target_return``; default: the mean of the assets'
        window means (always attainable).
    covariance_params : dict, optional
        Keyword arguments of the covariance estimator.
    name : str, optional
        Label; default ``"<kind>[<covariance>]"``.

    Attributes
    ----------
    target_ : numpy.ndarray, shape (n,)
        Current target weights.
    fit_log_ : list of dict
        One record per refit: ``t``, ``status`` ("optimal" or the failure), ``fallback``.
        A failed refit keeps the previous target.
    """

    def __init__(
        self,
        kind: str = "gmv",
        covariance: str | Callable[[np.ndarray], Any] = "sample",
        *,
        window: int = 252,
        expanding: bool = False,
        rebalance_every: int = 21,
        refit_every: int | None = None,
        long_only: bool = False,
        bounds: Any = None,
        risk_free: float = 0.0,
        target_return: float | None = None,
        covariance_params: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
        if isinstance(covariance, str) and covariance not in COVARIANCES:
            raise InputError(f"unknown covariance {covariance!r}; use one of {COVARIANCES}")
        self.kind = kind
        self.covariance = covariance
        self.window = window
        self.expanding = expanding
        self.rebalance_every = rebalance_every
        self.refit_every = refit_every
        self.long_only = long_only
        self.bounds = bounds
        self.risk_free = risk_free
        self.target_return = target_return
        self.covariance_params = dict(covariance_params or {})
        self.schedule = WalkForwardSchedule(window, expanding, rebalance_every, refit_every)
        self.allow_short = not long_only
        if name is None:
            cov_label = covariance if isinstance(covariance, str) else "custom"
            name = "1/N" if kind == "equal_weight" else f"{kind}[{cov_label}]"
        self.name = name

    def reset(self, n_assets: int) -> None:
        """Start from the uniform target with an empty fit log."""
        super().reset(n_assets)
        self.target_ = np.full(n_assets, 1.0 / n_assets)
        self.fit_log_: list[dict[str, Any]] = []

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Hold, rebalance to the target, or refit it, per the schedule."""
        t = history.shape[0]
        action = self.schedule.action(t)
        if action == "start":
            return self.target_.copy()
        if action == "hold":
            return np.asarray(held, dtype=float).copy()
        if action == "refit":
            self._refit(t, history[self.schedule.train(t)])
        return self.target_.copy()

    def _refit(self, t: int, relatives: np.ndarray) -> None:
        n = relatives.shape[1]
        if self.kind == "equal_weight":
            self.target_ = np.full(n, 1.0 / n)
            self.fit_log_.append({"t": t, "status": "optimal", "fallback": False})
            return
        try:
            w, status = self.solve(relatives - 1.0)
        except PortfolioLabError as err:
            w, status = None, f"{type(err).__name__}: {err}"
        ok = w is not None and status == "optimal" and np.isfinite(w).all()
        if ok:
            self.target_ = w
        self.fit_log_.append({"t": t, "status": status, "fallback": not ok})

    def solve(self, returns: np.ndarray) -> tuple[np.ndarray | None, str]:
        """Estimate moments on a (T, n) window of simple returns and solve for weights.

        Parameters
        ----------
        returns : numpy.ndarray, shape (T, n)

        Returns
        -------
        tuple
            ``(weights (n,) or None, status)``.
        """
        from .. import solvers

        mu = returns.mean(axis=0)
        cov = estimate_covariance(returns, self.covariance, **self.covariance_params)
        if self.kind == "gmv":
            res = solvers.min_variance(cov, long_only=self.long_only, bounds=self.bounds)
            w, status = res.weights, res.status
        elif self.kind == "max_sharpe":
            res = solvers.max_sharpe(
                mu, cov, self.risk_free, long_only=self.long_only, bounds=self.bounds
            )
            w, status = res.weights, res.status
        else:
            target = float(mu.mean()) if self.target_return is None else self.target_return
            fr = solvers.efficient_frontier(
                mu, cov, np.array([target]), long_only=self.long_only, bounds=self.bounds
            )
            w, status = fr.weights[0], fr.status[0]
        w = np.asarray(w, dtype=float)
        if self.long_only and np.isfinite(w).all():
            w = np.clip(w, 0.0, None)  # QP solutions may carry -1e-9 noise
            w = w / w.sum()
        return w, str(status)
