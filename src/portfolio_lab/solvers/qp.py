"""Long-only and box-constrained Markowitz problems, a whole frontier solved as one batch.

Design (see ``notebooks/programming/06_constrained_frontier``):

* The QPs ``min ½ wᵀΣw  s.t. 1ᵀw = 1, μᵀw = r_k (or ≥ r_k), lower ≤ w ≤ upper`` for all
  targets ``r_k`` are solved together by an OSQP-style ADMM (:mod:`._admm`). Its linear
  system ``Σ + σI + AᵀRA`` does not depend on the target, so one Cholesky factor serves
  every point and each iteration is a pair of triangular solves with an ``(n, k)``
  right-hand side (BLAS-3 on CPU, one kernel on GPU). Over-relaxation, a per-point
  residual stopping rule and a step-size (ρ) adaptation that refactors once for the whole
  batch follow OSQP.
* The frontier is warm-started coarse to fine: every fourth target is solved first, and
  the remaining points start from the linear interpolation of those exact solutions and
  their multipliers.
* Every point is finished by an exact active-set polish (:mod:`._polish`): the KKT system
  of the equality-constrained QP on the detected free set is solved directly, primal
  feasibility and multiplier signs are verified, and a wrong guess is corrected by
  primal-dual active-set steps. Accuracy is therefore that of a direct solve, not of ADMM.
* Targets outside the attainable range ``[r_min, r_max]`` (computed exactly from the box
  by a greedy fill, i.e. the LP dual evaluated at every breakpoint) are reported as
  ``"infeasible"`` with NaN weights and never clipped.
* Long-only / box max Sharpe uses the homogenized problem
  ``min yᵀΣy s.t. (μ − r_f)ᵀy = 1, 1ᵀy = κ, κ·lower ≤ y ≤ κ·upper, κ ≥ 0``; ``w = y/κ``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import device as _dev
from .._backend import to_numpy
from ..exceptions import (
    DegenerateReturnsError,
    InfeasibleTargetError,
    InputError,
    NonFiniteError,
    ShapeError,
)
from ._admm import (
    AdmmSettings,
    BoxBlock,
    BoxQP,
    admm_init,
    admm_iterate,
    factorize_system,
    residuals,
    row_bounds,
    select_columns,
)
from ._bounds import primal_violation
from ._polish import PolishResult, initial_active_set, polish_column
from ._validation import as_scalar, as_targets, prepare
from .results import FrontierResult, PortfolioResult

__all__ = ["qp_frontier", "qp_min_variance", "qp_max_sharpe", "return_range"]

_RANGE_RTOL = 1e-12


# --------------------------------------------------------------------------- helpers
def _bounds(lower: Any, upper: Any, n: int, xp: Any, device: Any) -> tuple[Any, Any]:
    """Convert and check ``lower``/``upper`` (None = unbounded) to float64 (n,) arrays."""
    out = []
    for name, val, fill in (("lower", lower, -np.inf), ("upper", upper, np.inf)):
        if val is None:
            arr = np.full(n, fill)
        else:
            arr = np.asarray(to_numpy(val) if not np.isscalar(val) else val, dtype=np.float64)
            if arr.ndim == 0:
                arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise ShapeError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
        if np.isnan(arr).any():
            raise NonFiniteError(f"{name} holds NaN; use ±inf for 'unbounded'")
        out.append(arr)
    lo, hi = out
    if np.isposinf(lo).any() or np.isneginf(hi).any():
        raise InputError("a lower bound is +inf or an upper bound is -inf: nothing is feasible")
    if (lo > hi).any():
        i = int(np.flatnonzero(lo > hi)[0])
        raise InputError(f"lower bound exceeds upper bound at index {i}: {lo[i]:g} > {hi[i]:g}")
    if lo.sum() > 1.0 + 1e-12 or hi.sum() < 1.0 - 1e-12:
        raise InputError(
            f"the budget 1ᵀw = 1 is infeasible with these bounds (sum of lower bounds "
            f"{lo.sum():g}, sum of upper bounds {hi.sum():g}); loosen the bounds"
        )
    return (
        xp.asarray(lo, dtype=xp.float64, device=device),
        xp.asarray(hi, dtype=xp.float64, device=device),
    )


def _max_return(mu: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """``max μᵀw s.t. 1ᵀw = 1, lo ≤ w ≤ hi`` exactly (LP dual at every breakpoint)."""
    if np.isneginf(lo).any() and np.isposinf(hi).any():
        if mu[np.isposinf(hi)].max() > mu[np.isneginf(lo)].min():
            return float("inf")
    order = np.argsort(mu, kind="stable")
    m, lo_s, hi_s = mu[order], lo[order], hi[order]
    hi_inf = np.isinf(hi_s)
    lo_inf = np.isinf(lo_s)
    hi_f = np.where(hi_inf, 0.0, hi_s)
    lo_f = np.where(lo_inf, 0.0, lo_s)

    def csum(v: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(v)])

    c_lo, c_mlo, n_loinf = csum(lo_f), csum(m * lo_f), csum(lo_inf.astype(float))
    c_hi, c_mhi, n_hiinf = csum(hi_f), csum(m * hi_f), csum(hi_inf.astype(float))
    nu = np.unique(m)
    below = np.searchsorted(m, nu, side="left")  # assets [0, below) have μ < ν
    above = np.searchsorted(m, nu, side="right")  # assets [above, n) have μ > ν
    s_lo, sm_lo, inf_lo = c_lo[below], c_mlo[below], n_loinf[below]
    s_hi = c_hi[-1] - c_hi[above]
    sm_hi = c_mhi[-1] - c_mhi[above]
    inf_hi = n_hiinf[-1] - n_hiinf[above]
    g = nu + (sm_hi - nu * s_hi) + (sm_lo - nu * s_lo)
    g = np.where((inf_lo > 0) | (inf_hi > 0), np.inf, g)
    return float(g.min())


def return_range(mu: Any, lower: Any, upper: Any) -> tuple[float, float]:
    """Smallest and largest expected return attainable under the budget and the box.

    Parameters
    ----------
    mu : array, shape (n,)
        Expected returns (any backend).
    lower, upper : arrays, shape (n,)
        Weight bounds (±inf for unbounded).

    Returns
    -------
    r_min, r_max : float
        Exact LP optima of ``min / max μᵀw s.t. 1ᵀw = 1, lower ≤ w ≤ upper`` (±inf when
        unbounded), from the LP dual ``min_ν ν + Σᵢ max((μᵢ−ν)·upperᵢ, (μᵢ−ν)·lowerᵢ)``,
        a convex piecewise-linear function minimized at a breakpoint ``ν = μᵢ`` (the
        greedy fill of the budget by sorted ``μ``).
    """
    m = np.asarray(to_numpy(mu), dtype=np.float64)
    lo = np.asarray(to_numpy(lower), dtype=np.float64)
    hi = np.asarray(to_numpy(upper), dtype=np.float64)
    return -_max_return(-m, lo, hi), _max_return(m, lo, hi)


@dataclass
class _BatchOutcome:
    x: Any  # (N, k) scaled solution
    status: list[str]
    n_iter: np.ndarray
    dual: np.ndarray  # scaled dual residual
    lam: list[list[float]]
    zeta: list[Any]


def _solve_batch(
    qp: BoxQP,
    x0: Any,
    settings: AdmmSettings,
    *,
    y0: list[Any] | None = None,
) -> _BatchOutcome:
    """ADMM on all columns, polishing each column once its residuals are small."""
    xp = qp.xp
    k = int(x0.shape[1])
    state = admm_init(qp, x0, settings)
    if y0 is not None:
        state.y = [xp.asarray(y, copy=True) for y in y0]
        az = [a + y / r for a, y, r in zip(_ax(qp, x0), state.y, state.rho_vecs, strict=True)]
        state.z = [
            xp.minimum(xp.maximum(a, lo), up)
            for a, (lo, up) in zip(az, row_bounds(qp), strict=True)
        ]
    x_out = xp.asarray(x0, copy=True)
    status = ["max_iter"] * k
    n_iter = np.zeros(k, dtype=np.int64)
    dual = np.full(k, np.nan)
    lam: list[list[float]] = [[] for _ in range(k)]
    zeta: list[Any] = [None] * k
    cols = np.arange(k)
    last_try = np.full(k, np.inf)
    sub, st = qp, state
    it = 0
    while cols.size and it < settings.max_iter:
        admm_iterate(sub, st, settings, settings.check_every)
        it += settings.check_every
        prim, dres, pn, dn = (to_numpy(v) for v in residuals(sub, st))
        score = np.maximum(
            prim / (settings.eps_abs + settings.eps_rel * pn),
            dres / (settings.eps_abs + settings.eps_rel * dn),
        )
        last = it >= settings.max_iter
        # polish a column when its residuals dropped 3x since its last failed attempt
        attempt = (score < last_try[cols] / 3.0) | (score <= 1.0) | last
        done = np.zeros(cols.size, dtype=bool)
        for c in np.flatnonzero(attempt):
            j = int(cols[c])
            last_try[j] = score[c]
            res = _polish(sub, st, int(c), max_steps=30)
            if res.success:
                done[c] = True
                x_out[:, j] = res.x
                status[j] = "optimal"
                n_iter[j] = it
                dual[j] = res.dual_residual
                lam[j], zeta[j] = res.lam, res.zeta
            elif last:
                x_out[:, j] = st.x[:, int(c)]
                n_iter[j] = it
                dual[j] = float(dres[c])
        keep = np.flatnonzero(~done)
        if keep.size == 0:
            break
        if keep.size < cols.size:
            sub, st = select_columns(sub, st, xp.asarray(keep, device=_dev(qp.P)))
            cols = cols[keep]
            prim, dres, pn, dn = prim[keep], dres[keep], pn[keep], dn[keep]
        # ρ adaptation: one refactorization for the whole remaining batch
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(
                (prim / np.maximum(pn, 1e-30)) / np.maximum(dres / np.maximum(dn, 1e-30), 1e-30)
            )
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if ratio.size:
            r = float(np.median(ratio))
            if r > settings.adapt_ratio or r < 1.0 / settings.adapt_ratio:
                st.rho = float(np.clip(st.rho * r, 1e-6, 1e6))
                factorize_system(sub, settings, st)
    return _BatchOutcome(x_out, status, n_iter, dual, lam, zeta)


def _ax(qp: BoxQP, x: Any) -> list[Any]:
    from ._admm import apply_a

    return apply_a(qp, x)


def _polish(qp: BoxQP, st: Any, c: int, *, max_steps: int) -> PolishResult:
    fix, gact = initial_active_set(qp, c, st.z, st.y)
    return polish_column(qp, c, fix, gact, max_steps=max_steps)


def _frontier_qp(
    cov_s: Any, mu_row: Any, gl: Any, gu: Any, lo: Any, hi: Any, xp: Any, eq: bool
) -> BoxQP:
    n = int(cov_s.shape[0])
    G = xp.stack([xp.ones((n,), dtype=xp.float64, device=_dev(cov_s)), mu_row])
    return BoxQP(
        P=cov_s,
        G=G,
        gl=gl,
        gu=gu,
        g_eq=(True, eq),
        blocks=[BoxBlock(c=None, lower=lo, upper=hi, side="both")],
        n=n,
        lo=lo,
        hi=hi,
        xp=xp,
    )


def _start(lo: Any, hi: Any, n: int, k: int, xp: Any) -> Any:
    w = xp.minimum(xp.maximum(xp.full((n,), 1.0 / n, dtype=xp.float64, device=_dev(lo)), lo), hi)
    return xp.broadcast_to(w[:, None], (n, k)) * 1.0


# --------------------------------------------------------------------------- public API
def qp_frontier(
    mu: Any,
    cov: Any,
    targets: Any,
    *,
    lower: Any = None,
    upper: Any = None,
    target_kind: str = "eq",
    settings: AdmmSettings | None = None,
) -> FrontierResult:
    """Solve the bounded Markowitz QPs of many target returns as one batch.

    ``min ½ wᵀΣw  s.t. 1ᵀw = 1,  μᵀw = r_k`` (or ``≥ r_k``), ``lower ≤ w ≤ upper``.

    Parameters
    ----------
    mu : array, shape (n,)
        Expected returns (NumPy, torch or CuPy).
    cov : array, shape (n, n)
        Positive definite covariance matrix, same backend.
    targets : array_like, shape (k,)
        Target returns.
    lower, upper : array, shape (n,), scalar or None
        Weight bounds (``None`` or ±inf for unbounded; long-only is ``lower=0``).
    target_kind : {"eq", "geq"}
        Whether the return constraint is ``μᵀw = r`` or ``μᵀw ≥ r``.
    settings : AdmmSettings, optional
        ADMM tuning.

    Returns
    -------
    FrontierResult
        ``weights`` of shape (k, n) in the input's namespace; ``status`` per point is
        ``"optimal"``, ``"infeasible"`` (NaN weights: the target is outside the attainable
        range) or ``"max_iter"``; ``n_iter`` counts ADMM iterations; residuals are in the
        units of the inputs.

    Raises
    ------
    InputError
        Bad ``target_kind`` or bounds; ``DegenerateReturnsError`` when every μᵢ is equal.
    """
    if target_kind not in ("eq", "geq"):
        raise InputError(f"target_kind must be 'eq' or 'geq', got {target_kind!r}")
    prob = prepare(mu, cov)
    if prob.mu is None:
        raise InputError("qp_frontier needs expected returns mu")
    xp, dev, n = prob.xp, prob.device, prob.n
    tg = as_targets(targets, xp, dev)
    lo, hi = _bounds(lower, upper, n, xp, dev)
    settings = settings or AdmmSettings()
    mu_np, tg_np = to_numpy(prob.mu), to_numpy(tg)
    lo_np, hi_np = to_numpy(lo), to_numpy(hi)
    r_min, r_max = return_range(mu_np, lo_np, hi_np)
    tol = _RANGE_RTOL * max(1.0, np.abs(mu_np).max())
    feasible = tg_np <= r_max + tol
    if target_kind == "eq":
        feasible &= tg_np >= r_min - tol
    k = tg_np.size
    mbar = float(mu_np.mean())
    mu_c = prob.mu - mbar
    scale_mu = float(xp.max(xp.abs(mu_c)))
    if scale_mu == 0.0:
        raise DegenerateReturnsError(
            "every expected return is equal, so no target return can be chosen; use "
            "qp_min_variance instead"
        )
    d = float(xp.mean(xp.linalg.diagonal(prob.cov)))
    cov_s = prob.cov / d
    weights = xp.full((k, n), float("nan"), dtype=xp.float64, device=dev)
    status = ["infeasible"] * k
    n_iter = np.zeros(k, dtype=np.int64)
    dual = np.full(k, np.nan)
    idx = np.flatnonzero(feasible)
    if idx.size:
        # sort the feasible targets so that neighbours on the frontier are neighbours here
        idx = idx[np.argsort(tg_np[idx], kind="stable")]
        rr = (tg_np[idx] - mbar) / scale_mu
        outcome = _solve_sorted(cov_s, mu_c / scale_mu, rr, lo, hi, xp, target_kind, settings)
        sol = outcome.x
        weights_f = xp.matrix_transpose(sol)
        idx_dev = xp.asarray(idx, device=dev)
        weights[idx_dev, :] = weights_f
        for pos, j in enumerate(idx):
            status[j] = outcome.status[pos]
            n_iter[j] = outcome.n_iter[pos]
            dual[j] = outcome.dual[pos] * d
    returns = weights @ prob.mu
    risks = xp.sqrt(xp.sum((weights @ prob.cov) * weights, axis=1))
    w_np = to_numpy(weights)
    prim = primal_violation(w_np, mu_np, tg_np, lo_np, hi_np, target_kind)
    return FrontierResult(
        targets=tg,
        weights=weights,
        returns=returns,
        risks=risks,
        status=tuple(status),
        n_iter=n_iter,
        primal_residual=prim,
        dual_residual=dual,
        method="admm-batch+active-set-polish",
    )


def _solve_sorted(
    cov_s: Any,
    mu_row: Any,
    rr: np.ndarray,
    lo: Any,
    hi: Any,
    xp: Any,
    kind: str,
    settings: AdmmSettings,
) -> _BatchOutcome:
    """Solve sorted scaled targets ``rr``; coarse-to-fine warm start when there are many."""
    n = int(cov_s.shape[0])
    dev = _dev(cov_s)
    k = rr.size

    def make(r: np.ndarray) -> BoxQP:
        kk = r.size
        gl = xp.asarray(np.vstack([np.ones(kk), r]), dtype=xp.float64, device=dev)
        up = r if kind == "eq" else np.full(kk, np.inf)
        gu = xp.asarray(np.vstack([np.ones(kk), up]), dtype=xp.float64, device=dev)
        return _frontier_qp(cov_s, mu_row, gl, gu, lo, hi, xp, kind == "eq")

    if k < 12:
        return _solve_batch(make(rr), _start(lo, hi, n, k, xp), settings)
    coarse = np.unique(np.r_[np.arange(0, k, 4), k - 1])
    out_c = _solve_batch(make(rr[coarse]), _start(lo, hi, n, coarse.size, xp), settings)
    good = np.array([s == "optimal" for s in out_c.status])
    if good.sum() < 2:
        return _solve_batch(make(rr), _start(lo, hi, n, k, xp), settings)
    cg = coarse[good]
    xc = to_numpy(out_c.x)[:, good]
    lam_c = np.array([out_c.lam[i] for i in np.flatnonzero(good)])  # (kc, 2)
    zeta_c = np.stack([to_numpy(out_c.zeta[i]) for i in np.flatnonzero(good)], axis=1)
    pos = np.arange(k, dtype=float)

    def interp(v: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(pos, cg.astype(float), row) for row in v])

    x0 = xp.asarray(interp(xc), dtype=xp.float64, device=dev)
    # OSQP multipliers have the opposite sign of ours (P x + Aᵀy = 0)
    y0 = [
        xp.asarray(-interp(lam_c.T), dtype=xp.float64, device=dev),
        xp.asarray(-interp(zeta_c), dtype=xp.float64, device=dev),
    ]
    rest = np.setdiff1d(np.arange(k), cg)
    out = _BatchOutcome(
        x=xp.zeros((n, k), dtype=xp.float64, device=dev),
        status=["max_iter"] * k,
        n_iter=np.zeros(k, dtype=np.int64),
        dual=np.full(k, np.nan),
        lam=[[] for _ in range(k)],
        zeta=[None] * k,
    )
    for p, j in enumerate(cg):
        i = int(np.flatnonzero(good)[p])
        out.x[:, int(j)] = out_c.x[:, i]
        out.status[j], out.n_iter[j], out.dual[j] = "optimal", out_c.n_iter[i], out_c.dual[i]
    if rest.size:
        rest_dev = xp.asarray(rest, device=dev)
        out_f = _solve_batch(
            make(rr[rest]),
            xp.take(x0, rest_dev, axis=1),
            settings,
            y0=[xp.take(y, rest_dev, axis=1) for y in y0],
        )
        out.x[:, rest_dev] = out_f.x
        for p, j in enumerate(rest):
            out.status[j], out.n_iter[j], out.dual[j] = (
                out_f.status[p],
                out_f.n_iter[p],
                out_f.dual[p],
            )
    return out


def _portfolio(
    w: Any, mu: Any | None, cov: Any, method: str, status: str, mult: Any, kkt: float
) -> PortfolioResult:
    var = float(w @ (cov @ w))
    ret = float(w @ mu) if mu is not None else float("nan")
    return PortfolioResult(
        weights=w,
        expected_return=ret,
        variance=var,
        risk=float(np.sqrt(max(var, 0.0))),
        method=method,
        status=status,
        multipliers=mult,
        kkt_residual=kkt,
    )


def qp_min_variance(
    cov: Any, *, lower: Any = None, upper: Any = None, settings: AdmmSettings | None = None
) -> PortfolioResult:
    """Minimum-variance portfolio under the budget and a box: ``min ½wᵀΣw, 1ᵀw = 1``.

    Parameters
    ----------
    cov : array, shape (n, n)
        Positive definite covariance matrix (NumPy, torch or CuPy).
    lower, upper : array, shape (n,), scalar or None
        Weight bounds (±inf or None for unbounded).
    settings : AdmmSettings, optional
        ADMM tuning.

    Returns
    -------
    PortfolioResult
        ``multipliers`` holds the budget multiplier ``γ`` (shape (1,)) with
        ``Σw = γ·1 + ζ``, ``ζ`` the bound multipliers; ``kkt_residual`` combines the
        primal violation and the stationarity residual.
    """
    prob = prepare(None, cov)
    xp, dev, n = prob.xp, prob.device, prob.n
    lo, hi = _bounds(lower, upper, n, xp, dev)
    settings = settings or AdmmSettings()
    d = float(xp.mean(xp.linalg.diagonal(prob.cov)))
    G = xp.ones((1, n), dtype=xp.float64, device=dev)
    one = xp.ones((1, 1), dtype=xp.float64, device=dev)
    qp = BoxQP(
        P=prob.cov / d,
        G=G,
        gl=one,
        gu=one,
        g_eq=(True,),
        blocks=[BoxBlock(c=None, lower=lo, upper=hi, side="both")],
        n=n,
        lo=lo,
        hi=hi,
        xp=xp,
    )
    out = _solve_batch(qp, _start(lo, hi, n, 1, xp), settings)
    w = out.x[:, 0]
    wn, lon, hin = to_numpy(w), to_numpy(lo), to_numpy(hi)
    prim = max(abs(wn.sum() - 1.0), float(np.max(lon - wn)), float(np.max(wn - hin)), 0.0)
    mult = None
    if out.status[0] == "optimal":
        mult = xp.asarray([out.lam[0][0] * d], dtype=xp.float64, device=dev)
    return _portfolio(
        w, None, prob.cov, "admm+active-set-polish", out.status[0], mult, max(prim, out.dual[0] * d)
    )


def qp_max_sharpe(
    mu: Any,
    cov: Any,
    risk_free: float = 0.0,
    *,
    lower: Any = None,
    upper: Any = None,
    settings: AdmmSettings | None = None,
) -> PortfolioResult:
    """Maximum-Sharpe portfolio under the budget and a box, by homogenization.

    Solves ``min yᵀΣy s.t. (μ − r_f)ᵀy = 1, 1ᵀy = κ, κ·lower ≤ y ≤ κ·upper, κ ≥ 0`` (one
    QP, no scan) and returns ``w = y / κ``.

    Parameters
    ----------
    mu : array, shape (n,)
        Expected returns.
    cov : array, shape (n, n)
        Positive definite covariance matrix, same backend.
    risk_free : float
        Risk-free rate in the units of ``mu``.
    lower, upper : array, shape (n,), scalar or None
        Weight bounds.
    settings : AdmmSettings, optional
        ADMM tuning.

    Returns
    -------
    PortfolioResult
        ``multipliers`` is None (the homogenized problem's multipliers have no direct
        meaning for ``w``).

    Raises
    ------
    InfeasibleTargetError
        No admissible portfolio has an expected return above ``risk_free`` (e.g. no asset
        has ``μᵢ > r_f`` in the long-only case).
    """
    prob = prepare(mu, cov)
    if prob.mu is None:
        raise InputError("qp_max_sharpe needs expected returns mu")
    xp, dev, n = prob.xp, prob.device, prob.n
    rf = as_scalar(risk_free, "risk_free")
    lo, hi = _bounds(lower, upper, n, xp, dev)
    settings = settings or AdmmSettings()
    mu_np, lo_np, hi_np = to_numpy(prob.mu), to_numpy(lo), to_numpy(hi)
    _, r_max = return_range(mu_np, lo_np, hi_np)
    if not r_max > rf + 1e-14 * max(1.0, abs(rf)):
        raise InfeasibleTargetError(
            f"no admissible portfolio has an expected return above risk_free = {rf:g} (the "
            f"largest attainable is {r_max:g}); lower risk_free or loosen the bounds"
        )
    excess = prob.mu - rf
    a_scale = float(xp.max(excess))
    d = float(xp.mean(xp.linalg.diagonal(prob.cov)))
    P = xp.zeros((n + 1, n + 1), dtype=xp.float64, device=dev)
    P[:n, :n] = prob.cov / d
    zero1 = xp.zeros((1,), dtype=xp.float64, device=dev)
    G = xp.stack(
        [
            xp.concat([excess / a_scale, zero1]),
            xp.concat([xp.ones((n,), dtype=xp.float64, device=dev), -1.0 + zero1]),
            xp.concat([xp.zeros((n,), dtype=xp.float64, device=dev), 1.0 + zero1]),
        ]
    )
    gl = xp.asarray([[1.0], [0.0], [0.0]], dtype=xp.float64, device=dev)
    gu = xp.asarray([[1.0], [0.0], [np.inf]], dtype=xp.float64, device=dev)
    blocks = []
    inf = xp.full((n,), np.inf, dtype=xp.float64, device=dev)
    zeros = xp.zeros((n,), dtype=xp.float64, device=dev)
    lo_fin, hi_fin = xp.isfinite(lo), xp.isfinite(hi)
    if bool(xp.any(lo_fin)):
        blocks.append(
            BoxBlock(
                c=xp.where(lo_fin, -lo, 0.0),
                lower=xp.where(lo_fin, zeros, -inf),
                upper=inf,
                side="lower",
            )
        )
    if bool(xp.any(hi_fin)):
        blocks.append(
            BoxBlock(
                c=xp.where(hi_fin, -hi, 0.0),
                lower=-inf,
                upper=xp.where(hi_fin, zeros, inf),
                side="upper",
            )
        )
    qp = BoxQP(
        P=P, G=G, gl=gl, gu=gu, g_eq=(True, True, False), blocks=blocks, n=n, lo=lo, hi=hi, xp=xp
    )
    w0 = _start(lo, hi, n, 1, xp)[:, 0]
    e0 = float(w0 @ excess) / a_scale
    kappa0 = 1.0 / e0 if e0 > 1e-3 else 1.0
    x0 = xp.concat([w0 * kappa0, kappa0 + zero1])[:, None]
    out = _solve_batch(qp, x0, settings)
    x = out.x[:, 0]
    kappa = float(x[n])
    w = x[:n] / kappa
    wn = to_numpy(w)
    prim = max(abs(wn.sum() - 1.0), float(np.max(lo_np - wn)), float(np.max(wn - hi_np)), 0.0)
    return _portfolio(
        w,
        prob.mu,
        prob.cov,
        "homogenized admm+active-set-polish",
        out.status[0],
        None,
        max(prim, out.dual[0] * d),
    )
