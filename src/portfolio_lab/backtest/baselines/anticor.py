"""Anticor (Borodin, El-Yaniv & Gogan 2004): one window, and the survey's BAH mixture."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy

__all__ = ["anticor_transfer", "anticor_transfer_batch", "Anticor", "BAHAnticor"]

# mean log relatives closer than this count as equal: equal window returns (common with
# prices quoted in fractions) must compare equal whatever the summation order
_TIE = 1e-13
# window sums of squares below this (per observation) count as zero variance
_ZERO_SS = 1e-28


def anticor_transfer(
    log_rel: np.ndarray, b: np.ndarray, window: int, *, strict: bool = True
) -> np.ndarray:
    """One Anticor move: shift wealth between assets by lagged cross-correlation.

    Parameters
    ----------
    log_rel : numpy.ndarray, shape (2 * window, n)
        Log price relatives of the last two windows (``LX1`` then ``LX2``).
    b : numpy.ndarray, shape (n,)
        Portfolio to adjust.
    window : int
        Window length w (at least 2).
    strict : bool, default True
        Claim from i to j when ``μ2_i > μ2_j`` (the paper); with False the OLPS toolbox's
        ``>=``, which also puts the positive self-correlations ``M_cor(i, i)`` into the
        normalizing row sums and so dampens the transfers.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The adjusted portfolio (non-negative, same sum as ``b``).
    """
    w = int(window)
    lx1, lx2 = log_rel[:w], log_rel[w : 2 * w]
    mu1, mu2 = lx1.mean(axis=0), lx2.mean(axis=0)
    c1, c2 = lx1 - mu1, lx2 - mu2
    ss1 = np.einsum("ij,ij->j", c1, c1)
    ss2 = np.einsum("ij,ij->j", c2, c2)
    # a window whose sum of squares is rounding (below _ZERO_SS per observation) has no
    # variance, so no correlation: its "correlation" would be noise of either sign
    var1 = np.where(ss1 > _ZERO_SS * w, ss1, 0.0) / (w - 1)
    var2 = np.where(ss2 > _ZERO_SS * w, ss2, 0.0) / (w - 1)
    cov = c1.T @ c2 / (w - 1)
    den = np.sqrt(np.outer(var1, var2))
    cor = np.zeros_like(cov)
    np.divide(cov, den, out=cor, where=den > 0)
    gap = mu2[:, None] - mu2[None, :]
    higher = gap > _TIE if strict else gap >= -_TIE
    mask = higher & (cor > 0)
    auto = np.maximum(0.0, -np.diag(cor))
    claim = np.where(mask, cor + auto[:, None] + auto[None, :], 0.0)
    total = claim.sum(axis=1)
    transfer = np.zeros_like(claim)
    np.divide(b[:, None] * claim, total[:, None], out=transfer, where=total[:, None] > 0)
    return np.maximum(b - transfer.sum(axis=1) + transfer.sum(axis=0), 0.0)


def anticor_transfer_batch(
    log_rel: np.ndarray, B: np.ndarray, windows: np.ndarray, *, strict: bool = True
) -> np.ndarray:
    """:func:`anticor_transfer` for several windows at once (one batched product).

    Parameters
    ----------
    log_rel : numpy.ndarray, shape (L, n)
        Log relatives, the newest last, with ``L >= 2 max(windows)``.
    B : numpy.ndarray, shape (K, n)
        Portfolio of each expert.
    windows : numpy.ndarray of int, shape (K,)
        Window of each expert (each at least 2).
    strict : bool, default True

    Returns
    -------
    numpy.ndarray, shape (K, n)
        Row k equals ``anticor_transfer(log_rel[-2 w_k:], B[k], w_k, strict=strict)``.
    """
    L, n = log_rel.shape
    w = np.asarray(windows, dtype=int)
    wmax = int(w.max())
    r = np.arange(wmax)
    valid = r[None, :] < w[:, None]  # (K, wmax)
    idx2 = np.where(valid, L - w[:, None] + r[None, :], 0)
    idx1 = np.where(valid, L - 2 * w[:, None] + r[None, :], 0)
    # each window's moments from its own centred values (never as differences of running
    # sums, which lose most digits where an asset's log relatives barely vary in a window:
    # at w = 2 two nearly equal values, common on TSE, left correlations wrong in the
    # fifth digit); the zero padding is masked out of the centred values
    lx1 = log_rel[idx1] * valid[:, :, None]
    lx2 = log_rel[idx2] * valid[:, :, None]
    wf = w[:, None].astype(float)
    mu1 = lx1.sum(axis=1) / wf
    mu2 = lx2.sum(axis=1) / wf
    c1 = (lx1 - mu1[:, None, :]) * valid[:, :, None]
    c2 = (lx2 - mu2[:, None, :]) * valid[:, :, None]
    ss1 = np.einsum("kwi,kwi->ki", c1, c1)
    ss2 = np.einsum("kwi,kwi->ki", c2, c2)
    cov = np.matmul(c1.transpose(0, 2, 1), c2)
    # correlation: the (w - 1) factors cancel; zero variance gives zero correlation
    s1 = np.zeros_like(ss1)
    s2 = np.zeros_like(ss2)
    np.divide(1.0, np.sqrt(ss1), out=s1, where=ss1 > _ZERO_SS * wf)
    np.divide(1.0, np.sqrt(ss2), out=s2, where=ss2 > _ZERO_SS * wf)
    cor = cov * s1[:, :, None] * s2[:, None, :]
    gap = mu2[:, :, None] - mu2[:, None, :]
    mask = (gap > _TIE if strict else gap >= -_TIE) & (cor > 0)
    auto = np.maximum(0.0, -np.diagonal(cor, axis1=1, axis2=2))
    claim = np.where(mask, cor + auto[:, :, None] + auto[:, None, :], 0.0)
    total = claim.sum(axis=2)
    share = np.zeros_like(total)
    np.divide(B, total, out=share, where=total > 0)
    # each asset with claims gives all of b_i away in proportion and receives the inflows
    inflow = np.einsum("kij,ki->kj", claim, share)
    return np.maximum(np.where(total > 0, 0.0, B) + inflow, 0.0)


class Anticor(OnlinePolicy):
    """Anticor with one window w (``ANTICOR_w`` of Borodin et al. 2004).

    From ``2w`` relatives on, the previous chosen portfolio is adjusted by
    :func:`anticor_transfer` on the last two windows of log relatives; before that it
    stays uniform. The adjusted portfolio is the previous *chosen* one, as in the OLPS
    toolbox experts and universal-portfolios' ``Anticor``.

    Parameters
    ----------
    window : int, default 30
    strict : bool, default True
        See :func:`anticor_transfer`.
    """

    def __init__(self, window: int = 30, strict: bool = True) -> None:
        if int(window) < 2:
            raise InputError(f"Anticor needs window >= 2, got {window}")
        self.window, self.strict = int(window), bool(strict)
        self.name = f"Anticor(w={self.window})"

    def _update(self, history: np.ndarray) -> np.ndarray:
        w = self.window
        if history.shape[0] < 2 * w:
            return self.weights_
        return anticor_transfer(np.log(history[-2 * w :]), self.weights_, w, strict=self.strict)


class BAHAnticor(OnlinePolicy):
    """``BAH_W(Anticor)``: buy-and-hold over Anticor experts with windows 2..W.

    The variant of the survey's tables and of the OLPS toolbox ``anticor.m``: each expert
    ``ANTICOR_w`` (w = 2..W, toolbox ``>=`` comparison by default) updates its own
    previous portfolio, and the mixture invests in expert w in proportion to the wealth
    that expert has accumulated, ``b = Σ_w S_w b_w / Σ_w S_w``.

    Parameters
    ----------
    max_window : int, default 30
        Largest window W.
    strict : bool, default False
        Comparison of the experts (see :func:`anticor_transfer`); False is the toolbox's.
    """

    def __init__(self, max_window: int = 30, strict: bool = False) -> None:
        if int(max_window) < 2:
            raise InputError(f"BAHAnticor needs max_window >= 2, got {max_window}")
        self.max_window, self.strict = int(max_window), bool(strict)
        self.name = f"BAH_{self.max_window}(Anticor)"

    def _start(self, n: int) -> np.ndarray:
        k = self.max_window - 1
        self._experts = np.full((k, n), 1.0 / n)
        self._wealth = np.ones(k)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        self._wealth = self._wealth * (self._experts @ x)
        self._wealth /= self._wealth.sum()
        T = history.shape[0]
        top = min(self.max_window, T // 2)
        if top >= 2:
            logs = np.log(history[-2 * top :])
            k = top - 1
            self._experts[:k] = anticor_transfer_batch(
                logs, self._experts[:k], np.arange(2, top + 1), strict=self.strict
            )
        mix = self._wealth @ self._experts
        return mix / mix.sum()
