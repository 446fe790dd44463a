"""Batched exact solver of the bounded problems: primal-dual active-set steps on torch.

For every member of a batch (its own ``Σ``, ``μ``, risk aversion or target) the QP

    min ½ a wᵀΣw − qᵀw   s.t.   C w = c,   lower ≤ w ≤ upper

is solved by the same active-set finish that :mod:`portfolio_lab.solvers._polish` applies
to one frontier point at a time, here on the whole batch at once: guess which weights sit
at a bound, solve the equality-constrained QP on the free weights exactly, then fix the
free weights that left their box and free the bound weights whose multiplier has the wrong
sign (Hintermüller, Ito & Kunisch's primal-dual active-set rule). Each step is one batched
Cholesky factorization of the free block of ``aΣ`` (each member's free weights gathered
into one padded batch) and a Schur complement of the ``m ≤ 2`` equality rows, so the batch
has one shape and runs as a handful of batched calls on any torch device. The steps start
from the exact solution of the diagonal problem (water-filling). Members whose set is
settled leave the batch. A member that has not settled after ``max_iter`` steps (the rule
can cycle on adversarial problems) is solved by the exact critical line
(:func:`portfolio_lab.solvers.critical_line`) and its active set read from that solution.

Tie rule. A weight within the tolerance of its bound is held at the bound, and a bound
weight stays bound while its multiplier is not of the wrong sign, *also when the multiplier
is zero* (a tie). The returned free set therefore excludes tied weights; the backward pass
differentiates the branch on which they stay at their bounds (see
:mod:`portfolio_lab.layers._function`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..exceptions import ConvergenceError

__all__ = ["ActiveSetSolution", "ReducedSystem", "solve_active_set", "reduced_factor", "TOL"]

#: Relative tolerance of the primal (weights at a bound) and dual (multiplier sign) tests.
TOL = 1e-11


@dataclass(frozen=True)
class ActiveSetSolution:
    """Exact solution of a batch and the factors its derivative needs.

    Attributes
    ----------
    weights : torch.Tensor, shape (B, n)
    fixed : torch.Tensor of int8, shape (B, n)
        -1 at the lower bound, +1 at the upper bound, 0 free.
    nu : torch.Tensor, shape (B, m)
        Multipliers of the equality rows: ``aΣw − q = Cᵀν + ζ``.
    zeta : torch.Tensor, shape (B, n)
        Bound multipliers (``≥ 0`` at a lower bound, ``≤ 0`` at an upper, 0 free).
    system : ReducedSystem
        The factors of the final free sets (what the backward pass solves with).
    n_iter : numpy.ndarray of int, shape (B,)
        Active-set solves per member (0 for members solved by the critical line).
    method : tuple of str, length B
        ``"active-set"`` or ``"critical-line"``.
    kkt_residual : numpy.ndarray, shape (B,)
        Relative KKT residual: primal violation over ``max(1, max|w|)``, stationarity on
        the free set and wrong-sign multipliers over the size of the gradient terms.
    cov : torch.Tensor or None
        The covariances solved with where they differ from the input (symmetrized by
        :func:`solve_compiled` within the tolerance); None otherwise.
    """

    weights: Any
    fixed: Any
    nu: Any
    zeta: Any
    system: Any
    n_iter: np.ndarray
    method: tuple[str, ...]
    kkt_residual: np.ndarray
    cov: Any = None


def _bound_values(fixed: Any, lo: Any, hi: Any) -> Any:
    import torch

    zero = torch.zeros((), dtype=lo.dtype, device=lo.device)
    lo_b = torch.where(torch.isfinite(lo), lo, zero).expand_as(fixed)
    hi_b = torch.where(torch.isfinite(hi), hi, zero).expand_as(fixed)
    return torch.where(fixed == -1, lo_b, torch.where(fixed == 1, hi_b, zero.expand_as(lo_b)))


def reduced_factor(
    a: Any,
    cov: Any,
    q: Any,
    C: Any,
    c: Any,
    fixed: Any,
    lo: Any,
    hi: Any,
    members: Any = None,
) -> ReducedSystem:
    """Solve the equality-constrained QP of each member's active set.

    The free weights of each member are gathered into a padded ``(B, k, k)`` system
    (``k`` the largest free count of the batch; padding rows are identity rows) and only
    the ``k`` free columns of ``Σ`` are read, so a step costs ``O(B(nk + k³))`` (plus one
    ``O(Bn²)`` product when some bound is nonzero).

    Parameters
    ----------
    a : torch.Tensor, shape (B,)
    cov : torch.Tensor, shape (B, n, n)
    q : torch.Tensor, shape (B, n)
    C : torch.Tensor, shape (B, m, n)
    c : torch.Tensor, shape (B, m)
    fixed : torch.Tensor of int8, shape (B, n)
    lo, hi : torch.Tensor, shape (n,)
    members : torch.Tensor of int64, shape (B,), optional
        Rows of ``cov`` (a larger batch) that the other arguments belong to; the
        matrices are then read in place, never copied.

    Returns
    -------
    ReducedSystem
    """
    import torch

    B, n = q.shape
    free = fixed == 0
    counts = free.sum(dim=1)
    k = max(int(counts.max()), 1)
    order = torch.argsort((~free).to(torch.int8), dim=1, stable=True)
    idx = order[:, :k]
    valid = (torch.arange(k, device=q.device)[None, :] < counts[:, None]).to(q.dtype)
    t = _bound_values(fixed, lo, hi)
    # Σ is symmetric: read the free *rows* Σ[F, :] (k contiguous rows per member) rather
    # than the free columns, which touch every cache line of Σ
    if members is None:
        rows = torch.gather(cov, 1, idx[:, :, None].expand(-1, -1, n))  # Σ[F, :], (B, k, n)
    else:
        rows = _member_rows(cov, members, idx)
    H = torch.gather(rows, 2, idx[:, None, :].expand(-1, k, -1)) * a[:, None, None]
    H = valid[:, :, None] * H * valid[:, None, :] + torch.diag_embed(1.0 - valid)
    L, info = torch.linalg.cholesky_ex(H)
    has_t = bool(t.any())
    cov_m = cov if members is None or not has_t else cov[members]
    st = (cov_m @ t[:, :, None])[..., 0] if has_t else torch.zeros_like(q)  # Σ t
    rhs = valid * torch.gather(q - a[:, None] * st, 1, idx)
    Cg = torch.gather(C, 2, idx[:, None, :].expand(-1, C.shape[1], -1)) * valid[:, None, :]
    Y = torch.cholesky_solve(torch.cat([rhs[:, :, None], Cg.transpose(1, 2)], dim=2), L)
    u0, V = Y[:, :, 0], Y[:, :, 1:]
    S = Cg @ V
    Sp = torch.linalg.pinv(S, rtol=1e-13, hermitian=True)
    resid = c - (C @ t[:, :, None])[..., 0] - (Cg @ u0[:, :, None])[..., 0]
    nu = (Sp @ resid[:, :, None])[..., 0]
    u = (u0 + (V @ nu[:, :, None])[..., 0]) * valid
    w = t + torch.zeros_like(t).scatter_add(1, idx, u)
    a_sw = a[:, None] * (st + (u[:, None, :] @ rows)[:, 0])  # aΣw
    grad = a_sw - q - (C.transpose(1, 2) @ nu[:, :, None])[..., 0]
    zeta = torch.where(free, torch.zeros_like(grad), grad)
    return ReducedSystem(w, nu, zeta, L, V, Sp, idx, valid, info, a_sw)


def _member_rows(cov: Any, members: Any, idx: Any) -> Any:
    """``Σ_{members[b]}[idx[b], :]`` for every ``b``, shape (B, k, n), by row copies.

    A contiguous batch is read as one (B n, n) matrix whose rows ``members[b] n + idx[b, j]``
    one ``index_select`` copies (torch's advanced indexing took about seven times as long
    on 256 problems of 100 assets); one Σ broadcast over the batch is read once.
    """
    B, k = idx.shape
    n = cov.shape[-1]
    if cov.stride(0) == 0:
        return cov[0].index_select(0, idx.reshape(-1)).view(B, k, n)
    if cov.is_contiguous():
        flat = (members[:, None] * n + idx).reshape(-1)
        return cov.reshape(-1, n).index_select(0, flat).view(B, k, n)
    return cov[members[:, None], idx]


@dataclass(frozen=True)
class ReducedSystem:
    """One solve of :func:`reduced_factor`: the point and the factors of its free set.

    Attributes
    ----------
    w : torch.Tensor, shape (B, n)
    nu : torch.Tensor, shape (B, m)
    zeta : torch.Tensor, shape (B, n)
    factor : torch.Tensor, shape (B, k, k)
        Lower Cholesky factor of the padded free block of ``aΣ``.
    v : torch.Tensor, shape (B, k, m)
        ``H⁻¹ C_Fᵀ`` on the padded free block.
    schur_pinv : torch.Tensor, shape (B, m, m)
    index : torch.Tensor of int64, shape (B, k)
        Asset of each padded row (rows past the member's free count are padding).
    valid : torch.Tensor, shape (B, k)
        1 on real free rows, 0 on padding.
    info : torch.Tensor of int, shape (B,)
        Cholesky status (0: positive definite).
    a_sigma_w : torch.Tensor, shape (B, n)
        ``aΣw``.
    """

    w: Any
    nu: Any
    zeta: Any
    factor: Any
    v: Any
    schur_pinv: Any
    index: Any
    valid: Any
    info: Any
    a_sigma_w: Any


def _diagonal_start(a: Any, cov: Any, q: Any, lo: Any, hi: Any) -> Any:
    """Active set of the diagonal problem (exact water-filling), a start for the steps."""
    import torch

    d = a[:, None] * torch.diagonal(cov, dim1=1, dim2=2)
    if bool((lo == 0).all() and torch.isinf(hi).all()):
        # long-only: w_i = max(0, (q_i + ν)/d_i); with the assets sorted by q, the k most
        # attractive are positive and ν solves Σ_{top k} (q_i + ν)/d_i = 1 in closed form
        qs, order = torch.sort(q, dim=1, descending=True)
        inv = torch.gather(1.0 / d, 1, order)
        nu_k = (1.0 - torch.cumsum(qs * inv, dim=1)) / torch.cumsum(inv, dim=1)
        ok = qs + nu_k > 0
        k = ok.to(torch.int64).cumprod(dim=1).sum(dim=1).clamp_min(1)  # first k where it holds
        nu = torch.gather(nu_k, 1, (k - 1)[:, None])
        return torch.where(q + nu > 0, 0, -1).to(torch.int8)
    lo_, hi_ = lo.expand_as(q), hi.expand_as(q)

    def total(nu: Any) -> Any:
        return torch.clamp((q + nu[:, None]) / d, lo_, hi_).sum(dim=1)

    # bracket ν so that total(low) ≤ 1 ≤ total(high)
    span = (q.abs().amax(dim=1) + d.amax(dim=1) * (1.0 + lo_.abs().where(torch.isfinite(lo_),
            torch.zeros_like(q)).amax(dim=1) + hi_.abs().where(torch.isfinite(hi_),
            torch.zeros_like(q)).amax(dim=1))) * 2.0 + 1.0  # fmt: skip
    low, high = -span.clone(), span.clone()
    for _ in range(8):
        grow = total(high) < 1.0
        shrink = total(low) > 1.0
        if not bool((grow | shrink).any()):
            break
        high = torch.where(grow, high * 4.0, high)
        low = torch.where(shrink, low * 4.0, low)
    for _ in range(30):  # a start only: 2⁻³⁰ of the bracket is plenty
        mid = 0.5 * (low + high)
        up = total(mid) < 1.0
        low = torch.where(up, mid, low)
        high = torch.where(up, high, mid)
    w = torch.clamp((q + (0.5 * (low + high))[:, None]) / d, lo_, hi_)
    fixed = torch.zeros(q.shape, dtype=torch.int8, device=q.device)
    fixed = torch.where(torch.isfinite(lo_) & (w <= lo_), -1, fixed)
    fixed = torch.where(torch.isfinite(hi_) & (w >= hi_) & (fixed == 0), 1, fixed)
    return fixed.to(torch.int8)


def _tolerances(a_sw: Any, q: Any, C: Any, w: Any, nu: Any) -> tuple[Any, Any]:
    ctn = (C.transpose(1, 2) @ nu[:, :, None])[..., 0]
    tp = TOL * w.abs().amax(dim=1).clamp_min(1.0)
    td = TOL * (a_sw.abs().amax(dim=1) + q.abs().amax(dim=1) + ctn.abs().amax(dim=1)) + 1e-300
    return tp, td


def kkt_residual(
    a: Any, cov: Any, q: Any, C: Any, c: Any, lo: Any, hi: Any, w: Any, nu: Any, fixed: Any
) -> np.ndarray:
    """Relative KKT residual of each member (see :class:`ActiveSetSolution`)."""
    import torch

    aSw = a[:, None] * (cov @ w[:, :, None])[..., 0]
    ctn = (C.transpose(1, 2) @ nu[:, :, None])[..., 0]
    grad = aSw - q - ctn
    size = aSw.abs().amax(dim=1) + q.abs().amax(dim=1) + ctn.abs().amax(dim=1) + 1e-300
    free = fixed == 0
    zero = torch.zeros_like(grad)
    stat = torch.where(free, grad.abs(), zero)
    sign = torch.where(fixed == -1, (-grad).clamp_min(0.0), zero)
    sign = torch.maximum(sign, torch.where(fixed == 1, grad.clamp_min(0.0), zero))
    pinned = (lo == hi).expand_as(fixed)
    sign = torch.where(pinned, zero, sign)
    dual = torch.maximum(stat, sign).amax(dim=1) / size
    wscale = w.abs().amax(dim=1).clamp_min(1.0)
    eq = ((C @ w[:, :, None])[..., 0] - c).abs().amax(dim=1)
    box = torch.maximum((lo - w).clamp_min(0.0), (w - hi).clamp_min(0.0)).amax(dim=1)
    bound_gap = torch.where(
        fixed == -1, (w - lo).abs(), torch.where(fixed == 1, (w - hi).abs(), zero)
    ).amax(dim=1)
    prim = torch.maximum(torch.maximum(eq, box), bound_gap) / wscale
    return torch.maximum(prim, dual).detach().cpu().numpy()


def _step(fixed: Any, w: Any, zeta: Any, lo: Any, hi: Any, tp: Any, td: Any) -> Any:
    """One primal-dual active-set update (tie rule: at the bound within tolerance = bound).

    Every free weight that left its box is fixed; of the bound weights whose multiplier has
    the wrong sign at most ``max(2, |F|)`` are released, the most violated first, so that the
    free set at most doubles per step (the padded solves stay near the final size; releasing
    them all at once frees three to four times too many on correlated problems). A member is
    settled only when nothing changes, i.e. when its KKT conditions hold, so the limit
    changes the path, never the answer.
    """
    import torch

    pinned = (lo == hi).expand_as(fixed)
    at_lo = torch.isfinite(lo) & (w <= lo + tp[:, None])
    at_hi = torch.isfinite(hi) & (w >= hi - tp[:, None])
    new = fixed.clone()
    free = fixed == 0
    new = torch.where(free & at_lo, -1, new)
    new = torch.where(free & at_hi & ~at_lo, 1, new)
    release = ((fixed == -1) & (zeta < -td[:, None])) | ((fixed == 1) & (zeta > td[:, None]))
    release &= ~pinned
    limit = free.sum(dim=1).clamp_min(2)
    if bool((release.sum(dim=1) > limit).any()):
        viol = torch.where(release, zeta.abs(), torch.zeros_like(zeta))
        top = torch.topk(viol, min(int(limit.max()), viol.shape[1]), dim=1)
        rank = torch.arange(top.indices.shape[1], device=fixed.device)[None, :]
        chosen = (rank < limit[:, None]) & (top.values > 0)
        release = torch.zeros_like(release).scatter_(1, top.indices, chosen)
    new = torch.where(release, 0, new)
    return new.to(fixed.dtype)


def _critical_line_member(
    kind: str, mu: np.ndarray, cov: np.ndarray, a: float, r: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Weights of one member by the exact critical line (utility: ``λ = 1/γ``)."""
    from ..solvers import critical_line

    if not np.isfinite(lo).all():
        raise ConvergenceError(
            "the active-set steps did not settle and the critical-line fallback needs finite "
            "lower bounds; give finite bounds"
        )
    if kind == "target":
        path = critical_line(mu, cov, lower=lo, upper=hi, branch="full")
        return np.asarray(path.weights_at(np.array([r])).weights[0], dtype=np.float64)
    path = critical_line(mu, cov, lower=lo, upper=hi)
    lam = 1.0 / a
    lams = np.asarray(path.lambdas, dtype=np.float64)
    W = np.asarray(path.weights, dtype=np.float64)
    if lam >= lams[0] or len(lams) == 1:
        return W[0]
    i = int(np.searchsorted(-lams, -lam, side="right")) - 1  # lams[i] >= lam > lams[i + 1]
    i = min(max(i, 0), len(lams) - 2)
    span = lams[i] - lams[i + 1]
    s = 0.0 if span <= 0 else (lams[i] - lam) / span
    return W[i] + s * (W[i + 1] - W[i])


def _critical_line_set(
    kind: str, mu: np.ndarray, cov: np.ndarray, a: float, r: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Active set (int8: -1 lower, +1 upper, 0 free) of one member's critical-line solution.

    The fallback of both engines for a member whose steps did not settle: a weight within
    100 × :data:`TOL` (relative) of its bound is held there.
    """
    wj = _critical_line_member(kind, mu, cov, a, r, lo, hi)
    tpj = TOL * 1e2 * max(1.0, float(np.abs(wj).max()))
    f = np.zeros(wj.shape[0], dtype=np.int8)
    f[np.isfinite(lo) & (wj <= lo + tpj)] = -1
    f[np.isfinite(hi) & (wj >= hi - tpj) & (f == 0)] = 1
    return f


#: Fewest members a group of :func:`_groups` holds (smaller groups join the next one):
#: below it the fixed cost of a batched solve outweighs what a smaller padding saves.
GROUP_MIN = 32


def _groups(members: Any, counts: Any) -> list[Any]:
    """Split the members into groups of similar free counts (one padded solve per group).

    The padded solve of a step costs ``O(k n + k³)`` per member with ``k`` the *largest*
    free count of its batch; a few members with many free assets would make every member
    pay for them. Members sorted by free count are cut into groups whose largest count is
    at most twice their smallest (and at least :data:`GROUP_MIN` members, the last group
    excepted), so each pads to at most about twice its own size.

    Parameters
    ----------
    members : torch.Tensor of int64, shape (B,)
    counts : torch.Tensor of int, shape (B,)
        Free count of each member.

    Returns
    -------
    list of torch.Tensor of int64
        The members of each group (together: ``members``, reordered).
    """
    import torch

    if members.numel() < 2 * GROUP_MIN:
        return [members] if members.numel() else []
    c = counts.cpu().numpy()
    order = np.argsort(c, kind="stable")
    cs = c[order]
    cuts, start = [], 0
    for i in range(GROUP_MIN, cs.size - GROUP_MIN + 1):
        if i - start >= GROUP_MIN and cs[i] > 2 * max(int(cs[start]), 1):
            cuts.append(i)
            start = i
    if not cuts:
        return [members]  # one group: keep the members' order
    bounds = [0, *cuts, cs.size]
    idx = torch.as_tensor(order, device=members.device)
    return [members[idx[b:e]] for b, e in zip(bounds[:-1], bounds[1:], strict=True)]


def _select(red: ReducedSystem, rows: Any) -> ReducedSystem:
    """Select the members ``rows`` (a boolean mask) of a reduced system."""
    return ReducedSystem(*(getattr(red, f.name)[rows] for f in fields(ReducedSystem)))


def _assemble(parts: list[tuple[Any, ReducedSystem]], B: int) -> ReducedSystem:
    """One batch from the systems of its members, padded to the largest free set.

    A member's free rows come first in its system and its padding rows are identity rows of
    the factor (zero in ``v``, ``valid`` 0), so padding more rows changes nothing it solves.
    """
    import torch

    k = max(int(red.index.shape[1]) for _, red in parts)
    first = parts[0][1]
    n, m = first.w.shape[1], first.nu.shape[1]
    dev, dt = first.w.device, first.w.dtype
    w = torch.empty((B, n), dtype=dt, device=dev)
    nu = torch.empty((B, m), dtype=dt, device=dev)
    zeta = torch.empty((B, n), dtype=dt, device=dev)
    a_sw = torch.empty((B, n), dtype=dt, device=dev)
    factor = torch.eye(k, dtype=dt, device=dev).repeat(B, 1, 1)
    v = torch.zeros((B, k, m), dtype=dt, device=dev)
    sp = torch.empty((B, m, m), dtype=dt, device=dev)
    index = torch.zeros((B, k), dtype=first.index.dtype, device=dev)
    valid = torch.zeros((B, k), dtype=dt, device=dev)
    info = torch.zeros(B, dtype=first.info.dtype, device=dev)
    for rows, red in parts:
        kk = int(red.index.shape[1])
        w[rows], nu[rows], zeta[rows], a_sw[rows] = red.w, red.nu, red.zeta, red.a_sigma_w
        factor[rows, :kk, :kk] = red.factor
        v[rows, :kk] = red.v
        sp[rows] = red.schur_pinv
        index[rows, :kk] = red.index
        valid[rows, :kk] = red.valid
        info[rows] = red.info
    return ReducedSystem(w, nu, zeta, factor, v, sp, index, valid, info, a_sw)


def solve_active_set(
    kind: str,
    a: Any,
    cov: Any,
    q: Any,
    C: Any,
    c: Any,
    lo: Any,
    hi: Any,
    *,
    mu: Any = None,
    max_iter: int | None = None,
    method: str = "active-set",
    residuals: bool = True,
) -> ActiveSetSolution:
    """Solve a batch exactly (see the module notes).

    Parameters
    ----------
    kind : {"utility", "target"}
    a, cov, q, C, c, lo, hi : torch.Tensor
        The standard form (shapes as in :func:`reduced_factor`), float64, detached.
    mu : torch.Tensor, shape (B, n), optional
        Expected returns (the critical line needs them for the utility form).
    max_iter : int, optional
        Active-set steps before a member falls back to the critical line
        (default ``max(20, n)``).
    method : {"active-set", "critical-line"}
        ``"critical-line"`` solves every member by the critical line (reference path).
    residuals : bool
        Compute the KKT residuals (NaN otherwise; the layer's forward pass skips them).

    Returns
    -------
    ActiveSetSolution

    Raises
    ------
    ConvergenceError
        A member neither settled nor could be solved by the critical line.
    """
    import torch

    B, n = q.shape
    dev = q.device
    max_iter = max(20, n) if max_iter is None else int(max_iter)
    pinned = (lo == hi).expand(B, n)
    if kind == "utility":
        fixed = _diagonal_start(a, cov, q, lo, hi)
    else:
        fixed = torch.zeros((B, n), dtype=torch.int8, device=dev)
    fixed = torch.where(pinned, -1, fixed).to(torch.int8)
    n_iter = np.zeros(B, dtype=np.int64)
    meth = ["active-set"] * B
    todo = everyone = torch.arange(B, device=dev)
    done: list[tuple[Any, ReducedSystem]] = []  # (members, their final systems)
    if method != "critical-line":
        for it in range(1, max_iter + 1):
            going = []
            for group in _groups(todo, (fixed[todo] == 0).sum(dim=1)):
                # the whole batch in its own order reads its arguments without a gather
                full = group.numel() == B and bool(torch.equal(group, everyone))
                a_, q_, C_, c_ = (x if full else x[group] for x in (a, q, C, c))
                fx = fixed[group]
                red = reduced_factor(a_, cov, q_, C_, c_, fx, lo, hi, None if full else group)
                tp, td = _tolerances(red.a_sigma_w, q_, C_, red.w, red.nu)
                new = _step(fx, red.w, red.zeta, lo, hi, tp, td)
                settled = (new == fx).all(dim=1)
                n_iter[group.cpu().numpy()] = it
                fixed[group] = new
                if bool(settled.any()):  # their system is final: kept, no re-solve at the end
                    done.append((group[settled], _select(red, settled)))
                going.append(group[~settled])
            todo = torch.cat(going)
            if todo.numel() == 0:
                break
    if todo.numel():
        idx = todo.cpu().numpy()
        lo_np, hi_np = lo.cpu().numpy(), hi.cpu().numpy()
        mu_np = (q if mu is None else mu)[todo].cpu().numpy()
        cov_np = cov[todo].cpu().numpy()
        a_np = a[todo].cpu().numpy()
        c_np = c[todo].cpu().numpy()
        for k, j in enumerate(idx):
            r = float(c_np[k, 1]) if kind == "target" else float("nan")
            f = _critical_line_set(kind, mu_np[k], cov_np[k], float(a_np[k]), r, lo_np, hi_np)
            fixed[int(j)] = torch.as_tensor(f, device=dev)
            n_iter[int(j)] = 0
            meth[int(j)] = "critical-line"
    if todo.numel():  # the critical line's members: their systems from its active sets
        rest = reduced_factor(a[todo], cov, q[todo], C[todo], c[todo], fixed[todo], lo, hi, todo)
        done.append((todo, rest))
    red = _assemble(done, B)
    if bool((red.info != 0).any()):  # pragma: no cover - the free block of a PD Σ is PD
        raise ConvergenceError("the reduced KKT matrix is not positive definite")
    kkt = (
        kkt_residual(a, cov, q, C, c, lo, hi, red.w, red.nu, fixed)
        if residuals
        else np.full(B, np.nan)
    )
    return ActiveSetSolution(
        weights=red.w,
        fixed=fixed,
        nu=red.nu,
        zeta=red.zeta,
        system=red,
        n_iter=n_iter,
        method=tuple(meth),
        kkt_residual=kkt,
    )


def compiled_inputs(kind: str, a: Any, cov: Any, mu: Any, target: Any) -> dict:
    """NumPy views of a CPU batch for :mod:`portfolio_lab.layers._kernels`.

    ``cov`` is read in place: one matrix broadcast over the batch (stride 0) becomes one
    matrix and a member map of zeros, a batch of distinct matrices a map ``0..B-1``.
    """
    B, n = mu.shape
    c = cov.detach()
    if B > 1 and c.stride(0) == 0:
        c_np = np.ascontiguousarray(c[:1].numpy())
        cmap = np.zeros(B, dtype=np.int64)
    else:
        c_np = np.ascontiguousarray(c.numpy())
        cmap = np.arange(B, dtype=np.int64)
    r = np.zeros(B) if target is None else np.ascontiguousarray(target.detach().numpy())
    return {
        "target": kind == "target",
        "a": np.ascontiguousarray(a.detach().numpy()),
        "mu": np.ascontiguousarray(mu.detach().numpy()),
        "r": r,
        "cov": c_np,
        "cmap": cmap,
    }


def solve_compiled(
    kind: str,
    a: Any,
    cov: Any,
    mu: Any,
    target: Any,
    lo: Any,
    hi: Any,
    *,
    max_iter: int | None = None,
    residuals: bool = True,
    check: bool = False,
    rtol: float = 1e-8,
) -> ActiveSetSolution:
    """Solve as :func:`solve_active_set` does, member by member in compiled loops (CPU).

    With ``check``, each matrix is first checked as :func:`portfolio_lab.layers._problem.
    prepare` would (``prepare(check_cov=False)`` leaves it here), while it is in cache for
    the solve: the same typed errors, and a matrix asymmetric within ``rtol`` is solved
    as ``(Σ + Σᵀ)/2`` (returned in ``cov``).

    Parameters
    ----------
    kind : {"utility", "target"}
    a : torch.Tensor, shape (B,)
    cov : torch.Tensor, shape (B, n, n)
    mu : torch.Tensor, shape (B, n)
    target : torch.Tensor, shape (B,) or None
    lo, hi : torch.Tensor, shape (n,)
    max_iter, residuals
        As in :func:`solve_active_set`.
    check : bool
        Check the covariances (finite, symmetric within ``rtol``, positive definite).
    rtol : float
        Tolerated relative asymmetry.

    Returns
    -------
    ActiveSetSolution
        With ``system=None``: the backward pass rebuilds each member's free-set factor
        (:func:`portfolio_lab.layers._kernels.backward`).
    """
    import torch

    from . import _kernels

    B, n = mu.shape
    max_iter = max(20, n) if max_iter is None else int(max_iter)
    x = compiled_inputs(kind, a, cov, mu, target)
    lo_np = np.ascontiguousarray(lo.numpy())
    hi_np = np.ascontiguousarray(hi.numpy())
    m = 2 if x["target"] else 1
    if kind == "target":
        start = 3
    elif bool((lo_np == 0).all() and np.isposinf(hi_np).all()):
        start = 1
    else:
        start = 2
    fixed = np.zeros((B, n), dtype=np.int8)
    w = np.empty((B, n))
    nu = np.zeros((B, m))
    zeta = np.empty((B, n))
    n_iter = np.zeros(B, dtype=np.int64)
    settled = np.zeros(B, dtype=np.bool_)

    Bc = x["cov"].shape[0]
    finite = np.ones(Bc, dtype=np.bool_)
    size, asym = np.zeros(Bc), np.zeros(Bc)
    info = np.full(Bc, -3 if check else 0, dtype=np.int64)

    def rows(i: int, j: int) -> int:
        bad = _kernels.active_set(
            x["target"], x["a"][i:j], x["mu"][i:j], x["r"][i:j], x["cov"], x["cmap"][i:j],
            lo_np, hi_np, start, max_iter, fixed[i:j], w[i:j], nu[i:j], zeta[i:j],
            n_iter[i:j], settled[i:j], check, finite, size, asym, info,
        )  # fmt: skip
        return bad + i if bad >= 0 else -1

    bad = [k for k in _kernels.split_rows(B, rows, n) if k >= 0]
    if check:
        from ._problem import cov_verdict

        if cov_verdict(finite, size, asym, info, rtol, cov).any():
            c = cov.detach()
            base = c[:1] if B > 1 and c.stride(0) == 0 else c
            sym = (0.5 * (base + base.transpose(-1, -2))).expand_as(c)
            out = solve_compiled(kind, a, sym, mu, target, lo, hi, max_iter=max_iter,
                                 residuals=residuals, check=True, rtol=rtol)  # fmt: skip
            return dataclasses.replace(out, cov=sym)
    if bad:  # pragma: no cover - the free block of a PD Σ is PD
        raise ConvergenceError(
            f"the reduced KKT matrix of problem {bad[0]} is not positive definite"
        )
    meth = ["active-set"] * B
    todo = np.flatnonzero(~settled)
    if todo.size:
        for j in todo:
            S = x["cov"][x["cmap"][j]]
            fixed[j] = _critical_line_set(
                kind, x["mu"][j], S, float(x["a"][j]), float(x["r"][j]), lo_np, hi_np
            )
            meth[int(j)] = "critical-line"
        sub = {**x, **{key: x[key][todo] for key in ("a", "mu", "r", "cmap")}}
        f_t, w_t, nu_t, z_t = fixed[todo], w[todo], nu[todo], zeta[todo]
        it_t, ok_t = np.zeros(todo.size, np.int64), np.zeros(todo.size, np.bool_)
        _kernels.active_set(
            sub["target"], sub["a"], sub["mu"], sub["r"], sub["cov"], sub["cmap"], lo_np, hi_np,
            0, 0, f_t, w_t, nu_t, z_t, it_t, ok_t, False, finite, size, asym, info,
        )  # fmt: skip
        w[todo], nu[todo], zeta[todo] = w_t, nu_t, z_t
        n_iter[todo] = 0
    wt, nut, zt = (torch.from_numpy(v) for v in (w, nu, zeta))
    fx = torch.from_numpy(fixed)
    if residuals:
        q, C, c = _standard(kind, mu, target)
        kkt = kkt_residual(a, cov, q, C, c, lo, hi, wt, nut, fx)
    else:
        kkt = np.full(B, np.nan)
    return ActiveSetSolution(
        weights=wt, fixed=fx, nu=nut, zeta=zt, system=None, n_iter=n_iter,
        method=tuple(meth), kkt_residual=kkt,
    )  # fmt: skip


def _standard(kind: str, mu: Any, target: Any) -> tuple[Any, Any, Any]:
    from ._function import standard_form

    return standard_form(kind, mu.detach(), None if target is None else target.detach())
