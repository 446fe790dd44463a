"""Causal, scale-invariant inputs for the learned allocators.

A sample dated ``t`` sees the simple returns ``r_{t-L+1} .. r_t`` of a window of ``L``
periods (``L + 1`` prices) and nothing later. From them two features per asset and lag:

- ``price``: the price at each lag divided by the asset's latest price in the window,
  minus one (``P_{t-j} / P_t - 1``; zero at the last lag);
- ``return``: the simple return of that period.

Both are unchanged when an asset's prices are multiplied by a constant, so a model fed
with them cannot depend on the price level (a property test checks the predictions).
The target of sample ``t`` is the next return ``r_{t+1}``; it is never part of an input.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FEATURES",
    "return_windows",
    "features_of_windows",
    "window_features",
    "ewma_volatility",
]

FEATURES = ("price", "return")


def return_windows(returns: np.ndarray, window: int, ends: np.ndarray | None = None) -> np.ndarray:
    """Stack the windows of ``window`` returns ending at rows ``ends``, shape (k, L, n).

    Parameters
    ----------
    returns : numpy.ndarray, shape (T, n)
        Simple returns, oldest first.
    window : int
        Window length ``L`` (periods).
    ends : numpy.ndarray of int, shape (k,), optional
        Last row of each window (each in ``[L - 1, T - 1]``); default: every possible end.

    Returns
    -------
    numpy.ndarray, shape (k, L, n), lag order oldest first
    """
    r = np.asarray(returns, dtype=float)
    T = r.shape[0]
    if ends is None:
        ends = np.arange(window - 1, T)
    ends = np.asarray(ends, dtype=int)
    if ends.size and (ends.min() < window - 1 or ends.max() >= T):
        raise ValueError(f"window ends must lie in [{window - 1}, {T - 1}], got {ends.min()}..")
    rows = ends[:, None] + np.arange(-window + 1, 1)[None, :]
    return r[rows]


def features_of_windows(windows: np.ndarray) -> np.ndarray:
    """Compute the two features of each window of returns.

    Parameters
    ----------
    windows : numpy.ndarray, shape (k, L, n)
        Returns, oldest first within each window.

    Returns
    -------
    numpy.ndarray, shape (k, L, n, 2), float32
        ``[..., 0]`` = ``P_{t-j} / P_t - 1`` (the price at each lag over the window's last
        price, minus one) and ``[..., 1]`` = the return.
    """
    w = np.asarray(windows, dtype=float)
    log_r = np.log1p(w)
    # log(P_j / P_last) = -(sum of the log returns after j)
    after = np.cumsum(log_r[:, ::-1], axis=1)[:, ::-1] - log_r
    out = np.empty((*w.shape, 2), dtype=np.float32)
    out[..., 0] = np.expm1(-after)
    out[..., 1] = w
    return out


def window_features(returns: np.ndarray, window: int, ends: np.ndarray | None = None) -> np.ndarray:
    """Features of the windows ending at rows ``ends`` of ``returns``.

    Parameters
    ----------
    returns : numpy.ndarray, shape (T, n)
        Simple returns, oldest first (raw or denoised).
    window : int
        Window length ``L`` (periods).
    ends : numpy.ndarray of int, shape (k,), optional
        Last row of each window; default: every possible end.

    Returns
    -------
    numpy.ndarray, shape (k, L, n, 2), float32
        See :func:`features_of_windows`.
    """
    return features_of_windows(return_windows(returns, window, ends))


def ewma_volatility(returns: np.ndarray, span: int = 50, lookback: int | None = None) -> np.ndarray:
    """Causal exponentially weighted volatility of each asset, per period (not annualized).

    ``σ²_t = Σ_j a_j r²_{t-j} / Σ_j a_j`` with ``a_j = (1 - α)^j``, ``α = 2 / (span + 1)``,
    over ``j = 0 .. lookback - 1`` (RiskMetrics-style, zero mean). Row ``t`` uses returns
    ``t - lookback + 1 .. t`` only, so a prediction depends on a fixed amount of history.

    Parameters
    ----------
    returns : numpy.ndarray, shape (T, n)
    span : int
        EWMA span in periods (Zhang et al. use 50 days).
    lookback : int, optional
        Rows used per estimate; default ``5 * span`` (the weight left out is below 0.05 %).

    Returns
    -------
    numpy.ndarray, shape (T, n)
        Strictly positive (floored at 1e-8).
    """
    r = np.asarray(returns, dtype=float)
    lookback = 5 * int(span) if lookback is None else int(lookback)
    decay = 1.0 - 2.0 / (span + 1.0)
    num = np.zeros_like(r)
    den = np.zeros((r.shape[0], 1))
    sq = r**2
    for j in range(min(lookback, r.shape[0])):
        a = decay**j
        num[j:] += a * sq[: r.shape[0] - j]
        den[j:] += a
    return np.maximum(np.sqrt(num / den), 1e-8)
