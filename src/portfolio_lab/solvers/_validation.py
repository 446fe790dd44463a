"""Input checks shared by the solvers: conversion, shapes, finiteness, symmetry, definiteness.

Every check raises a subclass of :class:`ValueError` from :mod:`portfolio_lab.exceptions`
with a message that says what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import as_float64, cholesky, namespace, to_numpy
from .._backend import device as _device
from ..exceptions import (
    DegenerateReturnsError,
    InputError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
)

__all__ = [
    "SYMMETRY_RTOL",
    "DELTA_RTOL",
    "Problem",
    "coerce",
    "prepare",
    "check_finite",
    "check_symmetric",
    "factorize",
    "as_targets",
    "as_scalar",
    "check_delta",
]

#: Relative tolerance on ``max|Σ - Σᵀ| / max|Σ|`` before a matrix counts as non-symmetric.
SYMMETRY_RTOL = 1e-8
#: From this size on a NumPy covariance is checked and symmetrized in one compiled pass
#: (:mod:`._validation_kernels`); below it NumPy's passes cost less than loading numba.
FAST_CHECK_MIN_N = 64
#: ``Δ / (A C)`` at or below this counts as μ proportional to the ones vector.
DELTA_RTOL = 1e-10


def coerce(x: Any) -> Any:
    """Turn lists, tuples and pandas objects into NumPy arrays; leave other arrays alone."""
    if x is None:
        return None
    if isinstance(x, (list, tuple, int, float)):
        return np.asarray(x, dtype=np.float64)
    if hasattr(x, "to_numpy") and type(x).__module__.startswith("pandas"):
        return x.to_numpy(dtype=np.float64)
    return x


def check_finite(x: Any, name: str, xp: Any) -> None:
    """Raise :class:`NonFiniteError` if ``x`` holds NaN or ±inf."""
    if not bool(xp.all(xp.isfinite(x))):
        bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise NonFiniteError(
            f"{name} holds {bad} NaN or infinite value(s); clean or drop them before solving"
        )


def check_symmetric(cov: Any, xp: Any, rtol: float = SYMMETRY_RTOL) -> None:
    """Raise :class:`NotSymmetricError` unless ``max|Σ - Σᵀ| ≤ rtol · max|Σ|``."""
    asym = float(xp.max(xp.abs(cov - xp.matrix_transpose(cov))))
    scale = float(xp.max(xp.abs(cov)))
    if asym > rtol * scale:
        raise NotSymmetricError(
            f"covariance matrix is not symmetric: max|Σ - Σᵀ| = {asym:.3g} exceeds "
            f"{rtol:g} × max|Σ| = {rtol * scale:.3g}; symmetrize it with (Σ + Σᵀ)/2"
        )


def factorize(cov: Any, xp: Any) -> Any:
    """Lower Cholesky factor of ``cov``, or :class:`NotPositiveDefiniteError`.

    The failure message reports the smallest eigenvalue and the condition number, computed
    only when the factorization has already failed.
    """
    low = cholesky(cov, xp)
    if low is None:
        eig = np.linalg.eigvalsh(to_numpy(cov))
        lo, hi = float(eig[0]), float(eig[-1])
        cond = hi / lo if lo > 0 else float("inf")
        raise NotPositiveDefiniteError(
            "covariance matrix is not positive definite (Cholesky failed): smallest "
            f"eigenvalue {lo:.3g}, largest {hi:.3g}, condition number {cond:.3g}; use a "
            "shrinkage estimator or add a small ridge to the diagonal"
        )
    return low


@dataclass(frozen=True)
class Problem:
    """Validated, converted solver inputs.

    Attributes
    ----------
    mu : array, shape (n,), or None
        Expected returns in ``xp``, float64.
    cov : array, shape (n, n)
        Symmetrized covariance ``(Σ + Σᵀ)/2`` in ``xp``, float64.
    xp : module
        Array-API-compatible namespace of the inputs.
    device : object
        Device of the inputs.
    n : int
        Number of assets.
    """

    mu: Any | None
    cov: Any
    xp: Any
    device: Any
    n: int


def prepare(mu: Any | None, cov: Any) -> Problem:
    """Convert and validate ``(mu, cov)`` without factorizing.

    Parameters
    ----------
    mu : array_like, shape (n,), or None
        Expected returns (NumPy, torch, CuPy, list or pandas).
    cov : array_like, shape (n, n)
        Covariance matrix, same backend as ``mu``.

    Returns
    -------
    Problem
        float64 arrays in the inputs' namespace and device.

    Raises
    ------
    InputError
        ``mu`` and ``cov`` come from different array libraries.
    ShapeError, NonFiniteError, NotSymmetricError
        See the messages.
    """
    mu, cov = coerce(mu), coerce(cov)
    try:
        xp = namespace(mu, cov)
    except TypeError as exc:
        raise InputError(
            "mu and cov come from different array libraries; pass both as NumPy, both as "
            "torch or both as CuPy arrays"
        ) from exc
    cov = as_float64(cov, xp)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ShapeError(f"cov must be a square 2-D array of shape (n, n), got {tuple(cov.shape)}")
    n = int(cov.shape[0])
    if n == 0:
        raise ShapeError("cov is empty: need at least one asset")
    if mu is not None:
        mu = as_float64(mu, xp)
        if mu.ndim == 2 and 1 in mu.shape:
            mu = xp.reshape(mu, (-1,))
        if mu.ndim != 1 or mu.shape[0] != n:
            raise ShapeError(
                f"mu must have shape ({n},) to match cov of shape ({n}, {n}), got {tuple(mu.shape)}"
            )
        check_finite(mu, "mu", xp)
    if isinstance(cov, np.ndarray) and n >= FAST_CHECK_MIN_N:
        from ._validation_kernels import symmetrize_checked

        sym, bad, asym, scale = symmetrize_checked(np.ascontiguousarray(cov))
        if bad == 0 and asym <= SYMMETRY_RTOL * scale:
            return Problem(mu=mu, cov=sym, xp=xp, device=_device(cov), n=n)
        # a check failed: the NumPy checks below raise it with their message
    check_finite(cov, "cov", xp)
    check_symmetric(cov, xp)
    cov = (cov + xp.matrix_transpose(cov)) / 2.0
    return Problem(mu=mu, cov=cov, xp=xp, device=_device(cov), n=n)


def as_scalar(value: Any, name: str) -> float:
    """Convert a Python/NumPy/0-d array scalar to ``float``, rejecting non-finite values."""
    try:
        out = float(to_numpy(coerce(value)).reshape(()))
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{name} must be a real scalar, got {value!r}") from exc
    if not np.isfinite(out):
        raise NonFiniteError(f"{name} must be finite, got {out}")
    return out


def as_targets(targets: Any, xp: Any, device: Any) -> Any:
    """Convert target returns to a finite float64 (k,) array in ``xp`` on ``device``."""
    arr = np.asarray(to_numpy(coerce(targets)), dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ShapeError(f"targets must be a 1-D array of shape (k,), got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError("targets is empty: give at least one target return")
    if not np.isfinite(arr).all():
        raise NonFiniteError("targets holds NaN or infinite values")
    return xp.asarray(arr, dtype=xp.float64, device=device)


def check_delta(a: float, c: float, delta: float) -> None:
    """Raise :class:`DegenerateReturnsError` when ``Δ ≤ DELTA_RTOL · A C``."""
    if not delta > DELTA_RTOL * a * c:
        raise DegenerateReturnsError(
            f"Δ = AC − B² = {delta:.3g} is not positive (A = {a:.3g}, C = {c:.3g}): the "
            "expected returns are (nearly) proportional to the ones vector, so every "
            "portfolio has the same return and a target return cannot be chosen; use "
            "min_variance instead"
        )
