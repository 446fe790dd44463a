"""The exact bounded frontier by Markowitz's critical-line algorithm.

For ``lower ≤ w ≤ upper`` and ``1ᵀw = 1`` the parametric problem

    min ½ wᵀΣw − λ μᵀw        (λ from +∞ down to 0, or on to −∞)

has a piecewise-affine solution path ``w(λ)``: between two *corner* (turning) portfolios
the set ``F`` of free assets is fixed and, with the bound assets held at their bounds,
``w_F(λ) = α + λβ``. Expected return is affine in ``λ`` too, so between corners the weights
are affine in the target return and the whole bounded frontier is known exactly from its
corners. ``λ`` is the multiplier of the return constraint: ``d(½σ²)/dr = λ``.

The walk starts at the maximum-return portfolio (``λ = +∞``), found exactly by filling the
budget in order of decreasing ``μ``. At each step one asset leaves ``F`` (its weight reaches
a bound) or enters it (its bound multiplier ``ζⱼ = (Σw)ⱼ − λμⱼ − γ`` reaches zero), at the
largest ``λ`` below the current one where that happens. Simultaneous events are taken one
at a time at the same ``λ`` (a zero-length step).

Linear algebra. The free block is factorized as ``M_FF = Σ_FF + ρ11ᵀ`` (``ρ`` = mean
variance); on the budget plane this leaves the solution unchanged (``γ`` shifts by ``ρs``)
and ``M_FF`` stays positive definite whenever the KKT system is non-singular, also when
``Σ`` is only positive semidefinite (a riskless asset, fewer factors than assets). Nothing
is re-factorized and no inverse is formed. For every bound asset ``i`` the walk keeps the
row ``W_i = L⁻¹Σ_{F,i}`` and, with ``y = L⁻¹[1, μ_F, c_F]``, the three products
``W_i·y``, which are all its multiplier needs. An entering asset's factor row is
``W_j + ρy₁`` (no solve), and it adds one column to ``W`` (one pass over the bound rows)
and one entry to ``y``; a leaving asset is removed from the factor by Givens rotations,
which are applied to the same rows. A step therefore costs ``O(n|F|)``: one pass over ``W``
and one back substitution of three right-hand sides for the free weights, with no
per-event Python work that grows with ``n`` (the loops are compiled with numba,
``_cla_kernels.py``; the dense long-only case of issue 20, about ``n`` corners, runs
n = 2000 in about a second on one core).

Degenerate cases:

* **Ties in μ at the start.** When several assets share the return of the asset that
  completes the budget, every split between them has the maximal return; the path's limit
  as ``λ → ∞`` is the minimum-variance split, which is computed exactly (a small
  active-set QP on the tied group). The start is therefore decided by risk, not by the
  order of the assets. Ties elsewhere are ordinary simultaneous events.
* **A singular free block** (the entering asset's pivot vanishes: ``Σ`` is semidefinite on
  the free set plus that asset). The null direction ``v`` (``Σv = 0``, ``1ᵀv = 0``) leaves the
  objective, the return and every multiplier unchanged; the weights move along ``v`` until
  a free asset reaches a bound and leaves, after which the entering asset's block is
  regular. The two portfolios before and after are recorded as two nodes with the same
  ``λ``, return and risk (the optimum is not unique there).
* **Box bounds** with finite upper limits; fixed assets (``lower = upper``) never enter.
* **Infeasible bounds** raise :class:`InputError`; **unbounded lower limits** (``−inf``) are
  refused (the path would not start at a finite portfolio), use ``method="admm"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .._backend import device as _device
from .._backend import namespace, to_numpy
from ..exceptions import ConvergenceError, DegenerateReturnsError, InfeasibleTargetError, InputError
from ._bounds import primal_violation, resolve_bounds
from ._validation import as_scalar, as_targets, prepare
from .results import FrontierResult, PortfolioResult

__all__ = ["critical_line", "with_full_branch", "CriticalLineResult", "BRANCHES", "GMV_SNAP_RTOL"]

BRANCHES = ("efficient", "full")
#: A target return at most this far (relative to the path's return span) below the
#: minimum-variance return is the minimum-variance portfolio: another solver's report of
#: the GMV return (accurate to about 1e-8) then needs no walk of the inefficient branch.
#: The point's ``primal_residual`` reports the gap ``|μᵀw − r|`` it leaves.
GMV_SNAP_RTOL = 1e-8

_TIE_TOL = 1e-12  # ties in scaled μ (max |μ - mean| = 1)
_PIVOT_TOL = 1e-10  # squared pivot relative to the diagonal: below it the block is singular
_LAMBDA_TOL = 1e-12  # events within this (relative) distance of λ count as simultaneous
_SLOPE_TOL = 1e-13
_ZERO_LAMBDA = 1e-13  # scaled λ at or below this ends the walk at λ = 0


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class CriticalLineResult:
    """The whole bounded frontier as a list of nodes joined by straight segments.

    Nodes are ordered by decreasing ``λ`` (and return): the maximum-return portfolio first,
    then every corner, the minimum-variance portfolio (``λ = 0``) and, for
    ``branch="full"``, the corners of the inefficient branch down to the minimum-return
    portfolio. Between two consecutive nodes the weights are affine in the return.

    Attributes
    ----------
    weights : array, shape (k, n)
        Node portfolios, in the namespace and on the device of the inputs.
    returns : numpy.ndarray, shape (k,)
        Expected return ``μᵀw`` of each node (non-increasing).
    risks : numpy.ndarray, shape (k,)
        Standard deviation ``sqrt(wᵀΣw)`` of each node.
    lambdas : numpy.ndarray, shape (k,)
        Return multiplier ``λ`` at each node (``Σw = λμ + γ1 + ζ``; ``d(½σ²)/dr = λ``).
    gammas : numpy.ndarray, shape (k,)
        Budget multiplier ``γ`` at each node.
    zetas : numpy.ndarray, shape (k, n)
        Bound multipliers ``ζ = Σw − λμ − γ1`` at each node: zero on free assets,
        ``≥ 0`` at a lower bound, ``≤ 0`` at an upper bound.
    kinds : tuple of str, length k
        ``"max_return"``, ``"corner"``, ``"min_variance"`` or ``"min_return"``.
    free_masks : numpy.ndarray of bool, shape (k − 1, n)
        Free assets on the segment from node ``i`` to node ``i + 1``
        (:attr:`free_sets` lists their indices).
    lower, upper : numpy.ndarray, shape (n,)
        The bounds (``upper`` may hold ``inf``).
    branch : str
        ``"efficient"`` (down to the minimum-variance portfolio) or ``"full"``.
    n_steps : int
        Events processed (entering, leaving and null moves, zero-length ones included).
    mu, cov : arrays
        The problem, kept to evaluate residuals (inputs' namespace).
    """

    weights: Any
    returns: np.ndarray
    risks: np.ndarray
    lambdas: np.ndarray
    gammas: np.ndarray
    zetas: np.ndarray
    kinds: tuple[str, ...]
    free_masks: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    branch: str
    n_steps: int
    mu: Any = field(repr=False)
    cov: Any = field(repr=False)
    _walk: Any = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        """Return the number of nodes."""
        return len(self.kinds)

    @cached_property
    def free_sets(self) -> tuple[tuple[int, ...], ...]:
        """Indices of the free assets on the segment from node ``i`` to node ``i + 1``.

        A tuple of ``k − 1`` sorted tuples (built once from :attr:`free_masks`).
        """
        return tuple(tuple(np.flatnonzero(row).tolist()) for row in self.free_masks)

    @property
    def corner_mask(self) -> np.ndarray:
        """Boolean (k,) mask of the turning points (every node but the λ = 0 point).

        The maximum- and minimum-return portfolios are corners; the minimum-variance
        portfolio of the efficient branch is an end point that usually lies inside a
        segment.
        """
        return np.array([k != "min_variance" for k in self.kinds])

    def events(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Assets that enter and leave the free set at each node.

        Returns
        -------
        list of (entered, left), length k
            For node ``i``: the assets free on the segment after it but not before it, and
            the reverse. The first node lists its own free set as entered; the last node,
            nothing. Simultaneous events at one node appear together.
        """
        sets = [set(fs) for fs in self.free_sets]
        out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for i in range(len(self)):
            before = sets[i - 1] if 0 < i <= len(sets) else set()
            after = sets[i] if i < len(sets) else before
            out.append((tuple(sorted(after - before)), tuple(sorted(before - after))))
        return out

    @property
    def return_range(self) -> tuple[float, float]:
        """Lowest and highest return covered by the path."""
        return float(self.returns[-1]), float(self.returns[0])

    def _locate(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index and interpolation weight of each target inside the range."""
        rets = self.returns
        k = rets.size
        if k == 1:
            return np.zeros(r.size, dtype=np.int64), np.zeros(r.size)
        # returns are non-increasing: search on the reversed (non-decreasing) array
        asc = rets[::-1]
        pos = np.searchsorted(asc, r, side="left")  # asc[pos-1] < r <= asc[pos]
        pos = np.clip(pos, 1, k - 1)
        seg = (k - 1) - pos  # node seg has the larger return, seg + 1 the smaller
        hi, lo = rets[seg], rets[seg + 1]
        span = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(span > 0, (hi - r) / span, 0.0)
        return seg, np.clip(t, 0.0, 1.0)

    def weights_at(self, targets: Any, *, target_kind: str = "eq") -> FrontierResult:
        """Exact frontier portfolios for any target returns, by interpolation on the path.

        Between two nodes the weights, ``λ``, ``γ`` and the bound multipliers are affine in
        the return, and ``σ²(t) = σ_i² + 2Δr λ_i t + Δr Δλ t²`` (because ``dσ²/dr = 2λ``),
        so each point costs ``O(n)``.

        Parameters
        ----------
        targets : array_like, shape (m,)
            Target returns.
        target_kind : {"eq", "geq"}, default "eq"
            ``μᵀw = r`` or ``μᵀw ≥ r``; with ``"geq"`` a target below the minimum-variance
            return gives the minimum-variance portfolio.

        Returns
        -------
        FrontierResult
            ``weights`` (m, n) in the inputs' namespace; targets outside the attainable
            range have status ``"infeasible"`` and NaN weights. ``n_iter`` holds the
            segment index of each point (−1 when infeasible); ``dual_residual`` is the
            violation of the interpolated KKT multipliers (stationarity on free assets,
            sign at the bounds).

        Raises
        ------
        InputError
            Unknown ``target_kind``, or an attainable ``"eq"`` target below the
            minimum-variance return on a path computed with ``branch="efficient"``.
        """
        if target_kind not in ("eq", "geq"):
            raise InputError(f"target_kind must be 'eq' or 'geq', got {target_kind!r}")
        xp = namespace(self.weights)
        dev = _device(self.weights)
        tg = as_targets(targets, xp, dev)
        r = to_numpy(tg).astype(np.float64)
        r_lo, r_hi = self.return_range
        tol = 1e-12 * max(1.0, float(np.max(np.abs(self.returns))))
        if target_kind == "geq":
            r = np.maximum(r, self.returns[self._min_variance_index()])
            feasible = r <= r_hi + tol
        else:
            # on the efficient branch r_lo is the minimum-variance return: snap targets
            # within GMV_SNAP_RTOL of it (their primal residual reports the gap)
            snap = self.snap_tolerance() if self.branch == "efficient" else tol
            feasible = (r <= r_hi + tol) & (r >= r_lo - snap)
            low = r < r_lo - snap
            if self.branch == "efficient" and low.any():
                below = low & (r >= _attainable_min(self) - tol)
                if below.any():
                    raise InputError(
                        f"target {float(r[below][0]):.6g} lies below the minimum-variance "
                        f"return {r_lo:.6g}: it is on the inefficient branch, which this path "
                        "does not hold; compute it with critical_line(..., branch='full')"
                    )
        seg, t = self._locate(np.clip(r, r_lo, r_hi))
        nxt = np.minimum(seg + 1, len(self) - 1)
        m, n = r.size, int(self.weights.shape[1])
        w0 = xp.take(self.weights, xp.asarray(seg, device=dev), axis=0)
        w1 = xp.take(self.weights, xp.asarray(nxt, device=dev), axis=0)
        tt = xp.asarray(t, dtype=xp.float64, device=dev)[:, None]
        w = w0 + tt * (w1 - w0)
        nan_rows = xp.asarray(~feasible, device=dev)[:, None]
        w = xp.where(nan_rows, xp.full((m, n), math.nan, dtype=xp.float64, device=dev), w)
        lam0, dlam = self.lambdas[seg], self.lambdas[nxt] - self.lambdas[seg]
        dr = self.returns[nxt] - self.returns[seg]
        var = self.risks[seg] ** 2 + 2.0 * dr * lam0 * t + dr * dlam * t**2
        risks = np.where(feasible, np.sqrt(np.clip(var, 0.0, None)), math.nan)
        z = self._along(self.zetas, seg, t)
        w_np, mu_np = to_numpy(w), to_numpy(self.mu)
        with np.errstate(invalid="ignore"):
            span = np.maximum(self.upper - self.lower, 0.0)
            tol_b = 1e-12 * np.maximum(1.0, np.where(np.isfinite(span), span, 1.0))
            at_lo = w_np - self.lower <= tol_b
            at_hi = self.upper - w_np <= tol_b
            viol = np.where(at_lo | at_hi, 0.0, np.abs(z))
            viol = np.maximum(viol, np.where(at_lo & ~at_hi, np.maximum(-z, 0.0), 0.0))
            viol = np.maximum(viol, np.where(at_hi & ~at_lo, np.maximum(z, 0.0), 0.0))
            dual = np.where(feasible, np.max(viol, axis=1), math.nan)
        prim = primal_violation(w_np, mu_np, r, self.lower, self.upper, target_kind)
        return FrontierResult(
            targets=tg,
            weights=w,
            returns=w @ self.mu,
            risks=xp.asarray(risks, dtype=xp.float64, device=dev),
            status=tuple("optimal" if f else "infeasible" for f in feasible),
            n_iter=np.where(feasible, seg, -1).astype(np.int64),
            primal_residual=prim,
            dual_residual=dual,
            method="critical_line",
        )

    def snap_tolerance(self) -> float:
        """Distance below the minimum-variance return within which a target snaps to it.

        ``GMV_SNAP_RTOL`` times the span of returns on the efficient branch (at least the
        ``1e-12`` relative tolerance used for the range's other end).
        """
        stop = self._min_variance_index()
        span = float(self.returns[0] - self.returns[stop])
        tol = 1e-12 * max(1.0, float(np.max(np.abs(self.returns))))
        return max(GMV_SNAP_RTOL * span, tol)

    def _along(self, values: np.ndarray, seg: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-node ``values`` (k, ...) interpolated on segments ``seg`` at fractions ``t``."""
        nxt = np.minimum(seg + 1, len(self) - 1)
        frac = t.reshape(t.shape + (1,) * (values.ndim - 1))
        return values[seg] + frac * (values[nxt] - values[seg])

    def _min_variance_index(self) -> int:
        kinds = self.kinds
        if "min_variance" in kinds:
            return kinds.index("min_variance")
        return int(np.argmin(self.risks))

    def max_sharpe(self, risk_free: float = 0.0) -> PortfolioResult:
        """Maximum-Sharpe portfolio, exactly, from the segments of the efficient branch.

        On a segment ``r = r_i + tΔr``, ``λ = λ_i + tΔλ`` and, because ``dσ²/dr = 2λ``,
        ``σ²(t) = σ_i² + 2Δr λ_i t + Δr Δλ t²``; the Sharpe ratio ``(r − r_f)/σ`` is then
        stationary at ``t* = (a d − b c)/(b d − a e)`` with ``a = r_i − r_f``, ``b = Δr``,
        ``c = σ_i²``, ``d = Δr λ_i``, ``e = Δr Δλ``. The best of every segment's ``t*``
        and end points is returned.

        Parameters
        ----------
        risk_free : float, default 0.0
            Risk-free rate in the units of ``μ``.

        Returns
        -------
        PortfolioResult
            ``multipliers`` is ``(λ, γ)`` of the path at that point, ``kkt_residual`` the
            residual of the path's KKT conditions there.

        Raises
        ------
        InfeasibleTargetError
            No portfolio on the path has a return above ``risk_free``.
        """
        rf = as_scalar(risk_free, "risk_free")
        stop = self._min_variance_index()
        r, lam = self.returns[: stop + 1], self.lambdas[: stop + 1]
        var = self.risks[: stop + 1] ** 2
        if not r[0] > rf + 1e-14 * max(1.0, abs(rf)):
            raise InfeasibleTargetError(
                f"no admissible portfolio has an expected return above risk_free = {rf:g} "
                f"(the largest attainable is {r[0]:g}); lower risk_free or loosen the bounds"
            )
        best_r, best_s = r[0], _sharpe(r[0], var[0], rf)
        for i in range(stop):
            a, b, c = r[i] - rf, r[i + 1] - r[i], var[i]
            d, e = b * lam[i], b * (lam[i + 1] - lam[i])
            cands = [1.0]
            den = b * d - a * e
            if den != 0.0:
                ts = (a * d - b * c) / den
                if 0.0 < ts < 1.0:
                    cands.append(ts)
            for t in cands:
                v = c + 2.0 * d * t + e * t * t
                s = _sharpe(r[i] + b * t, v, rf)
                if s > best_s:
                    best_r, best_s = r[i] + b * t, s
        res = self.weights_at(np.array([best_r]))
        w = res.weights[0]
        seg, t = self._locate(np.array([best_r]))
        lam_s = float(self._along(self.lambdas, seg, t)[0])
        gam_s = float(self._along(self.gammas, seg, t)[0])
        xp = namespace(w)
        variance = float(w @ (self.cov @ w))
        return PortfolioResult(
            weights=w,
            expected_return=float(w @ self.mu),
            variance=variance,
            risk=math.sqrt(max(variance, 0.0)),
            method="critical_line",
            status="optimal",
            multipliers=xp.asarray([lam_s, gam_s], dtype=xp.float64),
            kkt_residual=float(max(res.primal_residual[0], res.dual_residual[0])),
        )


def _sharpe(r: float, var: float, rf: float) -> float:
    if var <= 0.0:
        return math.inf if r > rf else -math.inf
    return (r - rf) / math.sqrt(var)


def _attainable_min(res: CriticalLineResult) -> float:
    """Smallest return attainable in the box (greedy fill with reversed order)."""
    from .qp import return_range

    return return_range(to_numpy(res.mu), res.lower, res.upper)[0]


# --------------------------------------------------------------------------- the walk
@dataclass(slots=True)
class _Node:
    w: np.ndarray  # scaled problem's weights are the true weights
    lam: float  # scaled λ
    gam: float  # scaled γ (of Σ̃, without the ρ shift)
    kind: str
    z0: np.ndarray  # ζ̃ = z0 + λ_walk z1: the segment's scaled bound multipliers
    z1: np.ndarray
    m: np.ndarray  # the walk's scaled μ (−μ̃ for the mirrored walk)
    lam_walk: float  # λ in the walk's own sign convention


class _Walk:
    """State of one walk from λ = +∞ down to λ = 0 on the scaled problem (host NumPy).

    Besides the Cholesky factor ``L`` of ``M_FF = Σ̃_FF + ρ11ᵀ`` (free assets in the order
    they entered) the walk keeps, for every bound asset ``i``, the row
    ``W_i = L⁻¹ Σ̃_{F,i}`` and the three numbers ``U_i, V_i, C_i = W_i · y`` with
    ``y = L⁻¹[1, μ̃_F, c_F]`` (``c = Σ̃w`` over the bound assets). Every quantity the bound
    assets' multipliers need is then an ``O(1)`` update per asset: an entering asset adds
    one column to ``W`` (one ``gemv`` over the bound rows, ``O(n|F|)``) and one entry to
    ``y``; a leaving one is a Givens delete of the factor applied to the same rows. The
    entering asset's own factor row is ``W_j + ρ y₁``, so no triangular solve is needed to
    grow the factor; the free weights cost one back substitution of three right-hand
    sides per event. Rows of bound assets are kept compact (``slot`` order) so that the
    products run on one strided view without copies.
    """

    def __init__(self, S: np.ndarray, m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.S = S
        self.m = m
        self.lo, self.hi = lo, hi
        n = m.size
        self.n = n
        self.rho = 1.0
        self.status = np.full(n, -1, dtype=np.int64)  # -1 lower, +1 upper, 0 free, 2 fixed
        self.status[lo == hi] = 2
        self.w = lo.copy()
        self.k = 0
        self.fidx = np.zeros(n, dtype=np.int64)  # free assets in factor order
        self.pos = np.full(n, -1, dtype=np.int64)  # position in fidx, -1 when bound
        self.nb = n
        self.bidx = np.arange(n, dtype=np.int64)  # bound assets in slot order
        self.slot = np.arange(n, dtype=np.int64)  # slot in bidx, -1 when free
        self.L = np.zeros((n, n))
        self.W = np.zeros((n, n))  # W[slot, :k] = L⁻¹ Σ̃_{F, bidx[slot]}
        self.Y = np.zeros((3, n))  # L⁻¹ [1, m_F, cB_F]
        self.X = np.zeros((3, n))  # M_FF⁻¹ [1, m_F, cB_F] (filled by segment)
        self.UVC = np.zeros((3, n))  # Y · W_slotᵀ per bound slot
        self.cB = np.zeros(n)  # Σ̃ w over the bound assets
        self.diag = np.diag(S).copy()
        self.steps = 0
        from . import _cla_kernels  # numba compiles (or loads its cache) on first use

        self.kern = _cla_kernels

    @property
    def free(self) -> list[int]:
        """Free assets in factor order (a list; the walk itself uses ``fidx``)."""
        return self.fidx[: self.k].tolist()

    # ---------------------------------------------------------------- bookkeeping
    def _refresh_c(self) -> None:
        """Recompute ``y_c`` and ``C`` after the bound assets' gradient ``cB`` changed."""
        k, nb = self.k, self.nb
        self.Y[2, k:] = 0.0
        if k:
            self.kern.forward_solve(self.L, k, self.cB[self.fidx[:k]], self.Y[2])
        if nb:
            self.UVC[2, :nb] = self.W[:nb, :k] @ self.Y[2, :k] if k else 0.0

    # ---------------------------------------------------------------- moves
    def make_free(self, j: int) -> bool:
        """Move bound asset j into the free set (False: singular block, nothing changed)."""
        ok = self.kern.enter(
            j,
            self.S,
            self.m,
            self.diag,
            self.cB,
            self.L,
            self.W,
            self.Y,
            self.UVC,
            self.bidx,
            self.slot,
            self.fidx,
            self.pos,
            self.status,
            self.k,
            self.nb,
            self.rho,
            _PIVOT_TOL,
        )
        if not ok:
            return False
        self.k += 1
        self.nb -= 1
        if self.w[j] != 0.0:  # j left a nonzero bound: the bound assets' gradient changes
            self.cB -= self.S[j] * self.w[j]
            self._refresh_c()
        return True

    def make_bound(self, i: int, side: int) -> None:
        """Move free asset i to its lower (side −1) or upper (+1) bound."""
        k, nb = self.k, self.nb
        p = int(self.pos[i])
        self.kern.delete_position(self.L, k, p, self.W, nb, self.Y)
        self.fidx[p : k - 1] = self.fidx[p + 1 : k]
        self.pos[self.fidx[p : k - 1]] = np.arange(p, k - 1)
        self.pos[i] = -1
        k -= 1
        self.k = k
        self.Y[:, k] = 0.0
        self.w[i] = self.lo[i] if side < 0 else self.hi[i]
        self.status[i] = side
        # i takes the next bound slot: its row W_i = L⁻¹ Σ̃_{F,i}
        self.bidx[nb] = i
        self.slot[i] = nb
        self.W[nb, k:] = 0.0
        if k:
            self.kern.forward_solve(self.L, k, self.S[i, self.fidx[:k]], self.W[nb])
        nb += 1
        self.nb = nb
        if self.w[i] != 0.0:
            self.cB += self.S[i] * self.w[i]
            if k:
                self.kern.forward_solve(self.L, k, self.cB[self.fidx[:k]], self.Y[2])
        if k:
            self.UVC[:, :nb] = self.Y[:, :k] @ self.W[:nb, :k].T
        else:
            self.UVC[:, :nb] = 0.0

    # ---------------------------------------------------------------- one segment
    def segment(self) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray, np.ndarray]:
        """α, β of the free weights, γ = g0 + λ g1, and ζ = z0 + λ z1 for every asset.

        With ``a₁ = ‖y₁‖² = 1ᵀM⁻¹1`` (and ``a_μ``, ``a_c`` alike) and ``x = L⁻ᵀy`` (one
        back substitution of three rows), ``α = ((s + a_c)/a₁) x₁ − x_c`` and
        ``β = x_μ − (a_μ/a₁) x₁``; the bound assets' ``Σ̃_{B,F}α`` and ``Σ̃_{B,F}β`` are the
        same combinations of ``U, V, C``: ``O(|F|² + n)`` per event.
        """
        alpha, beta, g0, g1, z0, z1 = self.kern.segment(
            self.L,
            self.k,
            self.Y,
            self.X,
            self.bidx,
            self.nb,
            self.UVC,
            self.cB,
            self.m,
            self.w,
            self.rho,
        )
        return alpha, beta, float(g0), float(g1), z0, z1

    def e_column(self, j: int) -> np.ndarray:
        """``M_FF⁻¹ (Σ̃_{F,j} + ρ1)`` for bound asset j (the free block's regression on j)."""
        k = self.k
        row = self.W[self.slot[j], :k] + self.rho * self.Y[0, :k]
        out = np.zeros((1, max(k, 1)))
        self.kern.back_solve_rows(self.L, k, row[None, :].copy(), out)
        return out[0, :k]


def _greedy_start(m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int]:
    """Maximum-return LP vertex: fill the budget by decreasing μ (ties: lower index first).

    Returns the weights and the index of the asset that completes the budget (the last one
    filled when the budget is met exactly).
    """
    w = lo.copy()
    room = 1.0 - float(lo.sum())
    order = np.argsort(-m, kind="stable")
    caps = (hi - lo)[order]
    order, caps = order[caps > 0.0], caps[caps > 0.0]
    if room <= 0.0 or order.size == 0:
        return w, int(np.argsort(-m, kind="stable")[0])
    before = np.concatenate([[0.0], np.cumsum(caps)[:-1]])  # budget used before each asset
    p = int(np.searchsorted(before + caps, room, side="left"))  # first asset that fills it
    p = min(p, order.size - 1)
    full = order[:p]
    w[full] = hi[full]  # exactly, so that these assets are recognized as at their bound
    last = int(order[p])
    rest = room - float(before[p])
    w[last] = hi[last] if rest >= caps[p] else lo[last] + rest
    return w, last


def _face_qp(
    Q: np.ndarray, c: np.ndarray, s: float, lo: np.ndarray, hi: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Primal active-set solve of ``min ½xᵀQx + cᵀx, 1ᵀx = s, lo ≤ x ≤ hi`` from feasible x.

    Used only on the group of assets tied at the start (small). Each iteration solves the
    equality-constrained problem on the free assets directly, with ``Q_FF + ρ11ᵀ`` (regular
    also for a semidefinite ``Q``), then either stops there, steps towards it until a bound
    blocks, or frees the bound asset whose multiplier has the wrong sign.
    """
    k = x.size
    x = x.copy()
    rho = float(np.mean(np.diag(Q))) or 1.0
    side = np.where(x <= lo, -1, np.where(x >= hi, 1, 0))
    tol = 1e-13 * max(1.0, float(np.max(np.abs(x))))
    for _ in range(20 * k + 20):
        if not (side == 0).any():
            g = Q @ x + c
            side[int(np.argmin(np.where(side < 0, g, -g)))] = 0
        fr = np.flatnonzero(side == 0)
        bd = np.flatnonzero(side != 0)
        s_f = s - float(x[bd].sum())
        M = Q[np.ix_(fr, fr)] + rho
        rhs = np.stack([-(c[fr] + Q[np.ix_(fr, bd)] @ x[bd]), np.ones(fr.size)], axis=1)
        try:
            sol = np.linalg.solve(M, rhs)
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(M, rhs, rcond=None)[0]
        nu_s = (s_f - sol[:, 0].sum()) / sol[:, 1].sum()
        target = x.copy()
        target[fr] = sol[:, 0] + nu_s * sol[:, 1]
        d = target - x
        inside = np.all(target[fr] >= lo[fr] - tol) & np.all(target[fr] <= hi[fr] + tol)
        if inside:
            x = np.clip(target, lo, hi)
            nu = nu_s - rho * s_f
            z = Q @ x + c - nu
            bad = np.where(
                side < 0, np.maximum(-z, 0.0), np.where(side > 0, np.maximum(z, 0.0), 0.0)
            )
            j = int(np.argmax(bad))
            if bad[j] <= 1e-13 * max(1.0, float(np.max(np.abs(Q @ x)))):
                return x
            side[j] = 0
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            t_lo = np.where(d[fr] < 0, (lo[fr] - x[fr]) / d[fr], np.inf)
            t_hi = np.where(d[fr] > 0, (hi[fr] - x[fr]) / d[fr], np.inf)
        t_all = np.minimum(t_lo, t_hi)
        pos = int(np.argmin(t_all))
        step = float(np.clip(t_all[pos], 0.0, 1.0))
        x = x + step * d
        i = int(fr[pos])
        side[i] = -1 if t_lo[pos] <= t_hi[pos] else 1
        x[i] = lo[i] if side[i] < 0 else hi[i]
    raise ConvergenceError("the tie-breaking QP at the start of the critical line did not finish")


def _walk(
    S: np.ndarray, m: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, max_steps: int
) -> tuple[list[_Node], list[np.ndarray], int]:
    """One walk on the scaled problem from λ = +∞ down to λ = 0.

    Returns the nodes, the free set of each segment as a boolean (n,) mask, and the
    number of events.
    """
    wk = _Walk(S, m, lo, hi)
    kern = wk.kern
    n = m.size
    w0, last = _greedy_start(m, lo, hi)
    wk.w = w0.copy()
    wk.status[:] = np.where(lo == hi, 2, np.where(w0 >= hi, 1, -1))
    # ties with the asset that completes the budget: the λ → ∞ limit is the
    # minimum-variance split of the tied group's budget
    tied = np.flatnonzero((lo < hi) & (np.abs(m - m[last]) <= _TIE_TOL))
    start = [last]
    if tied.size > 1:
        rest = np.setdiff1d(np.arange(n), tied)
        s_t = 1.0 - float(w0[rest].sum())
        c = S[np.ix_(tied, rest)] @ w0[rest]
        x = _face_qp(S[np.ix_(tied, tied)], c, s_t, lo[tied], hi[tied], w0[tied])
        wk.w[tied] = x
        wk.status[tied] = np.where(x >= hi[tied], 1, -1)
        inner = tied[(x > lo[tied]) & (x < hi[tied])]
        if inner.size:
            start = [int(i) for i in inner]
        else:
            # a vertex of the face: free the asset whose gradient sets the budget
            # multiplier, so that every other tied asset keeps a multiplier of the right sign
            g = S[tied] @ wk.w
            up = x >= hi[tied]
            start = [int(tied[np.argmax(np.where(up, g, -np.inf))])] if up.any() else []
            if not start:
                start = [int(tied[np.argmin(g)])]
    wk.cB = S @ wk.w
    for j in start:
        wk.make_free(j)
    if not wk.k:  # pragma: no cover - a single asset always factorizes
        raise ConvergenceError("the critical line could not start: singular first block")
    nodes: list[_Node] = []
    free_sets: list[np.ndarray] = []
    lam_c = math.inf
    last_changed = -1
    while True:
        wk.steps += 1
        if wk.steps > max_steps:
            raise ConvergenceError(
                f"the critical line took more than {max_steps} steps (degenerate cycling); "
                "perturb the inputs or use method='admm'"
            )
        scale = max(1.0, abs(lam_c)) if math.isfinite(lam_c) else 1.0
        st = wk.status
        alpha, beta, g0, g1, z0, z1, j, lam_e, w_e = kern.event(
            wk.L,
            wk.k,
            wk.Y,
            wk.X,
            wk.bidx,
            wk.nb,
            wk.UVC,
            wk.cB,
            wk.m,
            wk.w,
            wk.rho,
            st,
            wk.pos,
            wk.fidx,
            lo,
            hi,
            lam_c,
            last_changed,
            _LAMBDA_TOL * scale,
            _SLOPE_TOL,
            _ZERO_LAMBDA,
        )
        j = int(j)
        g0, g1 = float(g0), float(g1)
        if lam_e <= _ZERO_LAMBDA:  # λ = 0 reached (rounding noise around 0 counts as 0)
            kind = "min_variance" if nodes else "max_return"
            if nodes:
                free_sets.append(st == 0)
            nodes.append(_Node(w_e, 0.0, g0, kind, z0, z1, wk.m, 0.0))
            return nodes, free_sets, wk.steps
        kind = "corner" if nodes else "max_return"
        nd = _Node(w_e, lam_e, g0 + lam_e * g1, kind, z0, z1, wk.m, lam_e)
        if not nodes:
            nodes.append(nd)
        elif kern.max_abs_diff(nd.w, nodes[-1].w) > 1e-14 or lam_e < nodes[-1].lam - (
            _LAMBDA_TOL * scale
        ):
            free_sets.append(st == 0)
            nodes.append(nd)
        wk.w = nd.w.copy()
        if st[j] == 0:
            wk.make_bound(j, -1 if beta[wk.pos[j]] > 0 else 1)
        elif not wk.make_free(j):
            _null_move(wk, j)
            if kern.max_abs_diff(wk.w, nodes[-1].w) > 1e-14:
                free_sets.append(wk.status == 0)
                nodes.append(_Node(wk.w.copy(), lam_e, nd.gam, "corner", nd.z0, nd.z1, nd.m, lam_e))
        last_changed = j
        lam_c = lam_e


def _null_move(wk: _Walk, j: int) -> None:
    """Entering asset j makes the free block singular: move along its null direction.

    ``v`` has ``v_j = ±1`` and ``M_FF v_F = −M_Fj v_j``; then ``Σ̃v = 0`` and ``1ᵀv = 0``, so
    the objective, return and multipliers are unchanged. The weights move until a free
    asset (or j itself) reaches a bound; a free asset that does leaves, and j enters.
    """
    F = wk.free
    sign = 1.0 if wk.status[j] == -1 else -1.0
    vF = -sign * wk.e_column(j)
    wF = wk.w[F]
    step = (wk.hi[j] - wk.lo[j]) if math.isfinite(wk.hi[j] - wk.lo[j]) else math.inf
    block = -1
    for pos, i in enumerate(F):
        if vF[pos] < -_SLOPE_TOL:
            t = (wk.lo[i] - wF[pos]) / vF[pos]
        elif vF[pos] > _SLOPE_TOL and math.isfinite(wk.hi[i]):
            t = (wk.hi[i] - wF[pos]) / vF[pos]
        else:
            continue
        if t < step:
            step, block = max(t, 0.0), pos
    if not math.isfinite(step):
        raise ConvergenceError("a null direction of the free block is unbounded")
    wk.cB -= wk.S[j] * wk.w[j]
    wk.w[F] = wF + step * vF
    wk.w[j] += sign * step
    if block < 0:  # j crossed to its other bound and stays bound
        wk.status[j] = 1 if sign > 0 else -1
        wk.w[j] = wk.hi[j] if sign > 0 else wk.lo[j]
    wk.cB += wk.S[j] * wk.w[j]
    wk._refresh_c()
    if block < 0:
        return
    i = F[block]
    side = -1 if vF[block] < 0 else 1
    wk.make_bound(i, side)
    if not wk.make_free(j):  # pragma: no cover - a second dependency at the same point
        _null_move(wk, j)


# --------------------------------------------------------------------------- public API
def critical_line(
    mu: Any,
    cov: Any,
    *,
    lower: Any = 0.0,
    upper: Any = None,
    branch: str = "efficient",
) -> CriticalLineResult:
    """Every corner portfolio of the bounded mean-variance frontier, exactly.

    Solves ``min ½ wᵀΣw − λ μᵀw  s.t. 1ᵀw = 1, lower ≤ w ≤ upper`` for every ``λ ≥ 0``
    (``branch="efficient"``) or every real ``λ`` (``branch="full"``) by the critical-line
    algorithm (see the module notes for the updates and the degenerate cases).

    Parameters
    ----------
    mu : array_like, shape (n,)
        Expected returns (NumPy, torch or CuPy; lists and pandas become NumPy).
    cov : array_like, shape (n, n)
        Symmetric positive semidefinite covariance, same backend.
    lower : scalar or array_like (n,), default 0.0
        Finite lower bounds (long-only is ``0``).
    upper : scalar, array_like (n,) or None, default None
        Upper bounds (``None`` or ``inf`` for none).
    branch : {"efficient", "full"}, default "efficient"
        Stop at the minimum-variance portfolio, or continue along the inefficient branch
        down to the minimum-return portfolio.

    Returns
    -------
    CriticalLineResult
        Node portfolios with their return, risk, ``λ`` and ``γ``, the free set of each
        segment, and :meth:`~CriticalLineResult.weights_at` /
        :meth:`~CriticalLineResult.max_sharpe`.

    Raises
    ------
    InputError
        Unknown ``branch``, a ``-inf`` lower bound, or bounds that leave no portfolio.
    DegenerateReturnsError
        Every ``μᵢ`` is equal (there is no frontier to trace).
    ShapeError, NonFiniteError, NotSymmetricError
        Invalid inputs.
    ConvergenceError
        The walk exceeded its step limit (degenerate cycling; not observed in tests).
    """
    if branch not in BRANCHES:
        raise InputError(f"branch must be one of {BRANCHES}, got {branch!r}")
    p = prepare(mu, cov)
    if p.mu is None:  # pragma: no cover - prepare keeps mu
        raise InputError("critical_line needs expected returns mu")
    xp, dev, n = p.xp, p.device, p.n
    lo_x, hi_x = resolve_bounds(n, False, (lower, upper), xp, dev)
    lo, hi = to_numpy(lo_x).astype(np.float64), to_numpy(hi_x).astype(np.float64)
    if not np.isfinite(lo).all():
        raise InputError(
            "critical_line needs finite lower bounds (the path starts at the maximum-return "
            "portfolio, which is unbounded otherwise); use efficient_frontier(method='admm')"
        )
    mu_np = to_numpy(p.mu).astype(np.float64)
    cov_np = to_numpy(p.cov).astype(np.float64)
    d = float(np.mean(np.diag(cov_np)))
    if not d > 0.0:
        raise InputError("cov has a zero diagonal: every asset is riskless")
    m0 = float(mu_np.mean())
    sm = float(np.max(np.abs(mu_np - m0)))
    if sm == 0.0:
        raise DegenerateReturnsError(
            "every expected return is equal, so the frontier is a single portfolio; use "
            "min_variance(..., bounds=...) instead"
        )
    S = cov_np / d
    m = (mu_np - m0) / sm
    max_steps = 50 * n + 100
    nodes, fsets, steps = _walk(S, m, lo, hi, max_steps=max_steps)
    eff = _EfficientWalk(S, m, lo, hi, d, m0, sm, mu_np, max_steps, nodes, fsets, steps)
    return _assemble(eff, branch, p.mu, p.cov)


@dataclass(frozen=True)
class _EfficientWalk:
    """The scaled problem and its efficient walk, kept so the other branch can follow."""

    S: np.ndarray
    m: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    d: float
    m0: float
    sm: float
    mu: np.ndarray
    max_steps: int
    nodes: list[_Node]
    masks: list[np.ndarray]
    steps: int


def with_full_branch(path: CriticalLineResult) -> CriticalLineResult:
    """Extend ``path`` to ``branch="full"``, walking only the inefficient branch.

    The efficient walk of ``path`` is reused: only the mirrored walk from the
    minimum-return portfolio up to ``λ = 0`` runs, so the result equals
    ``critical_line(mu, cov, ..., branch="full")`` at about half its cost.

    Parameters
    ----------
    path : CriticalLineResult
        A path from :func:`critical_line` (either branch).

    Returns
    -------
    CriticalLineResult
        ``path`` itself when it already holds both branches.
    """
    if path.branch == "full":
        return path
    if path._walk is None:  # pragma: no cover - every critical_line result carries it
        raise InputError("this path carries no walk to extend; call critical_line(..., 'full')")
    return _assemble(path._walk, "full", path.mu, path.cov)


def _assemble(eff: _EfficientWalk, branch: str, mu: Any, cov: Any) -> CriticalLineResult:
    """Nodes of the efficient walk (and, for ``"full"``, the mirrored one) as a result."""
    xp = namespace(mu)
    dev = _device(mu)
    n = eff.m.size
    nodes, fsets, steps = list(eff.nodes), list(eff.masks), eff.steps
    if branch == "full":
        low_nodes, low_sets, steps2 = _walk(eff.S, -eff.m, eff.lo, eff.hi, max_steps=eff.max_steps)
        steps += steps2
        # the mirrored walk runs from the minimum-return portfolio up to λ = 0; its λ = 0
        # end is the efficient walk's unless the minimum variance is attained on a whole
        # segment (semidefinite Σ), which then joins the two ends at λ = 0
        gap = float(eff.m @ (nodes[-1].w - low_nodes[-1].w))  # scaled return difference ≥ 0
        keep = gap > 1e-9
        if keep:
            low_nodes[-1].kind = "corner"
            low_nodes[-1].lam = 0.0
            union = np.zeros(n, dtype=bool)
            if fsets:
                union |= fsets[-1]
            if low_sets:
                union |= low_sets[-1]
            low_sets = low_sets + [union]
        tail = [
            _Node(
                nd.w,
                -nd.lam,
                nd.gam,
                "min_return" if nd.kind == "max_return" else "corner",
                nd.z0,
                nd.z1,
                nd.m,
                nd.lam_walk,
            )
            for nd in reversed(low_nodes if keep else low_nodes[:-1])
        ]
        nodes = nodes + tail
        fsets = fsets + list(reversed(low_sets))
    d, m0 = eff.d, eff.m0
    lam_scale = d / eff.sm
    W = np.stack([nd.w for nd in nodes])
    lambdas = np.array([nd.lam for nd in nodes]) * lam_scale
    # γ of Σ̃ with μ̃ → γ of Σ with μ: Σw = λμ + γ1 + ζ, ζ = d ζ̃
    gammas = np.array([nd.gam for nd in nodes]) * d - lambdas * m0
    # every node's scaled multipliers ζ̃ = z0 + λ_walk z1 (= Σ̃w − λm − γ, zero on free
    # assets) and scaled variance wᵀΣ̃w = wᵀ(ζ̃ + λ_walk m + γ), stacked over the nodes
    lam_walk = np.array([nd.lam_walk for nd in nodes])[:, None]
    z_scaled = np.stack([nd.z0 for nd in nodes])
    z_scaled += lam_walk * np.stack([nd.z1 for nd in nodes])
    # the efficient walk's nodes (first) have m = μ̃, the mirrored walk's (after them) −μ̃
    sign = np.ones((len(nodes), 1))
    sign[len(eff.nodes) :] = -1.0
    grad = z_scaled + (sign * lam_walk) * eff.m
    grad += np.array([nd.gam for nd in nodes])[:, None]
    zetas = z_scaled * d
    returns = W @ eff.mu
    risks = np.sqrt(np.clip(np.einsum("ij,ij->i", W, grad) * d, 0.0, None))
    kinds = tuple(nd.kind for nd in nodes)
    masks = np.stack(fsets) if fsets else np.zeros((0, n), dtype=bool)
    return CriticalLineResult(
        weights=xp.asarray(W, dtype=xp.float64, device=dev),
        returns=returns,
        risks=risks,
        lambdas=lambdas,
        gammas=gammas,
        zetas=zetas,
        kinds=kinds,
        free_masks=masks,
        lower=eff.lo,
        upper=eff.hi,
        branch=branch,
        n_steps=steps,
        mu=mu,
        cov=cov,
        _walk=eff,
    )
