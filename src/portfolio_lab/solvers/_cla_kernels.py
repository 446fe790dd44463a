"""Compiled inner loops of the critical line (numba): triangular solves and factor deletes.

The walk keeps its Cholesky factor ``L`` and the rows ``W`` in preallocated ``(n, n)``
C-ordered buffers of which only the leading ``k`` columns are in use. LAPACK wants
contiguous operands and would copy that leading block on every call (``O(k²)`` of memory
traffic for an ``O(k²)`` solve); these loops work on the buffers in place, row by row,
so each solve reads the triangle once. The products with ``W`` stay in NumPy (BLAS
``gemv`` on a strided view needs no copy).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "forward_solve",
    "back_solve_rows",
    "delete_position",
    "select_event",
    "segment",
    "enter",
]


@njit(cache=True, nogil=True)
def forward_solve(
    L: np.ndarray, k: int, b: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """``out[:k] = L[:k, :k]⁻¹ b[:k]`` for the lower factor (row-oriented dots).

    Parameters
    ----------
    L : numpy.ndarray, shape (N, N)
        Buffer whose leading ``k × k`` block is lower triangular with a positive diagonal.
    k : int
        Size of the block in use.
    b : numpy.ndarray, shape (>= k,)
        Right-hand side.
    out : numpy.ndarray, shape (>= k,)
        Solution (may alias ``b``).
    """
    for t in range(k):
        acc = b[t]
        for q in range(t):
            acc -= L[t, q] * out[q]
        out[t] = acc / L[t, t]


@njit(cache=True, nogil=True)
def back_solve_rows(
    L: np.ndarray, k: int, Y: np.ndarray, X: np.ndarray
) -> None:  # pragma: no cover
    """``X[r, :k] = L[:k, :k]⁻ᵀ Y[r, :k]`` for every row ``r`` (one pass over the triangle).

    Column-oriented: once ``x_t`` is known, row ``t`` of ``L`` (contiguous) is subtracted
    from the remaining right-hand sides.

    Parameters
    ----------
    L : numpy.ndarray, shape (N, N)
        Lower factor buffer (leading ``k × k`` block in use).
    k : int
        Size of the block in use.
    Y : numpy.ndarray, shape (R, >= k)
        Right-hand sides as rows (left unchanged).
    X : numpy.ndarray, shape (R, >= k)
        Solutions as rows.
    """
    nr = Y.shape[0]
    for r in range(nr):
        for t in range(k):
            X[r, t] = Y[r, t]
    for t in range(k - 1, -1, -1):
        d = L[t, t]
        for r in range(nr):
            X[r, t] /= d
        for r in range(nr):
            xt = X[r, t]
            if xt != 0.0:
                for q in range(t):
                    X[r, q] -= xt * L[t, q]


@njit(cache=True, nogil=True)
def delete_position(
    L: np.ndarray, k: int, p: int, R: np.ndarray, nr: int, Y: np.ndarray
) -> None:  # pragma: no cover
    """Remove position ``p`` from the factor and rotate the rows that depend on it.

    With ``L̃`` the factor without row ``p``, Givens rotations ``Q`` on columns ``p..k-1``
    give ``L̃Q = [L' 0]`` (``L'`` lower triangular, ``L'L'ᵀ`` the block without ``p``).
    Any ``A`` with ``A Lᵀ = B`` then satisfies ``(AQ)[:, :k-1] L'ᵀ = B`` without column
    ``p``: the same rotations are applied to the first ``nr`` rows of ``R`` (the ``W``
    rows of the bound assets) and to every row of ``Y`` (the forward-solved right-hand
    sides, ``Lᵀ`` acting from the other side gives the same column rotation). Column
    ``k-1`` of every updated row is zeroed; rows are shifted so that the result occupies
    the leading ``k-1`` positions.

    Parameters
    ----------
    L : numpy.ndarray, shape (N, N)
        Lower factor buffer, updated in place.
    k, p : int
        Current size and the position to delete.
    R : numpy.ndarray, shape (M, N)
        Rows to rotate (first ``nr`` in use), updated in place.
    nr : int
        Number of rows of ``R`` in use.
    Y : numpy.ndarray, shape (3, N)
        Further rows to rotate, updated in place.
    """
    m = k - 1 - p  # rotations
    cs = np.empty(m)
    sn = np.empty(m)
    # rows of L below p: shift up while applying the rotations found so far
    for i in range(m):
        src = p + 1 + i
        dst = p + i
        for q in range(p):
            L[dst, q] = L[src, q]
        x = L[src, p]
        for t in range(i):
            a = L[src, p + 1 + t]
            L[dst, p + t] = cs[t] * a + sn[t] * x
            x = cs[t] * x - sn[t] * a
        a = L[src, p + 1 + i]
        rr = math.hypot(a, x)
        cs[i] = a / rr
        sn[i] = x / rr
        L[dst, p + i] = rr
        for q in range(p + i + 1, k):
            L[dst, q] = 0.0
    for q in range(k):  # the freed last row
        L[k - 1, q] = 0.0
    # the rows of R and Y
    for r in range(nr + 3):
        if r < nr:
            x = R[r, p]
        else:
            x = Y[r - nr, p]
        for t in range(m):
            if r < nr:
                a = R[r, p + 1 + t]
                R[r, p + t] = cs[t] * a + sn[t] * x
            else:
                a = Y[r - nr, p + 1 + t]
                Y[r - nr, p + t] = cs[t] * a + sn[t] * x
            x = cs[t] * x - sn[t] * a
        if r < nr:
            R[r, k - 1] = 0.0
        else:
            Y[r - nr, k - 1] = 0.0


@njit(cache=True, nogil=True)
def select_event(
    st: np.ndarray,
    pos: np.ndarray,
    z0: np.ndarray,
    z1: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lam_c: float,
    last_changed: int,
    lam_tol: float,
    slope_tol: float,
) -> tuple[int, float]:  # pragma: no cover
    """Find the next event below ``lam_c``: the asset and its ``λ`` (first index on ties).

    A bound asset turns when its multiplier ``z0 + λ z1`` reaches zero with the right
    slope; a free asset leaves when ``α + λβ`` reaches a bound; fixed assets never move.
    The asset changed last cannot reverse at the same ``λ`` (within ``lam_tol``).

    Parameters
    ----------
    st, pos : numpy.ndarray of int64, shape (n,)
        Status (−1 lower, +1 upper, 0 free, 2 fixed) and position among the free assets.
    z0, z1 : numpy.ndarray, shape (n,)
        Multipliers of the segment, ``ζ = z0 + λ z1``.
    alpha, beta : numpy.ndarray, shape (k,)
        Free weights ``α + λβ`` in factor order.
    lo, hi : numpy.ndarray, shape (n,)
        Bounds.
    lam_c, lam_tol, slope_tol : float
        Current ``λ`` and the tolerances of the walk.
    last_changed : int
        Asset of the previous event (−1 at the start).

    Returns
    -------
    (int, float)
        Asset index and ``λ`` of the event (``−inf`` when nothing happens).
    """
    n = st.size
    best = -np.inf
    j = 0
    for i in range(n):
        s = st[i]
        c = -np.inf
        if s == 0:
            p = pos[i]
            b = beta[p]
            if b > slope_tol:
                c = (lo[i] - alpha[p]) / b
            elif b < -slope_tol:
                c = (hi[i] - alpha[p]) / b
        elif s == -1:
            if z1[i] > slope_tol:
                c = -z0[i] / z1[i]
        elif s == 1:
            if z1[i] < -slope_tol:
                c = -z0[i] / z1[i]
        if c > lam_c:
            c = lam_c
        if i == last_changed and c >= lam_c - lam_tol:
            c = -np.inf
        if c > best:
            best = c
            j = i
    return j, best


@njit(cache=True, nogil=True)
def segment(
    L: np.ndarray,
    k: int,
    Y: np.ndarray,
    X: np.ndarray,
    bidx: np.ndarray,
    nb: int,
    UVC: np.ndarray,
    cB: np.ndarray,
    m: np.ndarray,
    w: np.ndarray,
    rho: float,
):  # pragma: no cover
    """Compute the current segment from the maintained quantities (``cla._Walk.segment``).

    Returns
    -------
    alpha, beta : numpy.ndarray, shape (k,)
        Free weights ``α + λβ`` in factor order.
    g0, g1 : float
        Budget multiplier ``γ = g0 + λ g1``.
    z0, z1 : numpy.ndarray, shape (n,)
        Bound multipliers ``ζ = z0 + λ z1`` (zero on free assets).
    """
    n = m.size
    s = 1.0
    for t in range(nb):
        s -= w[bidx[t]]
    a1 = 0.0
    am = 0.0
    ac = 0.0
    for t in range(k):
        a1 += Y[0, t] * Y[0, t]
        am += Y[0, t] * Y[1, t]
        ac += Y[0, t] * Y[2, t]
    back_solve_rows(L, k, Y, X)
    ca = (s + ac) / a1
    cb = am / a1
    alpha = np.empty(k)
    beta = np.empty(k)
    for t in range(k):
        alpha[t] = ca * X[0, t] - X[2, t]
        beta[t] = X[1, t] - cb * X[0, t]
    g0 = ca - rho * s
    g1 = -cb
    z0 = np.zeros(n)
    z1 = np.zeros(n)
    for t in range(nb):
        i = bidx[t]
        z0[i] = ca * UVC[0, t] - UVC[2, t] + cB[i] - g0
        z1[i] = UVC[1, t] - cb * UVC[0, t] - m[i] - g1
    return alpha, beta, g0, g1, z0, z1


@njit(cache=True, nogil=True)
def enter(
    j: int,
    S: np.ndarray,
    m: np.ndarray,
    diag: np.ndarray,
    cB: np.ndarray,
    L: np.ndarray,
    W: np.ndarray,
    Y: np.ndarray,
    UVC: np.ndarray,
    bidx: np.ndarray,
    slot: np.ndarray,
    fidx: np.ndarray,
    pos: np.ndarray,
    status: np.ndarray,
    k: int,
    nb: int,
    rho: float,
    piv_tol: float,
) -> bool:  # pragma: no cover
    """Bound asset ``j`` enters: grow the factor, drop its slot, add a column to ``W``.

    The new factor row is ``W_j + ρ y₁`` (``= L⁻¹(Σ̃_{F,j} + ρ1)``); the new column of
    ``W`` is ``(Σ̃_{B,j} − W_B · row) / pivot`` for the remaining bound rows (one pass over
    ``W``, ``O(n|F|)``), and ``U, V, C`` gain one term each. Returns False, changing
    nothing, when the pivot vanishes (singular block). The caller updates ``k`` and ``nb``
    and, when ``j`` sat at a nonzero bound, ``cB`` and ``C``.
    """
    sj = slot[j]
    row = np.empty(k)
    rr = 0.0
    for q in range(k):
        v = W[sj, q] + rho * Y[0, q]
        row[q] = v
        rr += v * v
    piv2 = diag[j] + rho - rr
    if piv2 <= piv_tol * (diag[j] + rho):
        return False
    piv = math.sqrt(piv2)
    for q in range(k):
        L[k, q] = row[q]
    L[k, k] = piv
    last = nb - 1
    if sj != last:
        moved = bidx[last]
        for q in range(k):
            W[sj, q] = W[last, q]
        for r in range(3):
            UVC[r, sj] = UVC[r, last]
        bidx[sj] = moved
        slot[moved] = sj
    for q in range(k + 1):
        W[last, q] = 0.0
    slot[j] = -1
    nb = last
    a0 = 1.0
    a1 = m[j]
    a2 = cB[j]
    for q in range(k):
        a0 -= row[q] * Y[0, q]
        a1 -= row[q] * Y[1, q]
        a2 -= row[q] * Y[2, q]
    y0, y1, y2 = a0 / piv, a1 / piv, a2 / piv
    Y[0, k] = y0
    Y[1, k] = y1
    Y[2, k] = y2
    for t in range(nb):
        acc = S[j, bidx[t]]
        for q in range(k):
            acc -= W[t, q] * row[q]
        c = acc / piv
        W[t, k] = c
        UVC[0, t] += y0 * c
        UVC[1, t] += y1 * c
        UVC[2, t] += y2 * c
    fidx[k] = j
    pos[j] = k
    status[j] = 0
    return True
