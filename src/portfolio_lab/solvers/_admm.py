"""Batched OSQP-style ADMM for the box-structured QPs behind the constrained frontier.

The problem family (one column per frontier point, all columns share ``P``, ``G`` and the
box)::

    minimize    ½ xᵀ P x
    subject to  gl[:, j] ≤ G x ≤ gu[:, j]          (a few dense rows, per-column bounds)
                x_i + c_b,i · x_s ∈ [bl_b,i, bu_b,i]  for every box block b, i < n

where ``x`` has ``n`` main entries plus optionally one homogenizing entry ``x_s`` (the
``κ`` of the max-Sharpe reformulation; without it ``c`` is absent). Every column sees
the same linear system ``P + σI + Aᵀ R A``, so one Cholesky factor serves the whole
batch and each iteration is two triangular solves with a ``(N, k)`` right-hand side.
Only array-namespace operations are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._backend import cho_solve, cholesky
from .._backend import device as _dev
from ..exceptions import NotPositiveDefiniteError

__all__ = ["BoxBlock", "BoxQP", "AdmmState", "AdmmSettings", "admm_init", "admm_iterate"]

RHO_MIN = 1e-6
RHO_MAX = 1e6
EQ_SCALE = 1e3


@dataclass
class BoxBlock:
    """Rows ``x[:n] + c · x_s`` bounded by ``[lower, upper]`` (``c`` is None without ``x_s``).

    Attributes
    ----------
    c : array, shape (n,), or None
        Coefficient of the homogenizing variable.
    lower, upper : arrays, shape (n,)
        Row bounds (±inf allowed).
    side : {"both", "lower", "upper"}
        Which weight bound the block encodes (for the active-set polish).
    """

    c: Any | None
    lower: Any
    upper: Any
    side: str


@dataclass
class BoxQP:
    """A batch of QPs sharing ``P``, ``G`` and the box blocks.

    Attributes
    ----------
    P : array, shape (N, N)
        Positive semidefinite Hessian (positive definite on the main block).
    G : array, shape (g, N)
        Dense general constraint rows.
    gl, gu : arrays, shape (g, k)
        Per-column bounds of the general rows.
    g_eq : tuple of bool, length g
        Whether each general row is an equality for every column.
    blocks : list of BoxBlock
        Box rows.
    n : int
        Number of main variables (``N = n`` or ``n + 1``).
    lo, hi : arrays, shape (n,)
        Weight bounds: ``lo · s ≤ x[:n] ≤ hi · s`` with ``s = 1`` or ``s = x_s``.
    xp : module
        Array namespace.
    """

    P: Any
    G: Any
    gl: Any
    gu: Any
    g_eq: tuple[bool, ...]
    blocks: list[BoxBlock]
    n: int
    lo: Any
    hi: Any
    xp: Any

    @property
    def homogeneous(self) -> bool:
        """Whether the problem carries the extra variable ``x_s``."""
        return int(self.P.shape[0]) == self.n + 1


@dataclass
class AdmmSettings:
    """Tuning of the ADMM iteration (defaults follow OSQP)."""

    sigma: float = 1e-6
    alpha: float = 1.6
    rho: float = 0.1
    eps_abs: float = 1e-7
    eps_rel: float = 1e-6
    check_every: int = 25
    max_iter: int = 4000
    adapt_ratio: float = 5.0


@dataclass
class AdmmState:
    """Iterates of one batch: ``x`` (N, k); ``z``, ``y`` per row group (general, blocks)."""

    x: Any
    z: list[Any]
    y: list[Any]
    rho: float
    low: Any = None
    rho_vecs: list[Any] = field(default_factory=list)


def _rho_vector(lower: Any, upper: Any, rho: float, xp: Any) -> Any:
    """Per-row step: tiny for free rows, large for equalities, ``rho`` otherwise."""
    free = xp.logical_and(xp.isinf(lower), xp.isinf(upper))
    eq = lower == upper
    out = xp.full(lower.shape, rho, dtype=xp.float64)
    out = xp.where(eq, rho * EQ_SCALE, out)
    return xp.where(free, RHO_MIN, out)


def row_bounds(qp: BoxQP) -> list[tuple[Any, Any]]:
    """Return ``(lower, upper)`` of every row block of ``A``: ``G`` rows, then each box block.

    Box bounds come as columns, shape (m, 1), so they broadcast over the k columns of x.
    """
    out = [(qp.gl, qp.gu)]
    for b in qp.blocks:
        out.append((b.lower[:, None], b.upper[:, None]))
    return out


def apply_a(qp: BoxQP, x: Any) -> list[Any]:
    """Return ``A x`` split as ``[G x, block rows...]``; ``x`` has shape (N, k)."""
    out = [qp.G @ x]
    main = x[: qp.n, :]
    for b in qp.blocks:
        if b.c is None:
            out.append(main)
        else:
            out.append(main + b.c[:, None] * x[qp.n : qp.n + 1, :])
    return out


def apply_at(qp: BoxQP, parts: list[Any]) -> Any:
    """Return ``Aᵀ v`` for ``v`` split as ``[general (g, k), blocks (n, k)...]``."""
    xp = qp.xp
    top = xp.matrix_transpose(qp.G) @ parts[0]
    main = xp.zeros_like(top[: qp.n, :])
    extra = None
    for b, v in zip(qp.blocks, parts[1:], strict=True):
        main = main + v
        if b.c is not None:
            term = xp.sum(b.c[:, None] * v, axis=0, keepdims=True)
            extra = term if extra is None else extra + term
    if extra is None:
        return top + main
    return top + xp.concat([main, extra], axis=0)


def _system_matrix(qp: BoxQP, sigma: float, rho_vecs: list[Any]) -> Any:
    xp = qp.xp
    N = int(qp.P.shape[0])
    K = qp.P + sigma * xp.eye(N, dtype=xp.float64, device=_dev(qp.P))
    K = K + xp.matrix_transpose(qp.G) @ (rho_vecs[0] * qp.G)
    n = qp.n
    for b, r in zip(qp.blocks, rho_vecs[1:], strict=True):
        r1 = r[:, 0]
        if b.c is None:
            K = K + _embed_diag(r1, N, xp)
        else:
            rc = r1 * b.c
            block = xp.zeros((N, N), dtype=xp.float64, device=_dev(qp.P))
            block[:n, :n] = _embed_diag(r1, n, xp)
            block[:n, n] = rc
            block[n, :n] = rc
            block[n, n] = xp.sum(rc * b.c)
            K = K + block
    return K


def _embed_diag(v: Any, size: int, xp: Any) -> Any:
    n = int(v.shape[0])
    eye = xp.eye(size, dtype=xp.float64, device=_dev(v))
    d = xp.zeros((size,), dtype=xp.float64, device=_dev(v))
    d[:n] = v
    return eye * d[None, :]


def factorize_system(qp: BoxQP, settings: AdmmSettings, state: AdmmState) -> None:
    """(Re)build the per-row steps for ``state.rho`` and the Cholesky factor of the batch."""
    xp = qp.xp
    rho_vecs = []
    for lower, upper in row_bounds(qp):
        # a row is an equality / free when it is so for every column
        lo_all = xp.min(lower, axis=1)
        up_all = xp.max(upper, axis=1)
        eq_all = xp.all(lower == upper, axis=1)
        r = _rho_vector(lo_all, up_all, state.rho, xp)
        r = xp.where(eq_all, state.rho * EQ_SCALE, r)
        rho_vecs.append(r[:, None])
    K = _system_matrix(qp, settings.sigma, rho_vecs)
    low = cholesky(K, xp)
    if low is None:
        raise NotPositiveDefiniteError(
            "the ADMM system P + σI + ρAᵀA is not positive definite; the covariance matrix "
            "is likely indefinite: use a shrinkage estimator or add a ridge to the diagonal"
        )
    state.low = low
    state.rho_vecs = rho_vecs


def admm_init(qp: BoxQP, x0: Any, settings: AdmmSettings) -> AdmmState:
    """Start from ``x0`` (N, k) with ``z = Π(A x0)`` and zero multipliers, and factorize."""
    xp = qp.xp
    az = apply_a(qp, x0)
    bounds = row_bounds(qp)
    z = [xp.minimum(xp.maximum(a, lo), up) for a, (lo, up) in zip(az, bounds, strict=True)]
    y = [xp.zeros_like(a) for a in az]
    state = AdmmState(x=x0, z=z, y=y, rho=settings.rho)
    factorize_system(qp, settings, state)
    return state


def residuals(qp: BoxQP, state: AdmmState) -> tuple[Any, Any, Any, Any]:
    """Per-column primal/dual residuals and their normalizers, each of shape (k,)."""
    xp = qp.xp
    ax = apply_a(qp, state.x)
    prim = None
    pnorm = None
    for a, z in zip(ax, state.z, strict=True):
        if int(a.shape[0]) == 0:
            continue
        r = xp.max(xp.abs(a - z), axis=0)
        s = xp.maximum(xp.max(xp.abs(a), axis=0), xp.max(xp.abs(z), axis=0))
        prim = r if prim is None else xp.maximum(prim, r)
        pnorm = s if pnorm is None else xp.maximum(pnorm, s)
    px = qp.P @ state.x
    aty = apply_at(qp, state.y)
    dual = xp.max(xp.abs(px + aty), axis=0)
    dnorm = xp.maximum(xp.max(xp.abs(px), axis=0), xp.max(xp.abs(aty), axis=0))
    return prim, dual, pnorm, dnorm


def admm_iterate(qp: BoxQP, state: AdmmState, settings: AdmmSettings, n_steps: int) -> None:
    """Run ``n_steps`` over-relaxed ADMM iterations on every column of the batch."""
    xp = qp.xp
    a = settings.alpha
    bounds = row_bounds(qp)
    for _ in range(n_steps):
        rhs = settings.sigma * state.x + apply_at(
            qp, [r * z - y for r, z, y in zip(state.rho_vecs, state.z, state.y, strict=True)]
        )
        xt = cho_solve(state.low, rhs, xp)
        zt = apply_a(qp, xt)
        state.x = a * xt + (1.0 - a) * state.x
        new_z, new_y = [], []
        for zti, zi, yi, ri, (lo, up) in zip(
            zt, state.z, state.y, state.rho_vecs, bounds, strict=True
        ):
            zh = a * zti + (1.0 - a) * zi
            zn = xp.minimum(xp.maximum(zh + yi / ri, lo), up)
            new_y.append(yi + ri * (zh - zn))
            new_z.append(zn)
        state.z, state.y = new_z, new_y


def select_columns(qp: BoxQP, state: AdmmState, idx: Any) -> tuple[BoxQP, AdmmState]:
    """Restrict the batch (problem bounds and iterates) to the columns ``idx``."""
    xp = qp.xp
    sub = BoxQP(
        P=qp.P,
        G=qp.G,
        gl=xp.take(qp.gl, idx, axis=1),
        gu=xp.take(qp.gu, idx, axis=1),
        g_eq=qp.g_eq,
        blocks=qp.blocks,
        n=qp.n,
        lo=qp.lo,
        hi=qp.hi,
        xp=xp,
    )
    st = AdmmState(
        x=xp.take(state.x, idx, axis=1),
        z=[xp.take(z, idx, axis=1) for z in state.z],
        y=[xp.take(y, idx, axis=1) for y in state.y],
        rho=state.rho,
        low=state.low,
        rho_vecs=state.rho_vecs,
    )
    return sub, st
