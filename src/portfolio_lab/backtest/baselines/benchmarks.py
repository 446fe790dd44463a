"""Benchmarks of the OLPS survey: UBAH (the market), UCRP, Best Stock and BCRP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...exceptions import ConvergenceError, InputError
from ..policy import Policy
from ._base import OnlinePolicy, check_relatives
from ._bcrp_kernels import sample_hessians, sample_objective, stacked_products
from ._simplex import simplex_qp, simplex_qp_rows, simplex_rows

__all__ = [
    "UBAH",
    "UCRP",
    "BestStock",
    "BCRP",
    "BCRPSolution",
    "solve_bcrp",
    "solve_bcrp_batch",
    "packed_outer",
    "hessian_method",
    "HESSIANS",
]

#: Hessian products of :func:`solve_bcrp_batch`: one product over the whole history with
#: the masks as weights (``"dense"``), one per sample over its own days (``"sample"``), or
#: the one the cost model of :func:`hessian_method` expects to be faster (``"auto"``).
HESSIANS = ("auto", "dense", "sample")
# seconds per unit of work, measured on the project's 2-core EPYC with one BLAS thread
# (issue 20): the dense product costs E·T·n(n+1)/2 multiply-adds in one GEMM (1.2e-10 s
# each alone; 2e-10 in place, with the scatter into full matrices and the packed rows'
# upkeep: at 1.2e-10 B^K on TSE's first 700 days took 7.4 CPU-s against 6.5 per sample);
# a sample's product costs m·n² in a small GEMM plus m·n for gathering and scaling its rows
_DENSE_PER_FLOP = 2.0e-10
_SAMPLE_PER_FLOP = 2.9e-11
_SAMPLE_PER_ROW_ENTRY = 4.8e-9


class UBAH(OnlinePolicy):
    """Uniform buy-and-hold ("Market" in the survey): buy 1/n of each asset once, then hold.

    The weights of period ``t`` are the uniform portfolio drifted by every relative seen
    so far, ``w_t ∝ (1/n) ∏_{s<t} x_s``, so the policy never trades after period 0.
    """

    name = "UBAH"

    def _start(self, n: int) -> np.ndarray:
        self._value = np.full(n, 1.0 / n)
        return self._value.copy()

    def _update(self, history: np.ndarray) -> np.ndarray:
        self._value = self._value * history[-1]
        return self._value / self._value.sum()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return the drifted uniform weights of every period, shape (T, n)."""
        x = check_relatives(relatives)
        growth = np.vstack([np.ones((1, x.shape[1])), np.cumprod(x[:-1], axis=0)])
        return growth / growth.sum(axis=1, keepdims=True)


class UCRP(OnlinePolicy):
    """Uniform constant rebalanced portfolio: rebalance to 1/n before every period."""

    name = "UCRP"

    def _update(self, history: np.ndarray) -> np.ndarray:
        return self.weights_

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return 1/n in every row, shape (T, n)."""
        x = check_relatives(relatives)
        return np.full(x.shape, 1.0 / x.shape[1])


class _HindsightConstant(Policy):
    """A constant portfolio fitted on the whole sample (labelled hindsight by the engine)."""

    hindsight = True

    def _fit(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_hindsight(self, relatives: np.ndarray) -> None:
        """Fit the constant weights ``weights_`` on every relative, shape (T, n)."""
        self.weights_ = self._fit(check_relatives(relatives))

    def _fitted(self, n: int) -> np.ndarray:
        w = getattr(self, "weights_", None)
        if w is None or w.size != n:
            raise ConvergenceError(
                f"{self.name} is a hindsight policy: call fit_hindsight(relatives) first"
            )
        return w

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Return the fitted constant weights, shape (n,)."""
        return self._fitted(history.shape[1]).copy()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return the fitted weights in every row, shape (T, n)."""
        x = check_relatives(relatives)
        return np.tile(self._fitted(x.shape[1]), (x.shape[0], 1))


class BestStock(_HindsightConstant):
    """Best Stock (hindsight): all wealth in the asset with the largest final wealth.

    Following the OLPS toolbox (``best.m``), the portfolio is rebalanced to the single
    best asset, which is the same as buying and holding it.
    """

    name = "Best Stock"

    def _fit(self, x: np.ndarray) -> np.ndarray:
        w = np.zeros(x.shape[1])
        w[int(np.argmax(np.sum(np.log(x), axis=0)))] = 1.0
        return w


@dataclass(frozen=True)
class BCRPSolution:
    """Log-optimal constant rebalanced portfolio and the certificate of its optimality.

    Attributes
    ----------
    weights : numpy.ndarray, shape (n,)
    log_wealth : float
        ``sum_t log(x_t · b)``.
    kkt_residual : float
        ``max_i g_i - 1`` together with the spread of ``g_i`` on the support, where
        ``g = (1/T) sum_t x_t / (x_t · b)``; zero at the optimum.
    n_iter : int
    """

    weights: np.ndarray
    log_wealth: float
    kkt_residual: float
    n_iter: int


def _kkt_residual(g: np.ndarray, b: np.ndarray) -> float:
    support = b > 1e-10
    return float(max(np.max(g) - 1.0, np.max(np.abs(g[support] - 1.0))))


def solve_bcrp(
    relatives: np.ndarray,
    *,
    tol: float = 1e-12,
    max_iter: int = 200,
    start: np.ndarray | None = None,
) -> BCRPSolution:
    """Maximize ``sum_t log(x_t · b)`` over the simplex by projected Newton steps.

    Each iteration minimizes the second-order model of ``-(1/T) sum_t log(x_t · b)``
    over the simplex (:func:`simplex_qp`, warm-started) and backtracks along the
    resulting direction (Armijo). No general-purpose solver is needed; the optimality
    certificate is the KKT condition ``g_i <= 1`` with equality on the support.

    Parameters
    ----------
    relatives : numpy.ndarray, shape (T, n)
        Price relatives.
    tol : float, default 1e-12
        Stop when the Newton decrement ``g·(y - b)`` falls below ``tol``.
    max_iter : int, default 200
    start : numpy.ndarray, shape (n,), optional
        Starting portfolio (uniform by default); the pattern-matching baselines pass the
        previous period's solution, which usually leaves one or two Newton steps.

    Returns
    -------
    BCRPSolution

    Raises
    ------
    ConvergenceError
        If the decrement is still above ``tol`` after ``max_iter`` iterations.
    """
    x = check_relatives(relatives)
    T, n = x.shape
    b = np.full(n, 1.0 / n)
    if start is not None:
        s0 = np.maximum(np.asarray(start, dtype=np.float64), 0.0)
        if s0.shape == (n,) and s0.sum() > 0:
            b = s0 / s0.sum()

    def objective(w: np.ndarray) -> float:
        return float(-np.mean(np.log(x @ w)))

    f = objective(b)
    for it in range(1, max_iter + 1):
        r = x @ b
        xr = x / r[:, None]
        grad = -xr.mean(axis=0)
        hess = xr.T @ xr / T
        hess += (1e-12 * np.trace(hess) / n) * np.eye(n)
        y = simplex_qp(hess, grad - hess @ b, b)
        d = y - b
        decrement = float(-grad @ d)
        if decrement <= tol:
            # the last Newton step is tiny but first order in the weights: take it
            # (quadratic convergence puts y much closer to the optimum than b; comparing
            # objectives this close to the optimum would only compare rounding errors)
            b = y
            f = objective(b)
            grad = -(x / (x @ b)[:, None]).mean(axis=0)
            return BCRPSolution(b, -T * f, _kkt_residual(-grad, b), it)
        alpha = 1.0
        while True:
            cand = b + alpha * d
            if np.all(x @ cand > 0):
                f_new = objective(cand)
                if f_new <= f - 1e-4 * alpha * decrement:
                    break
            alpha *= 0.5
            if alpha < 1e-12:
                return BCRPSolution(b, -T * f, _kkt_residual(-grad, b), it)
        b = np.maximum(cand, 0.0)
        b /= b.sum()
        f = objective(b)
    raise ConvergenceError(f"solve_bcrp did not reach decrement {tol} in {max_iter} iterations")


def packed_outer(x: np.ndarray) -> np.ndarray:
    """Upper triangles of the outer products ``x_t x_tᵀ``, row by row.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, n)

    Returns
    -------
    numpy.ndarray, shape (T, n (n + 1) / 2)
        Row ``t``: ``x_t[i] x_t[j]`` for ``i <= j`` in ``numpy.triu_indices(n)`` order.
    """
    i, j = np.triu_indices(x.shape[1])
    return x[:, i] * x[:, j]


def hessian_method(n_days: int, n_assets: int, sample_sizes: np.ndarray) -> str:
    """Choose the faster Hessian product of :func:`solve_bcrp_batch` for a problem's shape.

    The dense product does ``E·T·n(n+1)/2`` multiply-adds in one matrix product whatever
    the samples; the per-sample products do ``Σₑ mₑ n²`` in ``E`` small ones, plus the
    gathering of each sample's rows. Large samples and few assets (B^K and B^NN on NYSE:
    most windows match, ``n`` = 23 or 36) favour the dense product; small samples or many
    assets (TSE, ``n`` = 88) the per-sample one. The costs per unit are measured constants
    (one BLAS thread); only their ratio matters. The Hessian is not the whole day's cost:
    on the first 1500 days of NYSE (O) B^K took 9.7 CPU-s with the dense product and 10.4
    with the per-sample one, most of the rest being the simplex QPs of the Newton steps.
    Re-checked after both moved to compiled kernels (2026-12-07, first 2000 days of
    NYSE (O)): the choice by these constants took 17.5 / 10.1 s for B^NN / B^K against
    18.8 / 10.9 s always dense and 20.6 / 13.2 s always per sample.

    Parameters
    ----------
    n_days : int
        Length ``T`` of the history.
    n_assets : int
        Number of assets ``n``.
    sample_sizes : numpy.ndarray of int, shape (E,)
        Days in each problem's sample.

    Returns
    -------
    {"dense", "sample"}
    """
    sizes = np.asarray(sample_sizes, dtype=np.float64)
    n = float(n_assets)
    dense = _DENSE_PER_FLOP * sizes.size * n_days * n * (n + 1.0) / 2.0
    sample = float(sizes.sum()) * (_SAMPLE_PER_FLOP * n * n + _SAMPLE_PER_ROW_ENTRY * n)
    return "dense" if dense < sample else "sample"


def solve_bcrp_batch(
    relatives: np.ndarray,
    masks: np.ndarray,
    *,
    starts: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 200,
    hessian: str = "auto",
    packed: np.ndarray | None = None,
) -> np.ndarray:
    """Log-optimal portfolios of ``E`` subsamples of one history, solved together.

    Problem ``e`` is :func:`solve_bcrp` on the rows ``relatives[masks[e]]``; the batch
    takes the same projected Newton steps (same model, same Armijo backtracking, same
    stopping rule on the decrement) for all problems at once: the gains ``x_t · b_e``
    and the gradients of all problems are matrix products over the whole history with
    the masks as weights, the Hessians either one product over the whole history with the
    same weights (``hessian="dense"``, from the packed outer products ``x_t x_tᵀ``) or a
    symmetric product over each sample's own days (``"sample"``), whichever
    :func:`hessian_method` expects to be faster for the problem's shape (``"auto"``),
    and the Newton subproblems one call of :func:`simplex_qp_rows` on the Hessians where they
    are kept (no copy of the stack); a problem leaves the batch
    when its decrement falls below ``tol``. The pattern-matching experts (B^K, B^NN: 51
    samples of the same history a day) use it instead of 51 separate solves.

    Parameters
    ----------
    relatives : numpy.ndarray, shape (T, n)
        Positive price relatives.
    masks : numpy.ndarray of bool, shape (E, T)
        Row ``e`` selects the sample of problem ``e``; each selects at least one day.
    starts : numpy.ndarray, shape (E, n), optional
        Warm starts (uniform by default).
    tol : float, default 1e-12
    max_iter : int, default 200
    hessian : {"auto", "dense", "sample"}, default "auto"
        Hessian product (same Hessians up to rounding; see :data:`HESSIANS`).
    packed : numpy.ndarray, shape (T, n (n + 1) / 2), optional
        :func:`packed_outer` of ``relatives``, for callers that keep it incrementally
        (used by the dense product; computed here when absent).

    Returns
    -------
    numpy.ndarray, shape (E, n)
        Row ``e``: the log-optimal portfolio of sample ``e``.

    Raises
    ------
    InputError
        If the masks do not match the history, one selects no day, ``hessian`` is
        unknown or ``packed`` has the wrong shape.
    ConvergenceError
        If some problem's decrement is still above ``tol`` after ``max_iter`` iterations.
    """
    x = check_relatives(relatives)
    T, n = x.shape
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[1] != T:
        raise InputError(f"masks must be (E, {T}) to match the relatives, got {masks.shape}")
    count = masks.sum(axis=1)
    if np.any(count == 0):
        raise InputError("solve_bcrp_batch: a mask selects no day (an empty sample)")
    E = masks.shape[0]
    if hessian not in HESSIANS:
        raise InputError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
    if hessian == "auto":
        hessian = hessian_method(T, n, count)
    if hessian == "dense":
        Z = packed_outer(x) if packed is None else np.asarray(packed)
        if Z.shape != (T, n * (n + 1) // 2):
            raise InputError(
                f"packed must be (T, n(n+1)/2) = {(T, n * (n + 1) // 2)}, got {Z.shape}"
            )
        iu, ju = np.triu_indices(n)
    owner, days = np.nonzero(masks)  # the samples' days in CSR order, problem by problem
    offsets = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=E))))
    weight = masks.T / count  # (T, E): 1/m on the days of each sample
    B = simplex_rows(starts, E, n)

    def objective(r: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Objective of problems ``cols`` at gains ``r`` (+inf outside the domain)."""
        return sample_objective(r, cols, weight, days, offsets)

    R = x @ B.T
    f = objective(R, np.arange(E))
    H = np.empty((E, n, n))  # each problem's Hessian, as last evaluated
    reuse = np.zeros(E, dtype=bool)
    close = tol ** (2.0 / 3.0)
    open_ = np.arange(E)
    for _ in range(max_iter):
        if open_.size == 0:
            return B
        w, r, b = weight[:, open_], R[:, open_], B[open_]
        inv = w / r
        grad = -(inv.T @ x)
        fresh = ~reuse[open_]
        new = open_[fresh]
        if new.size and hessian == "dense":  # one product over the history, masks as weights
            packed_h = (inv[:, fresh] / r[:, fresh]).T @ Z
            hess = np.empty((new.size, n, n))
            hess[:, iu, ju] = packed_h
            hess[:, ju, iu] = packed_h
            hess += (1e-12 * np.trace(hess, axis1=1, axis2=2) / n)[:, None, None] * np.eye(n)
            H[new] = hess
        elif new.size:  # a symmetric rank-m sum on each sample's own days, with the ridge
            sample_hessians(x, weight, R, days, offsets, new, H)
        y = simplex_qp_rows(H, open_, grad - stacked_products(H, open_, b), b)
        d = y - b
        decrement = -np.einsum("ei,ei->e", grad, d)
        done = decrement <= tol
        # Deep in Newton's quadratic phase (a decrement δ <= tol^(2/3) from a fresh
        # Hessian) the next step is of size about δ and the Hessian moves by about √δ, so
        # the previous one models that step to an error of δ^1.5 <= tol: the last step of
        # a solve reuses it (one Hessian fewer per solve). A reused model is used once.
        reuse[open_] = fresh & (decrement <= close)
        # as in solve_bcrp: the last tiny Newton step is taken
        B[open_[done]] = y[done]
        todo = np.flatnonzero(~done)
        alpha = np.ones(todo.size)
        pending = np.arange(todo.size)
        stalled = np.zeros(todo.size, dtype=bool)
        while pending.size:
            cols = open_[todo[pending]]
            cand = b[todo[pending]] + alpha[pending, None] * d[todo[pending]]
            rc = x @ cand.T
            f_new = objective(rc, cols)  # +inf where a gain of the sample is not positive
            ok = f_new <= f[cols] - 1e-4 * alpha[pending] * decrement[todo[pending]]
            acc = cols[ok]
            nb = np.maximum(cand[ok], 0.0)
            B[acc] = nb / nb.sum(axis=1, keepdims=True)
            # the candidate's gains and objective serve the accepted point (equal to it up
            # to the renormalization's rounding) unless a coordinate had to be clipped
            R[:, acc] = rc[:, ok]
            f[acc] = f_new[ok]
            clip = acc[np.any(cand[ok] < 0.0, axis=1)]
            if clip.size:
                R[:, clip] = x @ B[clip].T
                f[clip] = objective(np.ascontiguousarray(R[:, clip]), clip)
            alpha[pending[~ok]] *= 0.5
            gone = ~ok & (alpha[pending] < 1e-12)
            stalled[pending[gone]] = True  # no decrease left to find: keep b, as solve_bcrp
            pending = pending[~ok & ~gone]
        open_ = open_[todo[~stalled]]
    if open_.size == 0:
        return B
    raise ConvergenceError(
        f"solve_bcrp_batch: {open_.size} of {E} problems did not reach decrement {tol} "
        f"in {max_iter} iterations"
    )


class BCRP(_HindsightConstant):
    """Best constant rebalanced portfolio in hindsight (log-optimal CRP, Cover 1991).

    Solved by :func:`solve_bcrp` (projected Newton on the simplex) on the whole sample.
    """

    name = "BCRP"

    def _fit(self, x: np.ndarray) -> np.ndarray:
        self.solution_ = solve_bcrp(x)
        return self.solution_.weights
