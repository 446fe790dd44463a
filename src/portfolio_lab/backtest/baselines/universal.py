"""Cover's universal portfolio (1991) by Monte Carlo over the simplex."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy, check_relatives

__all__ = ["UP"]

# days per block of the vectorized path (two matrix products per block), capped so that
# a block holds at most 2**20 wealths (8 MiB, near the cache of one core)
_BLOCK = 64
_BLOCK_CELLS = 2**20
# a block of wealths is formed by products while its log-range bound stays below this
# (exp(600) and exp(-600) are well inside float64's range of about exp(±708))
_SAFE_LOG = 600.0


class UP(OnlinePolicy):
    """Cover's universal portfolio with the uniform (Dirichlet(1)) prior, by Monte Carlo.

    The portfolio of period ``t`` is the wealth-weighted mean of constant rebalanced
    portfolios, ``b_t = ∫ b S_t(b) dμ(b) / ∫ S_t(b) dμ(b)`` with
    ``S_t(b) = ∏_{s<t} b · x_s``, the integral over the uniform distribution on the
    simplex estimated by ``n_samples`` points drawn with ``numpy.random.default_rng(seed)``
    (or given as ``points``). Wealths are kept in logs (no underflow over thousands of
    days). The step path adds one day at a time; :meth:`weights_vectorized` does the same
    for blocks of days with two matrix products and a cumulative product per block (row
    ``t`` uses only rows ``< t``, checked by the look-ahead tests).

    Parameters
    ----------
    n_samples : int, default 10000
        Number of Monte Carlo points.
    seed : int, default 0
        Seed of the sample.
    points : numpy.ndarray, shape (N, n), optional
        Explicit points of the simplex (overrides ``n_samples`` and ``seed``), e.g. the
        sample of another implementation or a quadrature grid.
    """

    def __init__(
        self, n_samples: int = 10000, seed: int = 0, points: np.ndarray | None = None
    ) -> None:
        if points is None and int(n_samples) < 1:
            raise InputError(f"UP needs n_samples >= 1, got {n_samples}")
        self.n_samples, self.seed = int(n_samples), int(seed)
        self.points = None if points is None else np.asarray(points, dtype=np.float64)
        if self.points is not None:
            P = self.points
            if P.ndim != 2 or np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-12):
                raise InputError("UP points must be an (N, n) array of simplex points")
            self.name = f"UP(points={P.shape[0]})"
        else:
            self.name = f"UP(MC {self.n_samples}, seed={self.seed})"

    def sample(self, n: int) -> np.ndarray:
        """Return the points of the simplex used for ``n`` assets, shape (N, n)."""
        if self.points is not None:
            if self.points.shape[1] != n:
                raise InputError(f"UP points have {self.points.shape[1]} columns, not {n}")
            return self.points
        return np.random.default_rng(self.seed).dirichlet(np.ones(n), self.n_samples)

    def _start(self, n: int) -> np.ndarray:
        self._W = self.sample(n)
        self._logS = np.zeros(self._W.shape[0])
        return self._mean(self._logS)

    def _mean(self, logS: np.ndarray) -> np.ndarray:
        s = np.exp(logS - logS.max())
        b = s @ self._W
        return b / b.sum()

    def _update(self, history: np.ndarray) -> np.ndarray:
        self._logS = self._logS + np.log(self._W @ history[-1])
        return self._mean(self._logS)

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Every period's weights, shape (T, n), in blocks of days.

        Parameters
        ----------
        relatives : numpy.ndarray, shape (T, n)

        Returns
        -------
        numpy.ndarray, shape (T, n)
            Row ``t`` is the step path's weight of period ``t`` (a function of rows
            ``0 .. t-1`` only).
        """
        x = check_relatives(relatives)
        T, n = x.shape
        W = self.sample(n)
        N = W.shape[0]
        carry = np.ones(N)  # wealth of each point before the block, scaled to a maximum of 1
        out = np.empty((T, n))
        block = max(1, min(_BLOCK, _BLOCK_CELLS // N))
        # every block has the same shape (the last one padded with relatives of 1), so the
        # matrix products round a row the same way whatever the length of the run: a run
        # cut short gives bit for bit the weights of the full run
        padded = np.ones((-(-T // block) * block, n))
        padded[:T] = x
        # a point's growth on a day lies between the smallest and the largest relative,
        # so these running sums bound every log-wealth of a block without looking at it
        lo = np.log(padded.min(axis=1))
        hi = np.log(padded.max(axis=1))
        growth = np.empty((block, N))
        b = np.empty((block, n))
        for t0 in range(0, T, block):
            t1 = min(T, t0 + block)
            days = padded[t0 : t0 + block]
            np.matmul(days, W.T, out=growth)
            if np.sum(hi[t0 : t0 + block]) < _SAFE_LOG and np.sum(lo[t0 : t0 + block]) > -_SAFE_LOG:
                # wealths by products in place (no log/exp per cell): the best point
                # starts the block at 1 and stays within exp(±_SAFE_LOG) of it
                growth[0] *= carry
                for i in range(1, block):  # row by row: contiguous, unlike cumprod on axis 0
                    np.multiply(growth[i], growth[i - 1], out=growth[i])
                b[0] = carry @ W
                np.matmul(growth[:-1], W, out=b[1:])
                last = growth[t1 - t0 - 1]
            else:  # a block whose wealths could leave the floating-point range: logs
                logs = np.cumsum(np.log(growth), axis=0) + np.log(carry)
                before = np.vstack([np.log(carry)[None, :], logs[:-1]])
                b = np.exp(before - before.max(axis=1, keepdims=True)) @ W
                last = np.exp(logs[t1 - t0 - 1] - logs[t1 - t0 - 1].max())
            out[t0:t1] = (b / b.sum(axis=1, keepdims=True))[: t1 - t0]
            carry = last / last.max()
        return out
