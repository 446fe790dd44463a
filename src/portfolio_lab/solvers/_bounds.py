"""Turn ``long_only`` / ``bounds`` into explicit bound vectors, and reach the QP solver."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .._backend import to_numpy
from ..exceptions import InputError, NonFiniteError, ShapeError

__all__ = ["resolve_bounds", "is_unconstrained", "qp_module", "primal_violation"]

_SUM_TOL = 1e-12


def is_unconstrained(long_only: bool, bounds: Any) -> bool:
    """Whether the closed form applies (no sign constraint and no bounds)."""
    return not long_only and bounds is None


def qp_module() -> Any:
    """Import :mod:`portfolio_lab.solvers.qp` lazily (constrained problems only)."""
    try:
        return importlib.import_module("portfolio_lab.solvers.qp")
    except ImportError as exc:  # pragma: no cover - qp ships with the package
        raise ImportError(
            "constrained problems (long_only / bounds) need portfolio_lab.solvers.qp, "
            "which could not be imported"
        ) from exc


def _side(value: Any, n: int, fill: float, name: str) -> np.ndarray:
    if value is None:
        return np.full(n, fill)
    arr = np.asarray(to_numpy(value) if not np.isscalar(value) else value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ShapeError(
            f"{name} bound must be a scalar or an array of shape ({n},), got shape {arr.shape}"
        )
    if np.isnan(arr).any():
        raise NonFiniteError(f"{name} bound holds NaN; use None or ±inf for 'unbounded'")
    return arr.copy()


def resolve_bounds(
    n: int, long_only: bool, bounds: Any, xp: Any, device: Any = None
) -> tuple[Any, Any]:
    """Resolve ``long_only`` and ``bounds`` into float64 lower/upper vectors.

    Parameters
    ----------
    n : int
        Number of assets.
    long_only : bool
        If true, every lower bound is raised to at least 0.
    bounds : tuple (lower, upper) or None
        Each side is a scalar, an array of shape (n,), or ``None`` (unbounded).
        Arrays may be NumPy, torch, CuPy, lists or pandas objects.
    xp : module
        Array namespace of the outputs.
    device : object, optional
        Device of the outputs (as given by ``array_api_compat.device``).

    Returns
    -------
    lower, upper : arrays, shape (n,)
        float64 bounds in ``xp`` on ``device``; ``-inf`` / ``+inf`` mean unbounded.

    Raises
    ------
    InputError
        ``bounds`` is not a pair, some ``lower > upper``, a lower bound is ``+inf`` or
        an upper bound ``-inf``, or the budget ``1ᵀw = 1`` cannot be met
        (``sum(lower) > 1`` or ``sum(upper) < 1``).
    ShapeError
        A side is neither a scalar nor of shape (n,).
    NonFiniteError
        A side holds NaN.
    """
    if bounds is None:
        lo_in, up_in = None, None
    else:
        try:
            lo_in, up_in = bounds
        except (TypeError, ValueError) as exc:
            raise InputError(
                "bounds must be a pair (lower, upper) of scalars, (n,) arrays or None"
            ) from exc
    lower = _side(lo_in, n, -np.inf, "lower")
    upper = _side(up_in, n, np.inf, "upper")
    if long_only:
        lower = np.maximum(lower, 0.0)
    if np.isposinf(lower).any():
        raise InputError("a lower bound is +inf: no weight can satisfy it")
    if np.isneginf(upper).any():
        raise InputError("an upper bound is -inf: no weight can satisfy it")
    bad = np.flatnonzero(lower > upper)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"lower bound exceeds upper bound for {bad.size} asset(s), first at index {i}: "
            f"{lower[i]:g} > {upper[i]:g}"
        )
    if lower.sum() > 1.0 + _SUM_TOL:
        raise InputError(
            f"sum of lower bounds is {lower.sum():g} > 1: the budget 1ᵀw = 1 is infeasible; "
            "lower some bounds"
        )
    if upper.sum() < 1.0 - _SUM_TOL:
        raise InputError(
            f"sum of upper bounds is {upper.sum():g} < 1: the budget 1ᵀw = 1 is infeasible; "
            "raise some bounds"
        )
    return (
        xp.asarray(lower, dtype=xp.float64, device=device),
        xp.asarray(upper, dtype=xp.float64, device=device),
    )


def primal_violation(
    w: np.ndarray,
    mu: np.ndarray,
    targets: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    kind: str,
) -> np.ndarray:
    """Largest violation of the budget, the return target and the box, per frontier point.

    Parameters
    ----------
    w : numpy.ndarray, shape (k, n)
        Frontier weights (NaN rows give NaN).
    mu : numpy.ndarray, shape (n,)
        Expected returns.
    targets : numpy.ndarray, shape (k,)
        Target returns.
    lower, upper : numpy.ndarray, shape (n,)
        Bounds (±inf for none).
    kind : {"eq", "geq"}
        Whether the return constraint is ``μᵀw = r`` or ``μᵀw ≥ r``.

    Returns
    -------
    numpy.ndarray, shape (k,)
    """
    with np.errstate(invalid="ignore"):
        gap = w @ mu - targets
        ret = np.abs(gap) if kind == "eq" else np.maximum(-gap, 0.0)
        box = np.maximum(np.max(lower - w, axis=1), np.max(w - upper, axis=1))
        return np.maximum.reduce([np.abs(w.sum(axis=1) - 1.0), ret, np.maximum(box, 0.0)])
