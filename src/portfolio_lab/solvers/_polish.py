"""Exact active-set polish of an approximate ADMM solution (one frontier point at a time).

Given a guess of which weights sit at a bound and which inequality rows bind, the QP
reduces to an equality-constrained QP on the free weights, whose KKT system is solved
directly. The result is then verified: free weights inside their bounds, bound
multipliers of the right sign, inactive rows satisfied, active inequality multipliers of
the right sign. A wrong guess is corrected by a primal-dual active-set step (free a weight
whose multiplier has the wrong sign, fix a weight that left its box) and the solve is
repeated, up to ``max_steps`` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._backend import cho_solve, cholesky, to_numpy
from .._backend import device as _dev
from ._admm import BoxQP

__all__ = ["PolishResult", "initial_active_set", "polish_column"]


@dataclass
class PolishResult:
    """Outcome of polishing one column.

    Attributes
    ----------
    success : bool
        The KKT conditions hold within tolerance for the final active set.
    x : array, shape (N,)
        Polished point (scaled problem).
    lam : list of float, length g
        Multipliers of the general rows (0 for inactive rows); ``P x = Gᵀλ + ζ``.
    zeta : array, shape (n,)
        Multipliers of the weight bounds (positive at a lower bound, negative at an upper).
    dual_residual : float
        ``‖P x − Gᵀλ − ζ‖∞`` plus multiplier sign violations (scaled problem).
    steps : int
        Active-set solves performed.
    """

    success: bool
    x: Any
    lam: list[float]
    zeta: Any
    dual_residual: float
    steps: int


def initial_active_set(qp: BoxQP, j: int, z: list[Any], y: list[Any]) -> tuple[Any, list[int]]:
    """Guess the active set of column ``j`` from ADMM iterates (OSQP's rule).

    Returns
    -------
    fix : array of int64, shape (n,)
        -1 at the lower bound, +1 at the upper bound, 0 free.
    gact : list of int, length g
        2 equality, -1 lower bound active, +1 upper bound active, 0 inactive.
    """
    xp = qp.xp
    n = qp.n
    fix = xp.zeros((n,), dtype=xp.int64, device=_dev(qp.P))
    for b, zb, yb in zip(qp.blocks, z[1:], y[1:], strict=True):
        zc, yc = zb[:, j], yb[:, j]
        low_act = (zc - b.lower) < -yc
        up_act = (b.upper - zc) < yc
        if b.side in ("both", "lower"):
            fix = xp.where(low_act, -1, fix)
        if b.side in ("both", "upper"):
            fix = xp.where(up_act, 1, fix)
    fix = xp.where(qp.lo == qp.hi, -1, fix)
    gact = []
    zg, yg = z[0], y[0]
    for i in range(int(qp.G.shape[0])):
        lo_i, up_i = float(qp.gl[i, j]), float(qp.gu[i, j])
        if lo_i == up_i:
            gact.append(2)
            continue
        zi, yi = float(zg[i, j]), float(yg[i, j])
        if zi - lo_i < -yi:
            gact.append(-1)
        elif up_i - zi < yi:
            gact.append(1)
        else:
            gact.append(0)
    return fix, gact


def _kkt_solve_spd(H: Any, C: Any, top: Any, bot: Any, xp: Any) -> tuple[Any, Any]:
    """Solve ``[[H, Cᵀ], [C, 0]] [u; ν] = [top; bot]`` for SPD ``H`` by a Schur complement.

    One Cholesky factor of ``H`` and one ``(r, 1 + m)`` solve; the ``m × m`` Schur system
    (``m ≤ 3``) uses a pseudo-inverse so a rank-deficient ``C`` (a target at the edge of
    the attainable range) still gives the least-norm multipliers. Falls back to the
    regularized LU path when ``H`` is not positive definite.
    """
    r, m = int(H.shape[0]), int(C.shape[0])
    low = cholesky(H, xp) if r else None
    if low is None:
        return _kkt_solve(H, C, top, bot, xp)
    rhs = xp.concat([top[:, None], xp.matrix_transpose(C)], axis=1)
    sol = cho_solve(low, rhs, xp)
    u0, V = sol[:, 0], sol[:, 1:]
    if m == 0:
        return u0, xp.zeros((0,), dtype=xp.float64, device=_dev(H))
    S = C @ V
    nu = xp.linalg.pinv(S, rtol=1e-13) @ (C @ u0 - bot)
    u = u0 - V @ nu
    return u, nu


def _kkt_solve(H: Any, C: Any, top: Any, bot: Any, xp: Any) -> tuple[Any, Any]:
    """Solve ``[[H, Cᵀ], [C, 0]] [u; ν] = [top; bot]`` (regularized, iteratively refined)."""
    r, m = int(H.shape[0]), int(C.shape[0])
    dev = _dev(H)
    K = xp.zeros((r + m, r + m), dtype=xp.float64, device=dev)
    K[:r, :r] = H
    K[:r, r:] = xp.matrix_transpose(C)
    K[r:, :r] = C
    scale = float(xp.max(xp.abs(H))) if r else 1.0
    delta = 1e-13 * max(scale, 1e-300)
    reg = xp.concat(
        [
            xp.full((r,), delta, dtype=xp.float64, device=dev),
            xp.full((m,), -delta, dtype=xp.float64, device=dev),
        ]
    )
    Kr = K + xp.eye(r + m, dtype=xp.float64, device=dev) * reg[None, :]
    rhs = xp.concat([top, bot])
    sol = xp.linalg.solve(Kr, rhs[:, None])[:, 0]
    for _ in range(4):
        res = rhs - K @ sol
        sol = sol + xp.linalg.solve(Kr, res[:, None])[:, 0]
    return sol[:r], sol[r:]


def _solve_active(
    qp: BoxQP, j: int, fix: Any, gact: list[int]
) -> tuple[Any, Any, list[int], Any, Any]:
    """Solve the equality-constrained QP of an active set; return ``x``, ``λ``, rows, ``Gx``."""
    xp = qp.xp
    n = qp.n
    dev = _dev(qp.P)
    free = xp.nonzero(fix == 0)[0]
    rows = [i for i, a in enumerate(gact) if a != 0]
    b = [float(qp.gu[i, j]) if gact[i] == 1 else float(qp.gl[i, j]) for i in rows]
    bvec = xp.asarray(b, dtype=xp.float64, device=dev)
    rows_idx = xp.asarray(rows, dtype=xp.int64, device=dev)
    g_act = xp.take(qp.G, rows_idx, axis=0)
    bound_val = xp.where(fix == -1, qp.lo, xp.where(fix == 1, qp.hi, 0.0))
    bound_val = xp.where(fix == 0, 0.0, bound_val)
    if not qp.homogeneous:
        t0 = bound_val
        H = xp.take(xp.take(qp.P, free, axis=0), free, axis=1)
        h = xp.take(qp.P, free, axis=0) @ t0
        C = xp.take(g_act, free, axis=1)
        rhs = bvec - g_act @ t0
        u, nu = _kkt_solve_spd(H, C, -h, rhs, xp)
        x = xp.asarray(t0, copy=True)
        x[free] = u
    else:
        r = int(free.shape[0])
        T = xp.zeros((n + 1, r + 1), dtype=xp.float64, device=dev)
        T[free, xp.arange(r, device=dev)] = 1.0
        T[:n, r] = bound_val
        T[n, r] = 1.0
        H = xp.matrix_transpose(T) @ (qp.P @ T)
        C = g_act @ T
        u, nu = _kkt_solve(H, C, xp.zeros((r + 1,), dtype=xp.float64, device=dev), bvec, xp)
        x = T @ u
    return x, -nu, rows, g_act, bvec


def polish_column(
    qp: BoxQP, j: int, fix: Any, gact: list[int], *, tol: float = 1e-9, max_steps: int = 30
) -> PolishResult:
    """Polish column ``j`` starting from the active set ``(fix, gact)``.

    Parameters
    ----------
    qp : BoxQP
        The (scaled) batch problem.
    j : int
        Column (frontier point) to polish.
    fix : array of int64, shape (n,)
        Initial bound activity of the weights (-1 lower, +1 upper, 0 free).
    gact : list of int, length g
        Initial activity of the general rows.
    tol : float
        Relative tolerance of the primal and dual checks.
    max_steps : int
        Maximum number of active-set solves.

    Returns
    -------
    PolishResult
    """
    xp = qp.xp
    n = qp.n
    pinned = qp.lo == qp.hi
    seen: set[tuple[bytes, tuple[int, ...]]] = set()
    gact = list(gact)
    x = lam_full = zeta = None
    dres = float("inf")
    for step in range(1, max_steps + 1):
        x, lam, rows, g_act, bvec = _solve_active(qp, j, fix, gact)
        lam_full = [0.0] * int(qp.G.shape[0])
        for i, v in zip(rows, [float(t) for t in lam], strict=True):
            lam_full[i] = v
        lam_vec = xp.asarray(lam_full, dtype=xp.float64, device=_dev(qp.P))
        px = qp.P @ x
        gtl = xp.matrix_transpose(qp.G) @ lam_vec
        grad = px - gtl
        zeta = grad[:n]
        s = float(x[n]) if qp.homogeneous else 1.0
        xmain = x[:n]
        xscale = max(1.0, float(xp.max(xp.abs(x))))
        tp = tol * xscale
        td = tol * (float(xp.max(xp.abs(px))) + float(xp.max(xp.abs(gtl)))) + 1e-300
        lo_s = xp.where(xp.isinf(qp.lo), qp.lo, qp.lo * s)
        hi_s = xp.where(xp.isinf(qp.hi), qp.hi, qp.hi * s)
        free = fix == 0
        viol_lo = xp.logical_and(free, xmain < lo_s - tp)
        viol_hi = xp.logical_and(free, xmain > hi_s + tp)
        bad_l = xp.logical_and(xp.logical_and(fix == -1, zeta < -td), ~pinned)
        bad_u = xp.logical_and(xp.logical_and(fix == 1, zeta > td), ~pinned)
        gx = qp.G @ x
        eq_res = float(xp.max(xp.abs(g_act @ x - bvec))) if rows else 0.0
        new_gact = list(gact)
        for i, a in enumerate(gact):
            lo_i, up_i = float(qp.gl[i, j]), float(qp.gu[i, j])
            gxi = float(gx[i])
            if a == -1 and lam_full[i] < -td:
                new_gact[i] = 0
            elif a == 1 and lam_full[i] > td:
                new_gact[i] = 0
            elif a == 0 and gxi < lo_i - tp:
                new_gact[i] = -1
            elif a == 0 and gxi > up_i + tp:
                new_gact[i] = 1
        # dual residual: stationarity with sign-projected bound multipliers, + sign errors
        zproj = xp.where(
            fix == -1, xp.maximum(zeta, 0.0), xp.where(fix == 1, xp.minimum(zeta, 0.0), 0.0)
        )
        zproj = xp.where(pinned, zeta, zproj)
        sign_err = 0.0
        for i, a in enumerate(gact):
            if a == -1:
                sign_err = max(sign_err, -lam_full[i])
            elif a == 1:
                sign_err = max(sign_err, lam_full[i])
        dres = max(float(xp.max(xp.abs(zeta - zproj))) if n else 0.0, sign_err)
        changed = bool(xp.any(viol_lo | viol_hi | bad_l | bad_u)) or new_gact != gact
        ok_s = (not qp.homogeneous) or s > 0
        if not changed and eq_res <= tp and ok_s:
            return PolishResult(True, x, lam_full, zeta, dres, step)
        if not changed:
            break
        fix = xp.where(viol_lo, -1, fix)
        fix = xp.where(viol_hi, 1, fix)
        fix = xp.where(xp.logical_or(bad_l, bad_u), 0, fix)
        gact = new_gact
        key = (to_numpy(fix).tobytes(), tuple(gact))
        if key in seen:
            break
        seen.add(key)
    return PolishResult(False, x, lam_full or [], zeta, dres, max_steps)
