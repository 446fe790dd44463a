"""Compiled CPU path of the Markowitz layer (numba): checks, active-set solves, backward.

The batched torch solver of :mod:`portfolio_lab.layers._active_set` runs the same steps
on any device as a few dozen batched calls per step; on a CPU the problems are small
(a free block of tens of assets) and those calls cost more in dispatch, padding and
gathers than in arithmetic. These loops solve one member at a time with the same rules:

- :func:`check_cov`: one pass over each ``Σ`` for finiteness, its size and its largest
  asymmetry, then a Cholesky factorization of the lower triangle (its pivot: LAPACK's
  ``info``), the layer's one ``O(n³)`` step;
- :func:`active_set`: the start (water-filling for the utility, every weight free for a
  target), then the primal-dual active-set steps of ``_active_set._step`` on the free
  block (Cholesky of ``aΣ_FF``, Schur complement of the ``m ≤ 2`` equality rows, its
  pseudo-inverse at relative cutoff 1e-13), until the set repeats;
- :func:`backward`: the implicit derivative of the free-set KKT system (the factor is
  rebuilt from the final set: ``O(k³)``, cheaper than keeping ``B`` padded factors) and
  ``∂ℓ/∂Σ = −(a/2)(d wᵀ + w dᵀ)`` written in one pass.

The member's problem is ``min ½ a wᵀΣw − qᵀw  s.t.  C w = c,  lo ≤ w ≤ hi`` with
``q = μ, C = 1ᵀ, c = 1`` (utility) or ``q = 0, C = [1ᵀ; μᵀ], c = [1; r]`` (target). ``Σ``
of member ``b`` is ``cov[cmap[b]]`` (one matrix broadcast over a batch is read once).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._active_set import TOL as _ACTIVE_SET_TOL

__all__ = ["check_cov", "active_set", "backward", "TOL", "PINV_RTOL"]

TOL = _ACTIVE_SET_TOL  # the primal and dual tests' relative tolerance, one definition
#: Relative cutoff of the Schur complement's pseudo-inverse (as ``torch.linalg.pinv``).
PINV_RTOL = 1e-13

#: Reassociation lets the compiler vectorize the dot products; no flag assumes finite values.
_REASSOC = {"reassoc", "contract"}


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _crout(A, L, k):  # pragma: no cover - compiled
    """Lower Cholesky factor of ``A[:k, :k]`` into ``L`` (Crout, four rows at a time).

    Each read of the pivot row serves four dot products. ``A`` and ``L`` may be the same
    array (the factor overwrites the lower triangle it has read). Returns 0, or the
    1-based pivot that is not positive and finite.
    """
    for j in range(k):
        s = A[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if not (0.0 < s < math.inf):
            return j + 1
        d = math.sqrt(s)
        L[j, j] = d
        inv = 1.0 / d
        i = j + 1
        while i + 3 < k:
            s0, s1, s2, s3 = A[i, j], A[i + 1, j], A[i + 2, j], A[i + 3, j]
            for p in range(j):
                x = L[j, p]
                s0 -= L[i, p] * x
                s1 -= L[i + 1, p] * x
                s2 -= L[i + 2, p] * x
                s3 -= L[i + 3, p] * x
            L[i, j] = s0 * inv
            L[i + 1, j] = s1 * inv
            L[i + 2, j] = s2 * inv
            L[i + 3, j] = s3 * inv
            i += 4
        while i < k:
            s = A[i, j]
            for p in range(j):
                s -= L[i, p] * L[j, p]
            L[i, j] = s * inv
            i += 1
    return 0


@njit(cache=True, nogil=True)
def _gap(A):  # pragma: no cover - compiled
    """``max|A − Aᵀ|``, NaN when ``A`` holds a NaN or inf."""
    n = A.shape[0]
    gap = 0.0
    for i in range(n):
        for j in range(i):
            g = abs(A[i, j] - A[j, i])
            if not g <= gap:  # NaN-propagating maximum
                gap = g
    return gap


@njit(cache=True, nogil=True)
def _check_one(A, work, out_f, out_size, out_asym, out_info, c):  # pragma: no cover
    """Check one matrix into row ``c`` of the outputs; True when it is fit to solve with.

    Fit: exactly symmetric and the Cholesky factorization of its lower triangle succeeds
    (a NaN or inf in the lower triangle reaches a pivot, in the upper one the gap). Any
    other matrix gets a full pass for finiteness, ``max|Σ|`` and ``max|Σ − Σᵀ|``.
    """
    n = A.shape[0]
    failed = _crout(A, work, n)
    gap = _gap(A) if failed == 0 else 1.0
    if failed == 0 and gap == 0.0:
        big = 0.0
        for j in range(n):  # max|Σᵢⱼ| ≤ max Σᵢᵢ for a positive definite matrix
            big = max(big, A[j, j])
        out_f[c] = True
        out_size[c] = big
        out_asym[c] = 0.0
        out_info[c] = 0
        return True
    ok = True
    big = 0.0
    gap = 0.0
    for i in range(n):
        for j in range(i + 1):
            x = A[i, j]
            y = A[j, i]
            if not (math.isfinite(x) and math.isfinite(y)):
                ok = False
            big = max(big, abs(x), abs(y))
            gap = max(gap, abs(x - y))
    out_f[c] = ok
    out_size[c] = big
    out_asym[c] = gap
    # the pivot of an asymmetric matrix's lower triangle means nothing: it is refactored
    # once symmetrized (``-2``)
    out_info[c] = -1 if not ok else (failed if gap == 0.0 else -2)
    return False


@njit(cache=True, nogil=True)
def check_cov(cov, finite, size, asym, info):  # pragma: no cover - compiled
    """Finiteness, ``max|Σ|``, ``max|Σ − Σᵀ|`` and the Cholesky pivot of each matrix.

    Parameters
    ----------
    cov : ndarray, shape (B, n, n)
    finite : ndarray of bool, shape (B,)
    size, asym : ndarray, shape (B,)
    info : ndarray of int64, shape (B,)
        0 when the Cholesky factorization succeeds, else the 1-based pivot at which it
        fails; -1: not finite; -2: not exactly symmetric (not attempted).
    """
    B, n, _ = cov.shape
    work = np.empty((n, n))
    for b in range(B):
        _check_one(cov[b], work, finite, size, asym, info, b)


@njit(cache=True, nogil=True)
def _cholesky(H, k):  # pragma: no cover - compiled
    """In-place lower Cholesky factor of the leading ``k × k`` block; False if not PD."""
    return _crout(H, H, k) == 0


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _solve(L, k, x):  # pragma: no cover - compiled
    """``x[:k] ← (L Lᵀ)⁻¹ x[:k]`` with the factor's leading block."""
    for i in range(k):
        s = x[i]
        for p in range(i):
            s -= L[i, p] * x[p]
        x[i] = s / L[i, i]
    for i in range(k - 1, -1, -1):
        s = x[i]
        for p in range(i + 1, k):
            s -= L[p, i] * x[p]
        x[i] = s / L[i, i]


@njit(cache=True, nogil=True)
def _pinv_sym(S, m, out):  # pragma: no cover - compiled
    """Pseudo-inverse of a symmetric ``m × m`` matrix (m ≤ 2), cutoff PINV_RTOL × max|λ|."""
    if m == 1:
        out[0, 0] = 0.0 if S[0, 0] == 0.0 else 1.0 / S[0, 0]
        return
    a, b, d = S[0, 0], 0.5 * (S[0, 1] + S[1, 0]), S[1, 1]
    theta = 0.5 * math.atan2(2.0 * b, a - d)  # Jacobi rotation: exact 2 × 2 eigenvectors
    co, si = math.cos(theta), math.sin(theta)
    l1 = co * co * a + 2.0 * co * si * b + si * si * d
    l2 = si * si * a - 2.0 * co * si * b + co * co * d
    cut = PINV_RTOL * max(abs(l1), abs(l2))
    i1 = 1.0 / l1 if abs(l1) > cut else 0.0
    i2 = 1.0 / l2 if abs(l2) > cut else 0.0
    out[0, 0] = i1 * co * co + i2 * si * si
    out[0, 1] = out[1, 0] = i1 * co * si - i2 * co * si
    out[1, 1] = i1 * si * si + i2 * co * co


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _free_block(target, a, mu, S, free, k, H, V, Ssch, Sp):  # pragma: no cover - compiled
    """Factor one member's free block: what its forward solve and its derivative share.

    ``H`` ← the lower Cholesky factor of ``a Σ_FF`` (``F = free[:k]``), ``V`` ← ``H⁻¹C_Fᵀ``
    (one row per equality row: ones, then ``μ_F`` for a target), ``Ssch`` ← ``C_F V`` and
    ``Sp`` ← its pseudo-inverse. Returns False when the block is not positive definite.
    """
    m = 2 if target else 1
    for p in range(k):
        fp = free[p]
        for s in range(p + 1):
            H[p, s] = a * S[fp, free[s]]
    if not _cholesky(H, k):
        return False
    for p in range(k):
        V[0, p] = 1.0
        if target:
            V[1, p] = mu[free[p]]
    for row in range(m):
        _solve(H, k, V[row])
    for l1 in range(m):
        for l2 in range(m):
            acc = 0.0
            for p in range(k):
                acc += (1.0 if l1 == 0 else mu[free[p]]) * V[l2, p]
            Ssch[l1, l2] = acc
    _pinv_sym(Ssch, m, Sp)
    return True


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _reduced(target, a, mu, r, S, lo, hi, fixed, free, H, V, u0, t, st, Ssch, Sp,
             w, nu, zeta, asw):  # fmt: skip  # pragma: no cover - compiled
    """Solve one member's equality-constrained QP on its free set (``_active_set.reduced_factor``).

    Writes ``w``, ``nu``, ``zeta``, ``asw`` (``aΣw``) and returns the free count ``k`` (-1
    if the free block is not positive definite). ``H`` holds the factor, ``V`` the
    columns ``H⁻¹C_Fᵀ``, ``Sp`` the Schur complement's pseudo-inverse.
    """
    n = mu.shape[0]
    k = 0
    has_t = False
    for i in range(n):
        if fixed[i] == 0:
            free[k] = i
            k += 1
            t[i] = 0.0
        elif fixed[i] == -1:
            t[i] = lo[i] if math.isfinite(lo[i]) else 0.0
        else:
            t[i] = hi[i] if math.isfinite(hi[i]) else 0.0
        if t[i] != 0.0:
            has_t = True
    for i in range(n):
        st[i] = 0.0
    if has_t:
        for j in range(n):
            tj = t[j]
            if tj != 0.0:
                for i in range(n):  # Σ symmetric: row j
                    st[i] += S[j, i] * tj
    if not _free_block(target, a, mu, S, free, k, H, V, Ssch, Sp):
        return -1
    for p in range(k):
        fp = free[p]
        u0[p] = (0.0 if target else mu[fp]) - a * st[fp]
    _solve(H, k, u0)
    # residual of the equality rows: c − C t − C_F u0
    res0 = 1.0
    res1 = r
    for i in range(n):
        res0 -= t[i]
        if target:
            res1 -= mu[i] * t[i]
    for p in range(k):
        res0 -= u0[p]
        if target:
            res1 -= mu[free[p]] * u0[p]
    if target:
        nu[0] = Sp[0, 0] * res0 + Sp[0, 1] * res1
        nu[1] = Sp[1, 0] * res0 + Sp[1, 1] * res1
    else:
        nu[0] = Sp[0, 0] * res0
    for i in range(n):
        w[i] = t[i]
    for p in range(k):
        u = u0[p] + V[0, p] * nu[0]
        if target:
            u += V[1, p] * nu[1]
        w[free[p]] += u
    for i in range(n):
        asw[i] = st[i]
    for p in range(k):
        fp = free[p]
        up = w[fp] - t[fp]
        for i in range(n):
            asw[i] += S[fp, i] * up
    for i in range(n):
        asw[i] *= a
        if fixed[i] == 0:
            zeta[i] = 0.0
        else:
            g = asw[i] - (0.0 if target else mu[i]) - nu[0]
            if target:
                g -= nu[1] * mu[i]
            zeta[i] = g
    return k


@njit(cache=True, nogil=True)
def _diagonal_start(a, mu, S, lo, hi, long_only, fixed):  # pragma: no cover - compiled
    """Active set of the diagonal problem (``_active_set._diagonal_start``), in ``fixed``."""
    n = mu.shape[0]
    if long_only:
        order = np.argsort(-mu, kind="mergesort")
        cq = 0.0
        ci = 0.0
        nu = 0.0
        for j in range(n):
            i = order[j]
            inv = 1.0 / (a * S[i, i])
            cq += mu[i] * inv
            ci += inv
            nk = (1.0 - cq) / ci
            if j == 0 or mu[i] + nk > 0:
                nu = nk
            else:
                break
        for i in range(n):
            fixed[i] = 0 if mu[i] + nu > 0 else -1
        return

    def total(v):
        s = 0.0
        for i in range(n):
            x = (mu[i] + v) / (a * S[i, i])
            s += min(max(x, lo[i]), hi[i])
        return s

    big = 0.0
    dmax = 0.0
    lmax = 0.0
    hmax = 0.0
    for i in range(n):
        big = max(big, abs(mu[i]))
        dmax = max(dmax, a * S[i, i])
        if math.isfinite(lo[i]):
            lmax = max(lmax, abs(lo[i]))
        if math.isfinite(hi[i]):
            hmax = max(hmax, abs(hi[i]))
    span = (big + dmax * (1.0 + lmax + hmax)) * 2.0 + 1.0
    low, high = -span, span
    for _ in range(8):
        grow = total(high) < 1.0
        shrink = total(low) > 1.0
        if not (grow or shrink):
            break
        if grow:
            high *= 4.0
        if shrink:
            low *= 4.0
    for _ in range(30):
        mid = 0.5 * (low + high)
        if total(mid) < 1.0:
            low = mid
        else:
            high = mid
    v = 0.5 * (low + high)
    for i in range(n):
        x = min(max((mu[i] + v) / (a * S[i, i]), lo[i]), hi[i])
        if math.isfinite(lo[i]) and x <= lo[i]:
            fixed[i] = -1
        elif math.isfinite(hi[i]) and x >= hi[i]:
            fixed[i] = 1
        else:
            fixed[i] = 0


@njit(cache=True, nogil=True)
def active_set(target, a, mu, r, cov, cmap, lo, hi, start, max_iter, fixed, w, nu, zeta,
               n_iter, settled, check, finite, size, asym, info):  # fmt: skip  # pragma: no cover
    """Solve every member by active-set steps (see the module notes).

    Parameters
    ----------
    target : bool
        The target-return form (else the utility).
    a : ndarray, shape (B,)
    mu : ndarray, shape (B, n)
    r : ndarray, shape (B,)
        Targets (ignored for the utility).
    cov : ndarray, shape (Bc, n, n)
    cmap : ndarray of int64, shape (B,)
        Member → matrix of ``cov``.
    lo, hi : ndarray, shape (n,)
    start : int
        0: start from ``fixed`` as given; 1: long-only water-filling; 2: bounded
        water-filling (bisection); 3: every weight free. Pinned weights (``lo == hi``)
        start at their bound.
    max_iter : int
        Steps before a member is left unsettled; 0 solves once at the given ``fixed``.
    fixed : ndarray of int8, shape (B, n)
        In: the start when ``start == 0``; out: the final set.
    w, zeta : ndarray, shape (B, n)
    nu : ndarray, shape (B, m)
    n_iter : ndarray of int64, shape (B,)
    settled : ndarray of bool, shape (B,)
    check : bool
        Check each matrix of ``cov`` (as :func:`check_cov`, into ``finite``, ``size``,
        ``asym`` and ``info``, shape (Bc,)) the first time a member reads it, while it is
        in cache, and solve only members whose matrix is fit (the others: ``settled``
        False, ``n_iter`` 0).
    finite, size, asym, info : ndarray, shape (Bc,)
        As in :func:`check_cov`; ``info`` must hold -3 (unchecked) where ``check``.

    Returns
    -------
    int
        -1 when every free block was positive definite, else the first member whose block
        was not.
    """
    B, n = mu.shape
    m = 2 if target else 1
    free = np.empty(n, np.int64)
    H = np.empty((n, n))
    V = np.empty((m, n))
    u0 = np.empty(n)
    t = np.empty(n)
    st = np.empty(n)
    asw = np.empty(n)
    Ssch = np.empty((2, 2))
    Sp = np.zeros((2, 2))
    new = np.empty(n, np.int8)
    viol = np.empty(n)
    work = np.empty((n, n)) if check else np.empty((0, 0))
    bad = -1
    for b in range(B):
        S = cov[cmap[b]]
        fx = fixed[b]
        settled[b] = False
        n_iter[b] = 0
        if check:
            c = cmap[b]
            if info[c] == -3:
                _check_one(S, work, finite, size, asym, info, c)
            if info[c] != 0:
                continue
        if start == 1 or start == 2:
            _diagonal_start(a[b], mu[b], S, lo, hi, start == 1, fx)
        elif start == 3:
            fx[:] = 0
        for i in range(n):
            if lo[i] == hi[i]:
                fx[i] = -1
        it = 0
        while True:
            it += 1
            k = _reduced(target, a[b], mu[b], r[b], S, lo, hi, fx, free, H, V, u0, t, st,
                         Ssch, Sp, w[b], nu[b], zeta[b], asw)  # fmt: skip
            if k < 0:
                if bad < 0:
                    bad = b
                break
            n_iter[b] = it
            if max_iter == 0:
                settled[b] = True
                break
            # tolerances (``_active_set._tolerances``)
            wmax = 1.0
            amax = 0.0
            qmax = 0.0
            cmax = 0.0
            for i in range(n):
                wmax = max(wmax, abs(w[b, i]))
                amax = max(amax, abs(asw[i]))
                if not target:
                    qmax = max(qmax, abs(mu[b, i]))
                ctn = nu[b, 0] + (nu[b, 1] * mu[b, i] if target else 0.0)
                cmax = max(cmax, abs(ctn))
            tp = TOL * wmax
            td = TOL * (amax + qmax + cmax) + 1e-300
            # one step (``_active_set._step``)
            nrel = 0
            nfree = 0
            for i in range(n):
                new[i] = fx[i]
                viol[i] = 0.0
                if fx[i] == 0:
                    nfree += 1
                    at_lo = math.isfinite(lo[i]) and w[b, i] <= lo[i] + tp
                    at_hi = math.isfinite(hi[i]) and w[b, i] >= hi[i] - tp
                    if at_lo:
                        new[i] = -1
                    elif at_hi:
                        new[i] = 1
                elif lo[i] != hi[i]:
                    z = zeta[b, i]
                    if (fx[i] == -1 and z < -td) or (fx[i] == 1 and z > td):
                        viol[i] = abs(z)
                        nrel += 1
            limit = max(nfree, 2)
            if nrel > limit:
                order = np.argsort(-viol, kind="mergesort")
                for j in range(limit, n):
                    viol[order[j]] = 0.0
            for i in range(n):
                if viol[i] > 0.0:
                    new[i] = 0
            same = True
            for i in range(n):
                if new[i] != fx[i]:
                    same = False
                    fx[i] = new[i]
            if same:
                settled[b] = True
                break
            if it >= max_iter:
                # the set is the *next* guess; the Python side re-solves unsettled members
                break
    return bad


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def backward(target, a, mu, cov, cmap, fixed, w, g, d, e, dsw, g_cov):  # pragma: no cover
    """Implicit derivative of each member's free-set KKT system (``_function`` notes).

    Parameters
    ----------
    target : bool
    a : ndarray, shape (B,)
    mu : ndarray, shape (B, n)
    cov : ndarray, shape (Bc, n, n)
    cmap : ndarray of int64, shape (B,)
    fixed : ndarray of int8, shape (B, n)
    w, g : ndarray, shape (B, n)
        Weights and ``∂ℓ/∂w`` (finite).
    d : ndarray, shape (B, n)
        Out: ``d`` (zero off the free set).
    e : ndarray, shape (B, m)
        Out: the multipliers' part ``e``.
    dsw : ndarray, shape (B,)
        Out: ``dᵀΣw``.
    g_cov : ndarray, shape (B, n, n) or (0, n, n)
        Out when it has ``B`` rows: ``−(a/2)(d wᵀ + w dᵀ)``, written on ``S × S`` only
        (``S`` the assets where ``d`` or ``w`` is nonzero): it must hold zeros.
    """
    B, n = mu.shape
    m = 2 if target else 1
    free = np.empty(n, np.int64)
    H = np.empty((n, n))
    V = np.empty((m, n))
    y = np.empty(n)
    Ssch = np.empty((2, 2))
    Sp = np.zeros((2, 2))
    vg = np.empty(2)
    for b in range(B):
        S = cov[cmap[b]]
        k = 0
        for i in range(n):
            d[b, i] = 0.0
            if fixed[b, i] == 0:
                free[k] = i
                k += 1
        # positive definite: the forward pass factored the same block
        _free_block(target, a[b], mu[b], S, free, k, H, V, Ssch, Sp)
        for p in range(k):
            y[p] = g[b, free[p]]
        _solve(H, k, y)
        for l1 in range(m):
            acc_g = 0.0
            for p in range(k):
                acc_g += V[l1, p] * g[b, free[p]]
            vg[l1] = acc_g
        for l1 in range(m):
            acc = 0.0
            for l2 in range(m):
                acc += Sp[l1, l2] * vg[l2]
            e[b, l1] = acc
        s_dw = 0.0
        for p in range(k):
            fp = free[p]
            dp = y[p]
            for l1 in range(m):
                dp -= V[l1, p] * e[b, l1]
            d[b, fp] = dp
            acc = 0.0
            for i in range(n):
                acc += S[fp, i] * w[b, i]
            s_dw += dp * acc
        dsw[b] = s_dw
        if g_cov.shape[0] == B:  # zero outside S × S, S = {i : dᵢ ≠ 0 or wᵢ ≠ 0}
            h = -0.5 * a[b]
            ns = 0
            for i in range(n):
                if d[b, i] != 0.0 or w[b, i] != 0.0:
                    free[ns] = i  # (the free list is no longer needed: reused for S)
                    ns += 1
            for p in range(ns):
                i = free[p]
                di = h * d[b, i]
                wi = h * w[b, i]
                for q in range(ns):
                    j = free[q]
                    g_cov[b, i, j] = di * w[b, j] + wi * d[b, j]


#: Size from which :func:`gradient_zeros` maps fresh zero pages: glibc serves smaller
#: blocks from its heap, reusing freed memory (no page faults), and larger ones (its
#: largest dynamic mmap threshold, 32 MiB) from fresh mappings whatever we do.
LAZY_BYTES = 32 * 2**20


def gradient_zeros(shape: tuple[int, ...]):  # noqa: ANN201 - a torch.Tensor
    """Allocate the float64 zeros of the covariances' gradient (written sparsely, CPU).

    The gradient of a member is zero outside its ``S × S`` block. Below
    :data:`LAZY_BYTES` this is ``torch.zeros`` (heap memory, reused from call to call).
    From it, an anonymous private mapping, which reads as zeros and maps a page only when
    it is first written: the backward pass then faults in only the pages of the ``S``
    rows, at 500 assets and a few dozen in ``S`` about one page in ten of the 0.5 GB a
    batch of 256 holds (a page fault costs about 2.5 µs on the 2-core machine; a fresh
    NumPy array this large is also advised onto huge pages, whose first writes cost
    compaction and 2 MB of clearing each).
    """
    import mmap

    import torch

    count = int(np.prod(shape))
    if count * 8 < LAZY_BYTES:
        return torch.zeros(shape, dtype=torch.float64)
    buf = mmap.mmap(-1, count * 8)
    return torch.from_numpy(np.frombuffer(buf, dtype=np.float64, count=count).reshape(shape))


#: Fewest members a thread of :func:`split_rows` takes, and the least work (members × n²)
#: of a split batch: below them the hand-off costs more than the second thread saves (256
#: problems of 20 assets: 2.3 ms on one thread, 3.6 ms split).
MIN_ROWS = 16
MIN_WORK = 2**19

_POOL: dict[int, object] = {}


def split_rows(B: int, call, n: int) -> list:  # noqa: ANN001 - a callable of (start, stop)
    """Run ``call(start, stop)`` over ``[0, B)`` in contiguous pieces on torch's threads.

    The kernels release the GIL (``nogil``) and write disjoint rows, so the pieces run
    in parallel on ``torch.get_num_threads()`` threads (what ``portfolio_lab.timing.
    limit_threads`` and the runner set), one piece each, the first on the calling
    thread; a small batch runs inline.

    Parameters
    ----------
    B : int
        Rows (members).
    call : callable
        ``call(start, stop)`` solves rows ``start .. stop - 1``.
    n : int
        Assets (the work of a row grows as ``n²``).

    Returns
    -------
    list
        ``call``'s results, in row order.
    """
    import concurrent.futures

    import torch

    threads = max(1, min(int(torch.get_num_threads()), B // MIN_ROWS))
    if threads < 2 or B * n * n < MIN_WORK:
        return [call(0, B)]
    pool = _POOL.get(threads)
    if pool is None:
        pool = _POOL[threads] = concurrent.futures.ThreadPoolExecutor(
            threads - 1, thread_name_prefix="markowitz-layer"
        )
    cuts = np.linspace(0, B, threads + 1).astype(np.int64)
    # the calling thread takes the first piece (its caches hold what it just computed)
    futures = [pool.submit(call, int(a), int(b)) for a, b in zip(cuts[1:-1], cuts[2:], strict=True)]
    first = call(0, int(cuts[1]))
    return [first, *(f.result() for f in futures)]
