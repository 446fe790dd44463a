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
from ._simplex_kernels import NO_CONVERGENCE, NOT_PD, OK, qp_batch

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
    if y0 is None:
        y = np.full(n, 1.0 / n)
    else:  # a feasible start is kept as it is: re-projecting could unzero its zeros
        y = np.maximum(np.asarray(y0, dtype=np.float64), 0.0)
        y = y / y.sum() if y.sum() > 0 else np.full(n, 1.0 / n)
    free = y > 0.0
    y[~free] = 0.0
    scale = max(float(np.max(np.abs(Q))), float(np.max(np.abs(c))), 1.0)
    thresh = tol * scale
    max_iter = 10 * n + 50 if max_iter is None else max_iter
    yk = y[None, :].copy()
    status = qp_batch(
        np.ascontiguousarray(Q[None]),
        np.zeros(1, dtype=np.int64),
        np.ascontiguousarray(c[None]),
        yk,
        float(tol),
        int(max_iter),
    )
    if status[0] == OK:
        return yk[0]
    if status[0] == NO_CONVERGENCE:
        raise ConvergenceError(
            f"simplex_qp did not converge in {max_iter} active-set iterations; "
            "check that Q is positive definite"
        )
    # a Cholesky pivot of some Q_FF was not positive: the LU path below decides
    for _ in range(max_iter):
        g = Q @ y + c
        idx = np.flatnonzero(free)
        m = idx.size
        kkt = np.empty((m + 1, m + 1))
        kkt[:m, :m] = Q[np.ix_(idx, idx)]
        kkt[:m, m] = -1.0
        kkt[m, :m] = -1.0
        kkt[m, m] = 0.0
        sol = np.linalg.solve(kkt, np.append(-g[idx], 0.0))
        p = sol[:m]
        nu = sol[m]
        moved = np.max(np.abs(p)) > tol * max(1.0, float(np.max(y)))
        if moved:
            neg = p < 0.0
            alpha = 1.0
            block = -1
            if np.any(neg):
                ratios = -y[idx[neg]] / p[neg]
                k = int(np.argmin(ratios))
                if ratios[k] < 1.0:
                    alpha = float(ratios[k])
                    block = int(idx[neg][k])
            y[idx] += alpha * p
            if block >= 0:
                y[block] = 0.0
                free[block] = False
                continue
            # a full step lands on the optimum of the free set, where the gradient of
            # the free coordinates equals nu: check the bound multipliers right away
            g = Q @ y + c
        mult = g - nu
        mult[free] = 0.0
        j = int(np.argmin(mult))
        if mult[j] >= -thresh:
            y = np.maximum(y, 0.0)
            return y / y.sum()
        free[j] = True
    raise ConvergenceError(
        f"simplex_qp did not converge in {max_iter} active-set iterations; "
        "check that Q is positive definite"
    )


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
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    c = np.ascontiguousarray(c, dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    E, n = c.shape
    y = np.ascontiguousarray(simplex_rows(y0, E, n))
    max_iter = 10 * n + 50 if max_iter is None else max_iter
    status = qp_batch(Q, rows, c, y, float(tol), int(max_iter))
    if np.any(status == NO_CONVERGENCE):
        raise ConvergenceError(
            f"simplex_qp_batch left {int(np.sum(status == NO_CONVERGENCE))} of {E} problems "
            f"open after {max_iter} iterations; check that every Q is positive definite"
        )
    lu = np.flatnonzero(status == NOT_PD)
    if lu.size:  # the LU path on the problems whose Cholesky pivots failed
        Ql, cl = Q[rows[lu]], c[lu]
        scale = np.maximum(np.maximum(np.abs(Ql).max(axis=(1, 2)), np.abs(cl).max(axis=1)), 1.0)
        y[lu] = _qp_batch_lu(Ql, cl, simplex_rows(y0, E, n)[lu], tol * scale, tol, max_iter)
    return y


def _qp_batch_lu(
    Q: np.ndarray, c: np.ndarray, y: np.ndarray, thresh: np.ndarray, tol: float, max_iter: int
) -> np.ndarray:
    """Run the batch's active-set steps in NumPy, each bordered system by LU.

    The reference for the compiled loop (the tests compare the two) and its fallback when
    a free block is not positive definite to working precision.
    """
    E, n = c.shape
    free = y > 0.0
    y[~free] = 0.0
    open_ = np.arange(E)
    for _ in range(max_iter):
        if open_.size == 0:
            return y
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
    if open_.size == 0:
        return y
    raise ConvergenceError(
        f"simplex_qp_batch left {open_.size} of {E} problems open after {max_iter} "
        "iterations; check that every Q is positive definite"
    )
