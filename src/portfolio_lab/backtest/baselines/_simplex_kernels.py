"""Compiled active-set loop of the simplex QP (numba), one problem at a time.

:func:`~portfolio_lab.backtest.baselines.simplex_qp` and its batch are called tens of
thousands of times by the pattern-matching experts (B^K, B^NN: 51 Newton subproblems a
day over ``n`` = 23-88 assets, three Newton steps a day, for thousands of days). In NumPy
each active-set iteration of a batch costs a dozen small array operations and a stacked
LAPACK solve whose Python overhead outweighs the arithmetic; here the same iterations run
in one compiled call per batch.

The bordered system of a free set ``F``,

    [Q_FF  -1] [p ]   [-g_F]
    [-1ᵀ    0] [nu] = [  0 ],

is solved through the Cholesky factor of ``Q_FF`` (positive definite because ``Q`` is):
``u = Q_FF⁻¹ g_F``, ``v = Q_FF⁻¹ 1``, ``nu = 1ᵀu / 1ᵀv``, ``p = nu v - u``. A pivot that is
not positive (``Q`` not positive definite to working precision) stops the problem with
status :data:`NOT_PD`; the caller then uses the NumPy path (an LU solve of the bordered
system), which either copes or raises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["OK", "NO_CONVERGENCE", "NOT_PD", "qp_batch"]

#: Status of a problem after :func:`qp_batch`: certified optimal.
OK = 0
#: The active-set loop hit ``max_iter``.
NO_CONVERGENCE = 1
#: A Cholesky pivot of some ``Q_FF`` was not positive.
NOT_PD = 2


@njit(cache=True, nogil=True)
def _solve_free(
    Q: np.ndarray, g: np.ndarray, idx: np.ndarray, m: int, L: np.ndarray, p: np.ndarray
) -> float:  # pragma: no cover - compiled; covered through qp_batch
    """Step ``p`` (on ``idx[:m]``) and multiplier ``nu`` of the bordered system; NaN if not PD."""
    for i in range(m):
        qi = idx[i]
        for j in range(i + 1):
            s = Q[qi, idx[j]]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if not s > 0.0:
                    return math.nan
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    # forward and back substitution for u = Q⁻¹ g and v = Q⁻¹ 1 together
    u = np.empty(m)
    v = np.empty(m)
    for i in range(m):
        su = g[idx[i]]
        sv = 1.0
        for k in range(i):
            su -= L[i, k] * u[k]
            sv -= L[i, k] * v[k]
        u[i] = su / L[i, i]
        v[i] = sv / L[i, i]
    for i in range(m - 1, -1, -1):
        su = u[i]
        sv = v[i]
        for k in range(i + 1, m):
            su -= L[k, i] * u[k]
            sv -= L[k, i] * v[k]
        u[i] = su / L[i, i]
        v[i] = sv / L[i, i]
    su = 0.0
    sv = 0.0
    for i in range(m):
        su += u[i]
        sv += v[i]
    nu = su / sv
    for i in range(m):
        p[i] = nu * v[i] - u[i]
    return nu


@njit(cache=True, nogil=True)
def _gradient(
    Q: np.ndarray, c: np.ndarray, y: np.ndarray, g: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``g = Q y + c``."""
    n = c.size
    for i in range(n):
        s = c[i]
        for j in range(n):
            s += Q[i, j] * y[j]
        g[i] = s


@njit(cache=True, nogil=True)
def qp_batch(
    Q: np.ndarray, rows: np.ndarray, c: np.ndarray, y: np.ndarray, tol: float, max_iter: int
) -> np.ndarray:  # pragma: no cover - compiled; tested against the NumPy path
    """Minimize ``½ yᵀQ_e y + c_eᵀy`` over the simplex for each ``e``, in place in ``y``.

    The iterations of :func:`~portfolio_lab.backtest.baselines.simplex_qp`: solve on the
    free set, step until a bound blocks (that coordinate leaves the free set), and after
    an unblocked step release the bound with the most negative multiplier, or stop when
    none is below ``-tol · max(1, max|Q_e|, max|c_e|)``.

    Parameters
    ----------
    Q : numpy.ndarray, shape (K, n, n)
        A stack of matrices; problem ``e`` uses ``Q[rows[e]]`` (so that a caller holding
        more matrices than it solves need not copy the ones it needs).
    rows : numpy.ndarray of int64, shape (E,)
    c : numpy.ndarray, shape (E, n)
    y : numpy.ndarray, shape (E, n)
        Feasible starts (non-negative, summing to one); overwritten by the minimizers.
    tol : float
        Tolerance on the step (relative to ``max(1, max y)``) and on negative multipliers.
    max_iter : int

    Returns
    -------
    numpy.ndarray of int64, shape (E,)
        :data:`OK`, :data:`NO_CONVERGENCE` or :data:`NOT_PD` per problem.
    """
    E, n = c.shape
    status = np.full(E, NO_CONVERGENCE, dtype=np.int64)
    g = np.empty(n)
    idx = np.empty(n, dtype=np.int64)
    p = np.empty(n)
    L = np.empty((n, n))
    for e in range(E):
        Qe = Q[rows[e]]
        ye = y[e]
        scale = 1.0
        for i in range(n):
            scale = max(scale, abs(c[e, i]))
            for j in range(n):
                scale = max(scale, abs(Qe[i, j]))
        thresh = tol * scale
        free = np.empty(n, dtype=np.bool_)
        for i in range(n):
            free[i] = ye[i] > 0.0
            if not free[i]:
                ye[i] = 0.0
        for _ in range(max_iter):
            _gradient(Qe, c[e], ye, g)
            m = 0
            ymax = 0.0
            for i in range(n):
                if free[i]:
                    idx[m] = i
                    m += 1
                if ye[i] > ymax:
                    ymax = ye[i]
            nu = _solve_free(Qe, g, idx, m, L, p)
            if math.isnan(nu):
                status[e] = NOT_PD
                break
            pmax = 0.0
            for i in range(m):
                if abs(p[i]) > pmax:
                    pmax = abs(p[i])
            if pmax > tol * max(1.0, ymax):
                alpha = 1.0
                block = -1
                for i in range(m):
                    if p[i] < 0.0:
                        r = -ye[idx[i]] / p[i]
                        if r < alpha:
                            alpha = r
                            block = idx[i]
                for i in range(m):
                    ye[idx[i]] += alpha * p[i]
                if block >= 0:
                    ye[block] = 0.0
                    free[block] = False
                    continue
                # a full step lands on the optimum of the free set: test the multipliers
                _gradient(Qe, c[e], ye, g)
            jmin = -1
            best = 0.0
            for i in range(n):
                if not free[i]:
                    mult = g[i] - nu
                    if jmin < 0 or mult < best:
                        best = mult
                        jmin = i
            if jmin < 0 or best >= -thresh:
                s = 0.0
                for i in range(n):
                    if ye[i] < 0.0:
                        ye[i] = 0.0
                    s += ye[i]
                for i in range(n):
                    ye[i] /= s
                status[e] = OK
                break
            free[jmin] = True
    return status
