"""Proportional transaction costs: the transaction remainder factor μ.

In the code the factor is called ``remainder`` (``mu`` means expected returns everywhere
else in the package); ``μ`` below is the symbol of Jiang, Xu & Liang.

Rebalancing from the held weights ``w'`` (after the market drift) to the target weights
``w`` shrinks the portfolio value by a factor ``μ`` (Jiang, Xu & Liang 2017, "A Deep
Reinforcement Learning Framework for the Financial Portfolio Management Problem", eq. 14-15).
With cash weights ``w'_0, w_0``, a purchase rate ``c_p`` (fraction of the cash spent) and a
sale rate ``c_s`` (fraction of the proceeds), ``μ`` is the fixed point of

    μ = [1 - c_p w'_0 - (c_p + c_s - c_p c_s) Σ_{i risky} (w'_i - μ w_i)^+] / (1 - c_p w_0).

Without an explicit cash asset the trades settle through an implicit cash account whose
weights are ``1 - Σ w'`` and ``1 - Σ w`` (zero for fully invested portfolios, one for a
start from cash), which reduces the equation to ``μ = 1 - (c_p + c_s - c_p c_s) Σ (w'_i - μ
w_i)^+``. The right-hand side is a contraction with constant at most ``c_p + c_s`` for
long-only targets, so the iteration converges geometrically.

The first-order form ``μ ≈ 1 - Σ_{i risky} [c_s (w'_i - w_i)^+ + c_p (w_i - w'_i)^+]``
(``1 - c Σ|w' - w|`` with one rate and no cash) differs from the exact factor by ``O(c²)``
and is cheaper and smooth almost everywhere, which suits training losses.

Both functions accept NumPy arrays or torch tensors (through the array API) of shape
``(n,)`` or ``(T, n)`` (one factor per row) and are differentiable under torch autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import namespace
from ..exceptions import ConvergenceError, InputError, ShapeError

__all__ = ["remainder_factor", "remainder_factor_linear", "check_fees"]


def check_fees(buy_fee: float, sell_fee: float) -> tuple[float, float]:
    """Validate proportional fee rates and return them as floats.

    Parameters
    ----------
    buy_fee, sell_fee : float
        Rates in ``[0, 1)``.

    Returns
    -------
    tuple of float
        ``(buy_fee, sell_fee)``.
    """
    out = []
    for label, value in (("buy_fee", buy_fee), ("sell_fee", sell_fee)):
        v = float(value)
        if not 0.0 <= v < 1.0:
            raise InputError(f"{label} must lie in [0, 1) (a proportional rate), got {value!r}")
        out.append(v)
    return out[0], out[1]


def _split(xp: Any, held: Any, target: Any, cash_index: int | None) -> tuple[Any, ...]:
    """Return ``(held_cash, target_cash, held_risky, target_risky)`` along the last axis."""
    if held.shape != target.shape:
        raise ShapeError(f"held {tuple(held.shape)} and target {tuple(target.shape)} differ")
    if held.ndim not in (1, 2):
        raise ShapeError(f"weights must have shape (n,) or (T, n), got {tuple(held.shape)}")
    n = held.shape[-1]
    if cash_index is None:
        held_cash = 1.0 - xp.sum(held, axis=-1)
        target_cash = 1.0 - xp.sum(target, axis=-1)
        return held_cash, target_cash, held, target
    if not -n <= cash_index < n:
        raise InputError(f"cash_index {cash_index} is out of range for {n} assets")
    k = cash_index % n
    keep = [i for i in range(n) if i != k]
    idx = xp.asarray(keep, dtype=xp.int64, device=getattr(held, "device", None))
    return (
        held[..., k],
        target[..., k],
        xp.take(held, idx, axis=-1),
        xp.take(target, idx, axis=-1),
    )


def _max_abs(xp: Any, x: Any) -> float:
    x = x.detach() if hasattr(x, "detach") else x
    return float(xp.max(abs(x))) if x.ndim else float(abs(x))


def _relu(x: Any) -> Any:
    # (x + |x|) / 2 works identically in every namespace and under autograd.
    return 0.5 * (x + abs(x))


def remainder_factor_linear(
    held: Any,
    target: Any,
    *,
    buy_fee: float,
    sell_fee: float,
    cash_index: int | None = None,
) -> Any:
    """First-order transaction remainder factor ``1 - c_s·sold - c_p·bought``.

    Parameters
    ----------
    held : array, shape (n,) or (T, n)
        Weights held before rebalancing (after the drift).
    target : array, same shape as ``held``
        Weights after rebalancing.
    buy_fee, sell_fee : float
        Proportional rates in ``[0, 1)``.
    cash_index : int or None
        Column of an explicit cash asset (its trades cost nothing by themselves);
        ``None`` when every column is a risky asset.

    Returns
    -------
    array, shape () or (T,)
        The approximate factor, in the input's namespace.
    """
    c_p, c_s = check_fees(buy_fee, sell_fee)
    xp = namespace(held, target)
    _, _, h, w = _split(xp, held, target, cash_index)
    sold = xp.sum(_relu(h - w), axis=-1)
    bought = xp.sum(_relu(w - h), axis=-1)
    return 1.0 - c_s * sold - c_p * bought


def remainder_factor(
    held: Any,
    target: Any,
    *,
    buy_fee: float,
    sell_fee: float,
    cash_index: int | None = None,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> Any:
    """Exact transaction remainder factor μ by fixed-point iteration (Jiang et al. eq. 14).

    Parameters
    ----------
    held : array, shape (n,) or (T, n)
        Weights held before rebalancing (after the drift); all zeros means a start
        from (implicit) cash.
    target : array, same shape as ``held``
        Weights after rebalancing.
    buy_fee, sell_fee : float
        Proportional purchase and sale rates in ``[0, 1)``.
    cash_index : int or None
        Column of an explicit cash asset; ``None`` when every column is risky (the
        implicit cash weights are then ``1 - Σ held`` and ``1 - Σ target``).
    tol : float
        Stop when every factor moves by less than ``tol`` in one iteration.
    max_iter : int
        Raise :class:`~portfolio_lab.exceptions.ConvergenceError` after this many.

    Returns
    -------
    array, shape () or (T,)
        The factor μ in ``(0, 1]``, in the input's namespace (differentiable under torch
        autograd: the iteration is unrolled, and it converges geometrically).
    """
    c_p, c_s = check_fees(buy_fee, sell_fee)
    if isinstance(held, np.ndarray) and isinstance(target, np.ndarray):
        return _remainder_numpy(held, target, c_p, c_s, cash_index, tol, max_iter)
    xp = namespace(held, target)
    h0, w0, h, w = _split(xp, held, target, cash_index)
    k = c_p + c_s - c_p * c_s
    numerator = 1.0 - c_p * h0
    denominator = 1.0 - c_p * w0
    remainder = remainder_factor_linear(
        held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash_index
    )
    if k == 0.0:
        return numerator / denominator
    for _ in range(max_iter):
        new = (numerator - k * xp.sum(_relu(h - remainder[..., None] * w), axis=-1)) / denominator
        step = _max_abs(xp, new - remainder)
        remainder = new
        if step < tol:
            return remainder
    raise _no_convergence(tol, max_iter, step)


def _no_convergence(tol: float, max_iter: int, step: float) -> ConvergenceError:
    return ConvergenceError(
        f"transaction remainder iteration did not reach tol={tol:g} in {max_iter} "
        f"iterations (last step {step:.3g}); check that the weights are finite and not "
        "extremely leveraged"
    )


def _remainder_numpy(
    held: np.ndarray,
    target: np.ndarray,
    c_p: float,
    c_s: float,
    cash_index: int | None,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Run the same fixed point as :func:`remainder_factor` with plain NumPy (fast path)."""
    if held.shape != target.shape or held.ndim not in (1, 2):
        raise ShapeError(
            f"held {held.shape} and target {target.shape} must share shape (n,) or (T, n)"
        )
    n = held.shape[-1]
    if cash_index is None:
        h, w = held, target
        h0 = 1.0 - h.sum(axis=-1)
        w0 = 1.0 - w.sum(axis=-1)
    else:
        if not -n <= cash_index < n:
            raise InputError(f"cash_index {cash_index} is out of range for {n} assets")
        k = cash_index % n
        h0, w0 = held[..., k], target[..., k]
        h = np.delete(held, k, axis=-1)
        w = np.delete(target, k, axis=-1)
    diff = h - w
    remainder = (
        1.0 - c_s * np.maximum(diff, 0.0).sum(axis=-1) - c_p * np.maximum(-diff, 0.0).sum(axis=-1)
    )
    kappa = c_p + c_s - c_p * c_s
    numerator = 1.0 - c_p * h0
    denominator = 1.0 - c_p * w0
    if kappa == 0.0:
        return np.asarray(numerator / denominator)
    step = np.inf
    if h.ndim == 1:  # one rebalancing (the loop engine): scalar arithmetic is much cheaper
        num, den, m = float(numerator), float(denominator), float(remainder)
        for _ in range(max_iter):
            new_m = (num - kappa * float(np.maximum(h - m * w, 0.0).sum())) / den
            step = abs(new_m - m)
            m = new_m
            if step < tol:
                return np.asarray(m)
        raise _no_convergence(tol, max_iter, step)
    for _ in range(max_iter):
        new = (numerator - kappa * np.maximum(h - remainder[..., None] * w, 0.0).sum(axis=-1)) / (
            denominator
        )
        step = float(np.max(np.abs(new - remainder)))
        remainder = new
        if step < tol:
            return np.asarray(remainder)
    raise _no_convergence(tol, max_iter, step)
