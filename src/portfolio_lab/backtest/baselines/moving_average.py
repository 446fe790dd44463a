"""Follow-the-Loser by predicted reversion to a robust average: OLMAR and RMR."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy
from ._simplex import project_simplex

__all__ = ["OLMAR", "RMR", "l1_median"]


def _reversion_step(b: np.ndarray, pred: np.ndarray, eps: float) -> np.ndarray:
    """Smallest move of ``b`` making ``b · pred >= eps``, then the simplex projection."""
    dev = pred - pred.mean()
    sq = float(dev @ dev)
    if sq == 0.0:
        return b.copy()
    lam = max(0.0, (eps - float(b @ pred)) / sq)
    return project_simplex(b + lam * dev)


class OLMAR(OnlinePolicy):
    """On-line moving average reversion, OLMAR-1 (Li & Hoi 2012), OLPS-toolbox timing.

    The next relative is predicted as the simple moving average of the last ``window``
    prices over the current price, ``x̃ = (1/w) Σ_{i=0}^{w-1} p_{t-i} / p_t`` (the last
    relative while fewer than ``window + 1`` relatives are known), and the portfolio makes
    the smallest Euclidean move with ``b · x̃ >= ε`` before the simplex projection. As in
    ``olmar1_run.m`` the uniform portfolio is kept until two relatives are known.

    Parameters
    ----------
    eps : float, default 10.0
        Reversion threshold ε.
    window : int, default 5
        Moving-average window w.
    """

    def __init__(self, eps: float = 10.0, window: int = 5) -> None:
        if int(window) < 2 or not eps >= 1:
            raise InputError(f"OLMAR needs window >= 2 and eps >= 1, got {window}, {eps}")
        self.eps, self.window = float(eps), int(window)
        self.name = f"OLMAR-1(eps={self.eps:g}, w={self.window})"

    def _update(self, history: np.ndarray) -> np.ndarray:
        T = history.shape[0]
        if T < 2:
            return self.weights_
        if T < self.window + 1:
            pred = history[-1]
        else:
            recent = history[T - self.window + 1 :][::-1]  # x_T, x_{T-1}, ..., w-1 rows
            inv = np.vstack([np.ones((1, history.shape[1])), 1.0 / np.cumprod(recent, axis=0)])
            pred = inv.mean(axis=0)
        return _reversion_step(self.weights_, pred, self.eps)


def l1_median(
    X: np.ndarray, *, max_iter: int = 200, tol: float = 1e-9, zero_tol: float = 1e-15
) -> np.ndarray:
    """Spatial (L1) median of the rows of ``X`` by the Weiszfeld/Vardi-Zhang iteration.

    Starts at the coordinate-wise median; the Vardi-Zhang correction handles an iterate
    that lands on a data point. Stops when ``‖y_{k+1} - y_k‖₁ <= tol ‖y_k‖₁``.

    Parameters
    ----------
    X : numpy.ndarray, shape (k, n)
        Points (rows).
    max_iter : int, default 200
    tol : float, default 1e-9
    zero_tol : float, default 1e-15
        Distance under which a point counts as coinciding with the iterate.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The point minimizing ``Σ_i ‖X_i - y‖₂``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.median(X, axis=0)
    for _ in range(max_iter):
        diff = X - y
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        if dist.min() >= zero_tol:  # usual case: the iterate is on no data point
            inv = 1.0 / dist
            y_new = (inv @ X) / inv.sum()
        else:  # Vardi-Zhang step from a data point
            far = dist >= zero_tol
            inv = np.where(far, 1.0 / np.where(far, dist, 1.0), 0.0)
            den = inv.sum()
            T = (inv @ X) / den if den > 0 else np.zeros_like(y)
            norm_r = float(np.linalg.norm(inv @ diff))
            r = min(1.0, 1.0 / norm_r) if norm_r > 0 else 0.0
            y_new = (1.0 - r) * T + r * y
        done = np.abs(y_new - y).sum() <= tol * np.abs(y).sum()
        y = y_new
        if done:
            break
    return y


class RMR(OnlinePolicy):
    """Robust median reversion (Huang, Zhou, Li, Hoi & Zhou 2013), OLPS-toolbox form.

    The next relative is predicted as the L1 median of the last ``window`` prices over the
    current price, ``x̃ = L1med(p_{t-w+1..t}) / p_t`` (:func:`l1_median`), or the last
    relative while at most ``window`` relatives are known; the portfolio then makes the
    OLMAR-type move ``b · x̃ >= ε`` and is projected on the simplex. As in ``rmr_run.m``,
    the price levels are the relatives compounded from the *second* relative on (the L1
    median is not invariant to rescaling single assets, so the normalization matters).

    Parameters
    ----------
    eps : float, default 5.0
        Reversion threshold ε.
    window : int, default 5
        Number of prices in the median.
    """

    def __init__(self, eps: float = 5.0, window: int = 5) -> None:
        if int(window) < 2 or not eps >= 1:
            raise InputError(f"RMR needs window >= 2 and eps >= 1, got {window}, {eps}")
        self.eps, self.window = float(eps), int(window)
        self.name = f"RMR(eps={self.eps:g}, w={self.window})"

    def _start(self, n: int) -> np.ndarray:
        self._levels: list[np.ndarray] = []
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        T = history.shape[0]
        x = history[-1]
        if T == 1:
            level = np.ones_like(x)
        else:
            level = self._levels[-1] * x
        self._levels.append(level)
        if len(self._levels) > self.window:
            self._levels.pop(0)
        if T < self.window + 1:
            pred = x
        else:
            pred = l1_median(np.asarray(self._levels)) / level
        return _reversion_step(self.weights_, pred, self.eps)
