"""Follow-the-Loser by predicted reversion to a robust average: OLMAR and RMR."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy
from ._simplex import project_simplex

__all__ = ["OLMAR", "OLMAR2", "BAHOLMAR", "RMR", "l1_median"]


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


class OLMAR2(OnlinePolicy):
    """OLMAR-2 (Li, Hoi, Sahoo & Liu 2015): reversion to an exponential moving average.

    The predicted relative follows ``x̃_{t+1} = α 1 + (1 - α) x̃_t / x_t`` from
    ``x̃_1 = 1`` (the toolbox's ``olmar2_expert.m``: the EMA of prices over the current
    price), and the portfolio makes the OLMAR move ``b · x̃ >= ε`` then the simplex
    projection. As in ``olmar2_run.m`` the first update uses the first relative.

    Parameters
    ----------
    eps : float, default 10.0
        Reversion threshold ε.
    alpha : float, default 0.5
        Decay α in (0, 1).
    """

    def __init__(self, eps: float = 10.0, alpha: float = 0.5) -> None:
        if not eps >= 1 or not 0.0 < alpha < 1.0:
            raise InputError(f"OLMAR2 needs eps >= 1 and 0 < alpha < 1, got {eps}, {alpha}")
        self.eps, self.alpha = float(eps), float(alpha)
        self.name = f"OLMAR-2(eps={self.eps:g}, alpha={self.alpha:g})"

    def _start(self, n: int) -> np.ndarray:
        self._phi = np.ones(n)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        self._phi = self.alpha + (1.0 - self.alpha) * self._phi / history[-1]
        return _reversion_step(self.weights_, self._phi, self.eps)


def _project_rows(V: np.ndarray) -> np.ndarray:
    """Euclidean projection of every row of ``V`` (shape (k, n)) onto the simplex.

    Like :func:`project_simplex`, rows whose huge entries lose the radius in rounding are
    projected again after a shift along 1 (which the projection commutes with).
    """
    P = _project_rows_sorted(V)
    bad = np.abs(P.sum(axis=1) - 1.0) > 1e-9
    if np.any(bad):
        P[bad] = _project_rows_sorted(V[bad] - V[bad].max(axis=1, keepdims=True))
    return P


def _project_rows_sorted(V: np.ndarray) -> np.ndarray:
    U = -np.sort(-V, axis=1)
    css = np.cumsum(U, axis=1) - 1.0
    k = np.arange(1, V.shape[1] + 1)
    rho = np.sum(U - css / k > 0, axis=1) - 1
    rho = np.maximum(rho, 0)
    theta = css[np.arange(V.shape[0]), rho] / (rho + 1)
    return np.maximum(V - theta[:, None], 0.0)


class BAHOLMAR(OnlinePolicy):
    """``BAH_W(OLMAR)``: buy-and-hold over OLMAR-1 experts with windows 3..W.

    The mixture of the OLMAR paper (W = 30: 28 experts, ε = 10): each expert is
    :class:`OLMAR` with its own window (toolbox warm-up), all updated at once (one batched
    prediction from the cumulative products of the last ``W - 1`` relatives and one
    batched simplex projection); the mixture invests in each expert in proportion to
    the wealth it has accumulated, ``b = Σ_w S_w b_w / Σ_w S_w``.

    Parameters
    ----------
    max_window : int, default 30
        Largest window W (at least 3).
    eps : float, default 10.0
        Reversion threshold ε of every expert.
    """

    def __init__(self, max_window: int = 30, eps: float = 10.0) -> None:
        if int(max_window) < 3 or not eps >= 1:
            raise InputError(f"BAHOLMAR needs max_window >= 3 and eps >= 1, got {max_window}")
        self.max_window, self.eps = int(max_window), float(eps)
        self.windows = np.arange(3, self.max_window + 1)
        self.name = f"BAH_{self.max_window}(OLMAR)(eps={self.eps:g})"

    def _start(self, n: int) -> np.ndarray:
        self._experts = np.full((self.windows.size, n), 1.0 / n)
        self._wealth = np.ones(self.windows.size)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        T, n = history.shape
        x = history[-1]
        self._wealth = self._wealth * (self._experts @ x)
        self._wealth /= self._wealth.sum()
        if T >= 2:
            w = self.windows
            depth = min(T, self.max_window) - 1
            recent = history[T - depth :][::-1]  # x_T, x_{T-1}, ...
            inv = np.vstack([np.ones((1, n)), 1.0 / np.cumprod(recent, axis=0)])
            sma = np.cumsum(inv, axis=0)  # row i: sum of the first i + 1 price ratios
            pred = np.empty((w.size, n))
            full = T >= w + 1
            pred[full] = sma[w[full] - 1] / w[full][:, None]
            pred[~full] = x
            b = self._experts
            dev = pred - pred.mean(axis=1, keepdims=True)
            sq = np.einsum("ij,ij->i", dev, dev)
            gap = self.eps - np.einsum("ij,ij->i", b, pred)
            lam = np.zeros_like(sq)
            np.divide(np.maximum(gap, 0.0), sq, out=lam, where=sq > 0)
            self._experts = _project_rows(b + lam[:, None] * dev)
        mix = self._wealth @ self._experts
        return mix / mix.sum()
