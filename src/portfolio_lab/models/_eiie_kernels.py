"""Compiled 1×3 convolution of the EIIE CNN on a CPU (numba), with ReLU, and its gradient.

The first layer has 2 filters of width 3 over each asset's window: about 10⁶ multiply-adds
a batch, too few for a matrix product to pay (the chunked product does 6× the work and
two passes over its output for the ReLU). These loops read each window once: the forward
writes ``relu(conv)`` straight into conv2's input layout, the backward sums the weight and
bias gradients where the output was positive. The input needs no gradient (prices).
"""

from __future__ import annotations

from numba import njit

#: Reassociation lets the compiler vectorize the sums; no flag assumes finite values.
_REASSOC = {"reassoc", "contract"}

__all__ = ["conv1_relu", "conv1_relu_grad"]


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
    for r in range(R):
        for c in range(2):
            for j in range(L - 2):
                out[r, c, j] = b[c]
            for f in range(F):
                w0, w1, w2 = w[c, f, 0], w[c, f, 1], w[c, f, 2]
                for j in range(L - 2):
                    out[r, c, j] += w0 * x[r, f, j] + w1 * x[r, f, j + 1] + w2 * x[r, f, j + 2]
            for j in range(L - 2):
                if out[r, c, j] < 0.0:
                    out[r, c, j] = 0.0


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def conv1_relu_grad(x, h, g, gw, gb):  # pragma: no cover - compiled
    """Gradients of :func:`conv1_relu`'s weights and bias for an output gradient ``g``.

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
    for c in range(2):
        gb[c] = 0.0
        for f in range(F):
            for k in range(3):
                gw[c, f, k] = 0.0
    for r in range(R):
        for c in range(2):
            sb = 0.0
            for j in range(L - 2):
                if h[r, c, j] > 0.0:
                    sb += g[r, c, j]
            gb[c] += sb
            for f in range(F):
                s0 = 0.0
                s1 = 0.0
                s2 = 0.0
                for j in range(L - 2):
                    gv = g[r, c, j] if h[r, c, j] > 0.0 else 0.0
                    s0 += gv * x[r, f, j]
                    s1 += gv * x[r, f, j + 1]
                    s2 += gv * x[r, f, j + 2]
                gw[c, f, 0] += s0
                gw[c, f, 1] += s1
                gw[c, f, 2] += s2
