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

#: Floating-point flags of the kernels whose loops are dot products and sums: reassociation
#: lets the compiler vectorize the reductions (4 lanes on AVX2), contraction fuses
#: multiply-adds. No flag assumes finite values (``select_event`` compares with −∞ and
#: keeps the default flags). Results change in the last bits only; the walk's KKT
#: residuals are checked in the tests as before.
_REASSOC = {"reassoc", "contract"}

__all__ = [
    "forward_solve",
    "back_solve_rows",
    "delete_position",
    "select_event",
    "segment",
    "enter",
    "segment_weights",
    "event",
    "max_abs_diff",
]


@njit(cache=True, nogil=True, fastmath=_REASSOC)
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


@njit(cache=True, nogil=True, fastmath=_REASSOC)
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
    # rows of L below p: shift up while applying the rotations found so far. Row i needs
    # rotations 0 .. i-1 before it yields rotation i; four rows at a time apply the
    # rotations their predecessors found together (four independent chains), then finish
    # their own small triangle in order. Row i moves to row i-1 in place: a row's
    # destination is its predecessor's source, which that predecessor has already read.
    i = 0
    while i + 4 <= m:
        s0 = p + 1 + i
        for r in range(4):
            for q in range(p):
                L[s0 + r - 1, q] = L[s0 + r, q]
        x0, x1, x2, x3 = _rotate_four(L, s0, -1, p, i, cs, sn)
        _finish_row(L, k, p, i, i, x0, cs, sn)
        _finish_row(L, k, p, i + 1, i, x1, cs, sn)
        _finish_row(L, k, p, i + 2, i, x2, cs, sn)
        _finish_row(L, k, p, i + 3, i, x3, cs, sn)
        i += 4
    while i < m:
        src = p + 1 + i
        for q in range(p):
            L[src - 1, q] = L[src, q]
        _finish_row(L, k, p, i, 0, L[src, p], cs, sn)
        i += 1
    for q in range(k):  # the freed last row
        L[k - 1, q] = 0.0
    # the rows of R, four at a time (four independent rotation chains keep the
    # floating-point units busy; one row's chain is a sequence of dependent updates)
    r = 0
    while r + 4 <= nr:
        _rotate_four(R, r, 0, p, m, cs, sn)
        R[r, k - 1] = 0.0
        R[r + 1, k - 1] = 0.0
        R[r + 2, k - 1] = 0.0
        R[r + 3, k - 1] = 0.0
        r += 4
    while r < nr:
        _rotate_row(R, r, p, k, m, cs, sn)
        r += 1
    for r in range(3):
        _rotate_row(Y, r, p, k, m, cs, sn)


@njit(cache=True, nogil=True, inline="always")
def _rotate_four(
    A: np.ndarray, r: int, shift: int, p: int, m: int, cs: np.ndarray, sn: np.ndarray
) -> tuple[float, float, float, float]:  # pragma: no cover
    """Apply rotations ``0 .. m-1`` to rows ``r .. r+3`` of ``A`` together.

    Row ``r + j``'s column ``p + 1 + t`` rotated against its running entry (which starts at
    column ``p``) lands in column ``p + t`` of row ``r + j + shift`` (``shift`` −1: the
    factor's rows move up as they are rotated). The four chains are independent, so the
    floating-point units work on four dependent sequences at once.

    Returns
    -------
    tuple of float
        The four running entries after the rotations.
    """
    x0 = A[r, p]
    x1 = A[r + 1, p]
    x2 = A[r + 2, p]
    x3 = A[r + 3, p]
    d = r + shift
    for t in range(m):
        c = cs[t]
        s = sn[t]
        q = p + 1 + t
        a0 = A[r, q]
        a1 = A[r + 1, q]
        a2 = A[r + 2, q]
        a3 = A[r + 3, q]
        A[d, q - 1] = c * a0 + s * x0
        A[d + 1, q - 1] = c * a1 + s * x1
        A[d + 2, q - 1] = c * a2 + s * x2
        A[d + 3, q - 1] = c * a3 + s * x3
        x0 = c * x0 - s * a0
        x1 = c * x1 - s * a1
        x2 = c * x2 - s * a2
        x3 = c * x3 - s * a3
    return x0, x1, x2, x3


@njit(cache=True, nogil=True, inline="always")
def _finish_row(
    L: np.ndarray,
    k: int,
    p: int,
    i: int,
    done: int,
    x: float,
    cs: np.ndarray,
    sn: np.ndarray,
) -> None:  # pragma: no cover
    """Row ``i`` of the delete: rotations ``done .. i-1``, then its own rotation ``i``.

    ``x`` is the row's running entry after rotations ``0 .. done-1`` (already applied and
    written); the row is written to its destination ``p + i`` and zeroed past the diagonal.
    """
    src = p + 1 + i
    dst = p + i
    x = _rotate_span(L, src, dst, p, done, i, x, cs, sn)
    a = L[src, p + 1 + i]
    rr = math.hypot(a, x)
    cs[i] = a / rr
    sn[i] = x / rr
    L[dst, p + i] = rr
    for q in range(p + i + 1, k):
        L[dst, q] = 0.0


@njit(cache=True, nogil=True, inline="always")
def _rotate_span(
    A: np.ndarray,
    src: int,
    dst: int,
    p: int,
    t0: int,
    t1: int,
    x: float,
    cs: np.ndarray,
    sn: np.ndarray,
) -> float:  # pragma: no cover
    """Apply rotations ``t0 .. t1-1`` to one row; return its running entry after them.

    Column ``p + 1 + t`` of row ``src``, rotated against the running entry ``x``, is
    written to column ``p + t`` of row ``dst``.
    """
    for t in range(t0, t1):
        a = A[src, p + 1 + t]
        A[dst, p + t] = cs[t] * a + sn[t] * x
        x = cs[t] * x - sn[t] * a
    return x


@njit(cache=True, nogil=True, inline="always")
def _rotate_row(
    A: np.ndarray, r: int, p: int, k: int, m: int, cs: np.ndarray, sn: np.ndarray
) -> None:  # pragma: no cover
    """Apply the delete's rotations to row ``r`` of ``A`` (columns ``p .. k-1``)."""
    _rotate_span(A, r, r, p, 0, m, A[r, p], cs, sn)
    A[r, k - 1] = 0.0


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


@njit(cache=True, nogil=True, fastmath=_REASSOC)
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


@njit(cache=True, nogil=True, fastmath=_REASSOC)
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


@njit(cache=True, nogil=True)
def segment_weights(
    w: np.ndarray,
    fidx: np.ndarray,
    k: int,
    alpha: np.ndarray,
    beta: np.ndarray,
    lam: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:  # pragma: no cover
    """All weights at ``lam`` on the current segment.

    The bound assets keep ``w``; free asset ``fidx[t]`` gets ``α_t + λβ_t`` clipped to
    its box (the clip only removes rounding: a weight that just reached its bound can
    land one ulp beyond it).

    Returns
    -------
    numpy.ndarray, shape (n,)
        A new array.
    """
    out = w.copy()
    for t in range(k):
        i = fidx[t]
        v = alpha[t] + lam * beta[t]
        if v < lo[i]:
            v = lo[i]
        elif v > hi[i]:
            v = hi[i]
        out[i] = v
    return out


@njit(cache=True, nogil=True)
def event(
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
    st: np.ndarray,
    pos: np.ndarray,
    fidx: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lam_c: float,
    last_changed: int,
    lam_tol: float,
    slope_tol: float,
    zero_lam: float,
):  # pragma: no cover
    """One event of the walk: the segment, the next event and the weights there.

    :func:`segment`, :func:`select_event` and :func:`segment_weights` (at ``λ = 0`` when
    the event's ``λ`` is at or below ``zero_lam``) in one compiled call instead of three,
    which keeps the walk's per-event Python overhead (the dispatcher's argument checks)
    small.

    Returns
    -------
    alpha, beta, g0, g1, z0, z1
        As :func:`segment`.
    j : int
        Asset of the event.
    lam_e : float
        Its ``λ`` (``−inf`` when nothing happens).
    w_e : numpy.ndarray, shape (n,)
        All weights at ``max(lam_e, 0)`` (``λ = 0`` below ``zero_lam``).
    """
    alpha, beta, g0, g1, z0, z1 = segment(L, k, Y, X, bidx, nb, UVC, cB, m, w, rho)
    j, lam_e = select_event(
        st, pos, z0, z1, alpha, beta, lo, hi, lam_c, last_changed, lam_tol, slope_tol
    )
    lam_w = lam_e if lam_e > zero_lam else 0.0
    w_e = segment_weights(w, fidx, k, alpha, beta, lam_w, lo, hi)
    return alpha, beta, g0, g1, z0, z1, j, lam_e, w_e


@njit(cache=True, nogil=True)
def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:  # pragma: no cover
    """``max|a - b|`` in one pass (no temporaries; the walk asks it once per corner)."""
    out = 0.0
    for i in range(a.size):
        d = abs(a[i] - b[i])
        if d > out:
            out = d
    return out
