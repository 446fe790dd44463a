"""The policy interface every strategy implements to be backtested.

The engine (:func:`portfolio_lab.backtest.run`) calls :meth:`Policy.reset` once, then
:meth:`Policy.step` once per period with only the past price relatives and the weights
held after the last drift. A policy therefore cannot see the future: the ``history``
array it receives is a read-only view of a buffer into which the engine has copied only
the relatives already observed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Policy"]


class Policy:
    """Base class of backtestable strategies.

    Subclasses override :meth:`step` (and, when they keep state, :meth:`reset`). Policies
    whose weights do not depend on the observed history (constant rebalanced portfolios)
    or that can be computed without look-ahead in closed form may also override
    :meth:`weights_vectorized`, which lets the engine skip the per-period loop.

    Attributes
    ----------
    name : str
        Label of the strategy in results and plots.
    hindsight : bool
        True only for strategies that use the whole sample (BCRP, Best Stock); the engine
        then calls :meth:`fit_hindsight` with every relative before the run and labels the
        result as hindsight.
    allow_short : bool
        True when the policy may return negative weights (they must still sum to one).
    """

    name: str = "policy"
    hindsight: bool = False
    allow_short: bool = False

    def reset(self, n_assets: int) -> None:
        """Prepare for a new run over ``n_assets`` assets (called once before period 0).

        Parameters
        ----------
        n_assets : int
            Number of assets, the cash asset included when the run has one.
        """
        self.n_assets_ = int(n_assets)

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Choose the weights of period ``t``.

        Parameters
        ----------
        history : numpy.ndarray, shape (t, n)
            Read-only price relatives of periods ``0 .. t-1`` (shape ``(0, n)`` at ``t = 0``).
        held : numpy.ndarray, shape (n,)
            Weights held after the drift of period ``t - 1`` (uniform at ``t = 0``).

        Returns
        -------
        numpy.ndarray, shape (n,)
            Weights for period ``t``: non-negative and summing to one, unless
            :attr:`allow_short` is true (then only summing to one).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step(history, held)")

    def fit_hindsight(self, relatives: np.ndarray) -> None:
        """Fit a hindsight policy on every relative of the run (only when ``hindsight``).

        Parameters
        ----------
        relatives : numpy.ndarray, shape (T, n)
            All price relatives of the run.
        """
        raise NotImplementedError(
            f"{type(self).__name__} sets hindsight=True but does not implement fit_hindsight"
        )

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray | None:
        """Return all weights at once, or ``None`` when the policy needs the loop.

        Parameters
        ----------
        relatives : numpy.ndarray, shape (T, n)
            All price relatives of the run. An implementation may use row ``t`` only to
            build the weights of periods after ``t`` (or the drift inside period ``t``).

        Returns
        -------
        numpy.ndarray, shape (T, n), or None
            Row ``t`` holds the weights chosen before relative ``t`` was seen.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
