"""Shared machinery of the online baselines: incremental state over the history."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError, ShapeError
from ..policy import Policy

__all__ = ["OnlinePolicy", "check_relatives"]


def check_relatives(relatives: np.ndarray) -> np.ndarray:
    """Validate a (T, n) array of price relatives and return it as float64.

    Parameters
    ----------
    relatives : array_like, shape (T, n)
        Gross price relatives ``p_t / p_{t-1}``.

    Returns
    -------
    numpy.ndarray, shape (T, n)

    Raises
    ------
    ShapeError
        If the array is not 2-D with at least one asset.
    InputError
        If any relative is non-finite or not positive.
    """
    x = np.asarray(relatives, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ShapeError(f"price relatives must be a (T, n) array with n >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x <= 0.0):
        raise InputError(
            "price relatives must be finite and positive; fill gaps in the prices first"
        )
    return x


class OnlinePolicy(Policy):
    """Base of the sequential baselines: process each newly observed relative once.

    Subclasses implement :meth:`_start` (state for ``n`` assets, returning the weights of
    period 0) and :meth:`_update` (read the history up to and including the newest
    relative and return the weights of the next period). :meth:`step` feeds every
    relative not yet seen to :meth:`_update`, so a policy costs O(1) history work per
    period however the engine calls it, and it never sees more than the engine gives.

    Attributes
    ----------
    weights_ : numpy.ndarray, shape (n,)
        Weights chosen for the coming period.
    n_seen_ : int
        Number of relatives already processed.
    """

    def reset(self, n_assets: int) -> None:
        """Clear the state for a new run over ``n_assets`` assets."""
        if int(n_assets) < 1:
            raise InputError(f"n_assets must be at least 1, got {n_assets}")
        super().reset(n_assets)
        self.n_seen_ = 0
        self.weights_ = np.asarray(self._start(int(n_assets)), dtype=np.float64)

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Return the weights of period ``t = len(history)``.

        Parameters
        ----------
        history : numpy.ndarray, shape (t, n)
            Price relatives of periods ``0 .. t-1``.
        held : numpy.ndarray, shape (n,)
            Weights held after the last drift (unused: these baselines follow their own
            previous choice, as in the original papers and the OLPS toolbox).

        Returns
        -------
        numpy.ndarray, shape (n,)
        """
        t, n = history.shape
        if not hasattr(self, "n_seen_") or n != self.n_assets_:
            self.reset(n)
        if t < self.n_seen_:
            raise InputError(
                f"{self.name}: history shrank from {self.n_seen_} to {t} rows; "
                "call reset() before starting a new run"
            )
        for s in range(self.n_seen_, t):
            self.weights_ = np.asarray(self._update(history[: s + 1]), dtype=np.float64)
        self.n_seen_ = t
        return self.weights_.copy()

    def weights_path(self, relatives: np.ndarray) -> np.ndarray:
        """Run the policy over ``relatives`` and return every period's weights.

        A direct loop without costs, used by tests and as the reference of the engine.

        Parameters
        ----------
        relatives : numpy.ndarray, shape (T, n)

        Returns
        -------
        numpy.ndarray, shape (T, n)
            Row ``t`` depends only on rows ``0 .. t-1`` of ``relatives``.
        """
        x = check_relatives(relatives)
        T, n = x.shape
        self.reset(n)
        out = np.empty((T, n))
        for t in range(T):
            out[t] = self.step(x[:t], self.weights_)
        return out

    def _start(self, n: int) -> np.ndarray:
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
