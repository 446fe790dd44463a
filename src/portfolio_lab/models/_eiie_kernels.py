"""Compiled layers of the EIIE CNN on a CPU (numba): the 1×3 convolution and the head.

The first layer has 2 filters of width 3 over each asset's window: about 10⁶ multiply-adds
a batch, too few for a matrix product to pay (the chunked product does 6× the work and
two passes over its output for the ReLU). These loops read each window once: the forward
writes ``relu(conv)`` straight into conv2's input layout, the backward sums the weight and
bias gradients where the output was positive. The input needs no gradient (prices).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Reassociation lets the compiler vectorize the sums; no flag assumes finite values.
_REASSOC = {"reassoc", "contract"}

__all__ = [
    "conv1_relu",
    "conv1_relu_grad",
    "head_forward",
    "head_backward",
    "reward_forward",
    "reward_backward",
]


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def conv1_relu(x, w, b, out):  # pragma: no cover - compiled
    """``out[r, c, j] = max(0, b[c] + Σ_f Σ_k w[c, f, k] x[r, f, j + k])``.

    Parameters
    ----------
    x : ndarray, shape (R, F, L)
    w : ndarray, shape (2, F, 3)
    b : ndarray, shape (2,)
    out : ndarray, shape (R, 2, L - 2)
        Written in place.
    """
    R, F, L = x.shape
    M = L - 2
    for r in range(R):
        for c in range(2):
            o = out[r, c]
            bc = b[c]
            for j in range(M):
                o[j] = bc
            for f in range(F):
                xr = x[r, f]
                w0, w1, w2 = w[c, f, 0], w[c, f, 1], w[c, f, 2]
                for j in range(M):
                    o[j] += w0 * xr[j] + w1 * xr[j + 1] + w2 * xr[j + 2]
            for j in range(M):
                o[j] = max(o[j], 0.0)


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def conv1_relu_grad(x, h, g, gw, gb):  # pragma: no cover - compiled
    """Gradients of :func:`conv1_relu`'s weights and bias for an output gradient ``g``.

    A row's sums run in the data's precision (float32 in training, as torch's own
    convolutions accumulate; vectorized 8 lanes wide), the sums over rows in float64.

    Parameters
    ----------
    x : ndarray, shape (R, F, L)
    h : ndarray, shape (R, 2, L - 2)
        The forward's output (the ReLU passes the gradient where it is positive).
    g : ndarray, shape (R, 2, L - 2)
    gw : ndarray, shape (2, F, 3)
    gb : ndarray, shape (2,)
        Written in place.
    """
    R, F, L = x.shape
    M = L - 2
    acc = np.zeros((2, F, 3))
    acc_b = np.zeros(2)
    zero = x.dtype.type(0.0)
    for r in range(R):
        for c in range(2):
            hr = h[r, c]
            gr = g[r, c]
            sb = zero
            for j in range(M):
                sb += gr[j] if hr[j] > 0.0 else zero
            acc_b[c] += sb
            for f in range(F):
                xr = x[r, f]
                s0 = zero
                s1 = zero
                s2 = zero
                for j in range(M):
                    gv = gr[j] if hr[j] > 0.0 else zero
                    s0 += gv * xr[j]
                    s1 += gv * xr[j + 1]
                    s2 += gv * xr[j + 2]
                acc[c, f, 0] += s0
                acc[c, f, 1] += s1
                acc[c, f, 2] += s2
    for c in range(2):
        gb[c] = acc_b[c]
        for f in range(F):
            for k in range(3):
                gw[c, f, k] = acc[c, f, k]


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def head_forward(h, prev, wh, bh, cash, out):  # pragma: no cover - compiled
    """Apply the CNN's head: ReLU of conv2, previous weights, 1×1 convolution, softmax.

    ``out[b] = softmax([cash, Σ_c relu(h[b n + i, c]) wh[c] + prev[b, i] wh[C] + bh])``.

    Parameters
    ----------
    h : ndarray, shape (B n, C)
        conv2's pre-activations, one row per (member, asset).
    prev : ndarray, shape (B, n)
        Risky weights held (the extra channel).
    wh : ndarray, shape (C + 1,)
        The 1×1 convolution's weights (the features', then the previous weight's).
    bh, cash : ndarray, shape (1,)
        Its bias and the cash bias.
    out : ndarray, shape (B, n + 1)
        Written in place: weights, cash first.
    """
    B, n = prev.shape
    C = h.shape[1]
    for b in range(B):
        top = cash[0]
        out[b, 0] = cash[0]
        for i in range(n):
            r = b * n + i
            s = bh[0] + prev[b, i] * wh[C]
            for c in range(C):
                v = h[r, c]
                if v > 0.0:
                    s += v * wh[c]
            out[b, i + 1] = s
            top = max(top, s)
        total = 0.0
        for k in range(n + 1):
            e = math.exp(out[b, k] - top)
            out[b, k] = e
            total += e
        inv = 1.0 / total
        for k in range(n + 1):
            out[b, k] *= inv


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def head_backward(h, prev, wh, w, gw, gh, gwh, gbh, gcash, gprev):  # pragma: no cover
    """Gradients of :func:`head_forward` for an output gradient ``gw``.

    Parameters
    ----------
    h, prev, wh
        As in :func:`head_forward`.
    w : ndarray, shape (B, n + 1)
        Its output.
    gw : ndarray, shape (B, n + 1)
    gh : ndarray, shape (B n, C)
        Out: the pre-activations' gradient (zero where the ReLU was off).
    gwh : ndarray, shape (C + 1,)
    gbh, gcash : ndarray, shape (1,)
        Out: the parameters' gradients.
    gprev : ndarray, shape (B, n) or (0, n)
        Out when it has ``B`` rows: the previous weights' gradient.
    """
    B, n = prev.shape
    C = h.shape[1]
    acc = np.zeros(C + 1)
    acc_b = 0.0
    acc_c = 0.0
    for b in range(B):
        dot = 0.0
        for k in range(n + 1):
            dot += w[b, k] * gw[b, k]
        acc_c += w[b, 0] * (gw[b, 0] - dot)
        for i in range(n):
            r = b * n + i
            g = w[b, i + 1] * (gw[b, i + 1] - dot)
            acc_b += g
            acc[C] += g * prev[b, i]
            if gprev.shape[0] == B:
                gprev[b, i] = g * wh[C]
            for c in range(C):
                v = h[r, c]
                if v > 0.0:
                    acc[c] += g * v
                    gh[r, c] = g * wh[c]
                else:
                    gh[r, c] = 0.0
    for c in range(C + 1):
        gwh[c] = acc[c]
    gbh[0] = acc_b
    gcash[0] = acc_c


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def reward_forward(w, first, held, y, commission, log, batch, mu, a):  # pragma: no cover
    """Compute the training reward of :func:`~portfolio_lab.models.eiie.eiie_reward`, one pass.

    ``held`` row ``i`` is, with ``batch``, ``first`` for ``i = 0`` and output ``i - 1``
    drifted by its relatives (:func:`~portfolio_lab.models.eiie.batch_previous`; written
    here), else given. ``mu`` and ``a`` (``wᵢᵀyᵢ``) are written for the backward pass.
    Returns the mean of ``log(μᵢ aᵢ)`` (``log``) or of ``μᵢ aᵢ − 1``.

    Parameters
    ----------
    w, y : ndarray, shape (B, n + 1)
    first : ndarray, shape (n + 1,)
    held : ndarray, shape (B, n + 1)
        In (``batch`` False) or out.
    commission : float
    log, batch : bool
    mu, a : ndarray of float64, shape (B,)
    """
    B, m = w.shape
    total = 0.0
    for i in range(B):
        if batch:
            if i == 0:
                for k in range(m):
                    held[0, k] = first[k]
            else:
                s = 0.0
                for k in range(m):
                    s += w[i - 1, k] * y[i - 1, k]
                for k in range(m):
                    held[i, k] = w[i - 1, k] * y[i - 1, k] / s
        turn = 0.0
        dot = 0.0
        for k in range(m):
            dot += w[i, k] * y[i, k]
            if k > 0:
                turn += abs(w[i, k] - held[i, k])
        mu[i] = 1.0 - commission * turn
        a[i] = dot
        g = mu[i] * dot
        total += math.log(g) if log else g - 1.0
    return total / B


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def reward_backward(w, held, y, commission, log, batch, mu, a, scale, gw):  # pragma: no cover
    """``gw = scale · ∂reward/∂w`` of :func:`reward_forward` (``held`` as it wrote it).

    With ``batch`` the cost term of row ``i`` also reaches output ``i - 1`` through
    ``held[i]``; ``sign(0) = 0`` as torch's ``abs``.
    """
    B, m = w.shape
    for i in range(B):
        for k in range(m):
            gw[i, k] = 0.0
    for i in range(B):
        dg = scale / B / (mu[i] * a[i]) if log else scale / B  # ∂reward/∂gᵢ
        for k in range(m):
            d = w[i, k] - held[i, k]
            sgn = 0.0 if k == 0 or d == 0.0 else (1.0 if d > 0.0 else -1.0)
            # gᵢ = μᵢ aᵢ: ∂gᵢ/∂wᵢₖ = μᵢ yᵢₖ − c aᵢ sign(dₖ)
            gw[i, k] += dg * (mu[i] * y[i, k] - commission * a[i] * sgn)
        if batch and i > 0:
            # ∂gᵢ/∂heldᵢₖ = c aᵢ sign(dₖ); heldᵢ = wᵢ₋₁ ∘ yᵢ₋₁ / sᵢ₋₁
            s = 0.0
            vh = 0.0
            for k in range(m):
                s += w[i - 1, k] * y[i - 1, k]
            for k in range(1, m):
                d = w[i, k] - held[i, k]
                if d != 0.0:
                    v = dg * commission * a[i] * (1.0 if d > 0.0 else -1.0)
                    vh += v * held[i, k]
            for k in range(m):
                v = 0.0
                if k > 0:
                    d = w[i, k] - held[i, k]
                    if d != 0.0:
                        v = dg * commission * a[i] * (1.0 if d > 0.0 else -1.0)
                gw[i - 1, k] += y[i - 1, k] / s * (v - vh)
