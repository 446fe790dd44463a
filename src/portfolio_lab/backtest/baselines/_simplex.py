"""Simplex helpers shared by the baselines: Euclidean projection and a simplex QP.

``project_simplex`` is the sort-based Euclidean projection of Duchi, Shalev-Shwartz,
Singer and Chandra (2008). ``simplex_qp`` solves the strictly convex quadratic program
``min ½ yᵀQy + cᵀy`` over the probability simplex by a primal active-set method
(Nocedal & Wright, Algorithm 16.3) that accepts a warm start; ONS uses it for its
projection in the norm induced by ``A`` and BCRP for its projected Newton steps.
"""

from __future__ import annotations

import numpy as np

from ...exceptions import ConvergenceError, InputError
from ._simplex_kernels import NO_CONVERGENCE, NOT_PD, qp_batch

__all__ = ["project_simplex", "simplex_qp", "simplex_qp_batch", "simplex_qp_rows"]


def project_simplex(v: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Project ``v`` onto ``{w : w >= 0, sum(w) = radius}`` in the Euclidean norm.

    Parameters
    ----------
    v : numpy.ndarray, shape (n,)
        Point to project (any real values).
    radius : float, default 1.0
        Sum of the projected vector; must be positive.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The unique closest point of the scaled simplex.

    Raises
    ------
    InputError
        If ``v`` is not a finite 1-D array or ``radius <= 0``.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise InputError(f"project_simplex needs a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InputError("project_simplex got non-finite values; check the update that made them")
    if not radius > 0:
        raise InputError(f"radius must be positive, got {radius}")
    w = _project_sorted(v, radius)
    if abs(w.sum() - radius) > 1e-9 * radius:
        # huge entries (e.g. an update of scale 1e16) lose the radius in rounding; the
        # projection commutes with shifts along 1, so project the shifted vector
        w = _project_sorted(v - v.max(), radius)
    return w


def _project_sorted(v: np.ndarray, radius: float) -> np.ndarray:
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - radius
    k = np.arange(1, v.size + 1)
    support = np.flatnonzero(u - css / k > 0)
    # k = 1 always qualifies in exact arithmetic; rounding can hide it for huge entries
    rho = int(support[-1]) if support.size else 0
    theta = css[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


def simplex_qp(
    Q: np.ndarray,
    c: np.ndarray,
    y0: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int | None = None,
) -> np.ndarray:
    """Minimize ``½ yᵀQy + cᵀy`` subject to ``y >= 0`` and ``sum(y) = 1``.

    A primal active-set method: each iteration solves the equality-constrained problem
    on the current free set (a bordered linear system), steps until a bound blocks, and
    releases the bound with the most negative multiplier once the step vanishes. A
    feasible warm start ``y0`` (e.g. the previous period's solution) usually makes it
    finish in one or two iterations.

    Parameters
    ----------
    Q : numpy.ndarray, shape (n, n)
        Symmetric positive definite matrix.
    c : numpy.ndarray, shape (n,)
        Linear term.
    y0 : numpy.ndarray, shape (n,), optional
        Feasible starting point (clipped at zero and renormalized if slightly off);
        uniform by default.
    tol : float, default 1e-12
        Tolerance on the step and on negative multipliers (relative to ``|c|``, ``|Q|``).
    max_iter : int, optional
        Iteration cap (default ``10 n + 50``).

    Returns
    -------
    numpy.ndarray, shape (n,)
        The minimizer, non-negative and summing to one.

    Raises
    ------
    ConvergenceError
        If the active-set loop does not terminate within ``max_iter`` iterations.
    """
    Q = np.asarray(Q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n = c.size
    if Q.shape != (n, n):
        raise InputError(f"Q must be ({n}, {n}) to match c, got {Q.shape}")
    # a feasible start is kept as it is (clipped and renormalized, never re-projected:
    # re-projecting could unzero its zeros)
    start = None if y0 is None else np.asarray(y0, dtype=np.float64).reshape(1, n)
    y, still_open, max_iter = _solve_stack(Q[None], np.zeros(1), c[None], start, tol, max_iter)
    if still_open:
        raise ConvergenceError(
            f"simplex_qp did not converge in {max_iter} active-set iterations; "
            "check that Q is positive definite"
        )
    return y[0]


def simplex_rows(start: np.ndarray | None, E: int, n: int) -> np.ndarray:
    """Rows of starting points on the simplex: clipped at zero and renormalized.

    Parameters
    ----------
    start : numpy.ndarray, shape (E, n), optional
        Starting points; a row without positive entries (and ``None``) becomes uniform.
    E, n : int
        Number of rows and of coordinates.

    Returns
    -------
    numpy.ndarray, shape (E, n)
        A new array (the input is not modified).
    """
    if start is None:
        return np.full((E, n), 1.0 / n)
    y = np.maximum(np.asarray(start, dtype=np.float64), 0.0)
    s = y.sum(axis=1, keepdims=True)
    return np.where(s > 0, y / np.where(s > 0, s, 1.0), 1.0 / n)


def simplex_qp_batch(
    Q: np.ndarray,
    c: np.ndarray,
    y0: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int | None = None,
) -> np.ndarray:
    """Solve ``E`` independent simplex QPs at once, by :func:`simplex_qp`'s active-set steps.

    The problems run one after the other in one compiled call
    (:func:`~portfolio_lab.backtest.baselines._simplex_kernels.qp_batch`: each bordered
    system through the Cholesky factor of its free block). A problem whose free block is
    not positive definite to working precision is solved again by the NumPy steps of
    :func:`_qp_batch_lu` (every bordered system of the batch by one stacked LU solve),
    which also serve as the tests' reference. The problems are strictly convex, so every
    one reaches the same minimizer as :func:`simplex_qp` (to rounding).

    Parameters
    ----------
    Q : numpy.ndarray, shape (E, n, n)
        Symmetric positive definite matrices.
    c : numpy.ndarray, shape (E, n)
        Linear terms.
    y0 : numpy.ndarray, shape (E, n), optional
        Feasible starting points (clipped at zero and renormalized); uniform by default.
    tol : float, default 1e-12
        As in :func:`simplex_qp`, per problem.
    max_iter : int, optional
        Cap on batch iterations (default ``10 n + 50``).

    Returns
    -------
    numpy.ndarray, shape (E, n)
        The minimizers, row by row.

    Raises
    ------
    ConvergenceError
        If some problem is still open after ``max_iter`` iterations.
    """
    Q = np.asarray(Q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if c.ndim != 2 or Q.shape != (*c.shape, c.shape[1]):
        raise InputError(
            f"simplex_qp_batch needs Q (E, n, n) and c (E, n), got {Q.shape}, {c.shape}"
        )
    E, n = c.shape
    return simplex_qp_rows(Q, np.arange(E), c, y0, tol=tol, max_iter=max_iter)


def simplex_qp_rows(
    Q: np.ndarray,
    rows: np.ndarray,
    c: np.ndarray,
    y0: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int | None = None,
) -> np.ndarray:
    """:func:`simplex_qp_batch` on the matrices ``Q[rows]``, without copying them out.

    Parameters
    ----------
    Q : numpy.ndarray, shape (K, n, n)
        A stack of symmetric positive definite matrices (C-ordered float64 is used as it
        is; anything else is converted once).
    rows : numpy.ndarray of int, shape (E,)
        Problem ``e`` minimizes ``½ yᵀQ[rows[e]]y + c_eᵀy``.
    c, y0, tol, max_iter
        As in :func:`simplex_qp_batch`.

    Returns
    -------
    numpy.ndarray, shape (E, n)
    """
    E = np.shape(c)[0]
    y, still_open, max_iter = _solve_stack(Q, rows, c, y0, tol, max_iter)
    if still_open:
        raise ConvergenceError(
            f"simplex_qp_batch left {still_open} of {E} problems open after {max_iter} "
            "iterations; check that every Q is positive definite"
        )
    return y


def _solve_stack(
    Q: np.ndarray,
    rows: np.ndarray,
    c: np.ndarray,
    y0: np.ndarray | None,
    tol: float,
    max_iter: int | None,
) -> tuple[np.ndarray, int, int]:
    """Solve the problems ``(Q[rows[e]], c[e])`` from the starts ``y0``.

    The compiled loop first; the problems whose Cholesky pivots failed again by the
    NumPy LU steps. Returns the minimizers, how many problems are still open after
    ``max_iter`` iterations, and the ``max_iter`` used (for the callers' messages).
    """
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    c = np.ascontiguousarray(c, dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    E, n = c.shape
    y = np.ascontiguousarray(simplex_rows(y0, E, n))
    max_iter = 10 * n + 50 if max_iter is None else int(max_iter)
    status = qp_batch(Q, rows, c, y, float(tol), max_iter)
    still_open = int(np.sum(status == NO_CONVERGENCE))
    lu = np.flatnonzero(status == NOT_PD)
    if lu.size:  # the LU path on the problems whose Cholesky pivots failed
        Ql, cl = Q[rows[lu]], c[lu]
        scale = np.maximum(np.maximum(np.abs(Ql).max(axis=(1, 2)), np.abs(cl).max(axis=1)), 1.0)
        y[lu], left = _qp_batch_lu(Ql, cl, simplex_rows(y0, E, n)[lu], tol * scale, tol, max_iter)
        still_open += left
    return y, still_open, max_iter


def _qp_batch_lu(
    Q: np.ndarray, c: np.ndarray, y: np.ndarray, thresh: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, int]:
    """Run the batch's active-set steps in NumPy, each bordered system by LU.

    The reference for the compiled loop (the tests compare the two) and its fallback when
    a free block is not positive definite to working precision. Returns the iterates and
    how many problems are still open after ``max_iter`` iterations.
    """
    E, n = c.shape
    free = y > 0.0
    y[~free] = 0.0
    open_ = np.arange(E)
    for _ in range(max_iter):
        if open_.size == 0:
            break
        Qa, ca, ya, fa = Q[open_], c[open_], y[open_], free[open_]
        rows = np.arange(open_.size)
        g = np.einsum("eij,ej->ei", Qa, ya) + ca
        # the free coordinates of each problem first (a stable sort keeps their order),
        # padded to the largest free set of the batch: the bordered systems are only as
        # large as the supports, which are small for log-optimal portfolios
        order = np.argsort(~fa, axis=1, kind="stable")
        m = int(fa.sum(axis=1).max())
        sub = order[:, :m]
        valid = np.take_along_axis(fa, sub, axis=1)
        kkt = np.zeros((open_.size, m + 1, m + 1))
        block = Qa[rows[:, None, None], sub[:, :, None], sub[:, None, :]]
        both = valid[:, :, None] & valid[:, None, :]
        kkt[:, :m, :m] = np.where(both, block, 0.0) + (np.eye(m, dtype=bool) & ~valid[:, None, :])
        kkt[:, :m, m] = -valid.astype(np.float64)
        kkt[:, m, :m] = kkt[:, :m, m]
        rhs = np.zeros((open_.size, m + 1))
        rhs[:, :m] = np.where(valid, -np.take_along_axis(g, sub, axis=1), 0.0)
        sol = np.linalg.solve(kkt, rhs[:, :, None])[:, :, 0]
        p = np.zeros_like(ya)
        p[rows[:, None], sub] = np.where(valid, sol[:, :m], 0.0)
        nu = sol[:, m]
        moved = np.abs(p).max(axis=1) > tol * np.maximum(1.0, ya.max(axis=1))
        neg = (p < 0.0) & fa & moved[:, None]
        ratios = np.full(p.shape, np.inf)
        np.divide(-ya, p, out=ratios, where=neg)
        k = ratios.argmin(axis=1)
        blocked = ratios[rows, k] < 1.0
        alpha = np.where(blocked, ratios[rows, k], 1.0)
        ya = ya + np.where(moved, alpha, 0.0)[:, None] * p
        ya[rows[blocked], k[blocked]] = 0.0
        fa[rows[blocked], k[blocked]] = False
        g = np.einsum("eij,ej->ei", Qa, ya) + ca
        mult = np.where(fa, 0.0, g - nu[:, None])
        j = mult.argmin(axis=1)
        done = ~blocked & (mult[rows, j] >= -thresh[open_])
        release = ~blocked & ~done
        fa[rows[release], j[release]] = True
        yd = np.maximum(ya[done], 0.0)
        ya[done] = yd / yd.sum(axis=1, keepdims=True)
        y[open_], free[open_] = ya, fa
        open_ = open_[~done]
    return y, int(open_.size)
