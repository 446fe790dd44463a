"""Input checks of the Markowitz layer: shapes, dtypes, devices, finiteness, definiteness.

Every problem of a batch is brought to one float64 form on the inputs' device,

    min ½ a wᵀΣw − qᵀw   s.t.   C w = c,   lower ≤ w ≤ upper,

with ``a = γ, q = μ, C = 1ᵀ, c = 1`` for the mean-variance utility
``max μᵀw − (γ/2) wᵀΣw`` and ``a = 1, q = 0, C = [1ᵀ; μᵀ], c = [1; r]`` for the minimum
variance at a target return ``r``. Bad input raises the package's typed errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import (
    DegenerateReturnsError,
    InfeasibleTargetError,
    InputError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
)
from ..solvers._bounds import resolve_bounds
from ..solvers._validation import SYMMETRY_RTOL

__all__ = [
    "Problem",
    "prepare",
    "as_tensor",
    "check_bounds_only",
    "check_cov_cpu",
    "cov_verdict",
]


@dataclass(frozen=True)
class Problem:
    """A validated batch in float64 (see the module notes for the standard form).

    Attributes
    ----------
    mu : torch.Tensor, shape (B, n)
    cov : torch.Tensor, shape (B, n, n)
        Symmetrized ``(Σ + Σᵀ)/2``.
    scale : torch.Tensor, shape (B,)
        ``a``: the risk aversion γ, or 1 with a target return.
    target : torch.Tensor, shape (B,) or None
        Target returns (None for the utility).
    lower, upper : torch.Tensor, shape (n,)
        Bounds (±inf where none).
    batched : bool
        Whether the inputs had a batch axis (the output keeps their layout).
    dtype : torch.dtype
        The inputs' floating dtype (the output's).
    unconstrained : bool
        No sign constraint and no bounds: the closed form applies.
    rtol : float
        Relative asymmetry of ``cov`` tolerated (and symmetrized): 1e-8 for float64
        input, 1e-5 for float32.
    """

    mu: Any
    cov: Any
    scale: Any
    target: Any
    lower: Any
    upper: Any
    batched: bool
    dtype: Any
    unconstrained: bool
    rtol: float = SYMMETRY_RTOL

    @property
    def kind(self) -> str:
        """``"utility"`` or ``"target"``."""
        return "utility" if self.target is None else "target"


def as_tensor(x: Any, name: str, device: Any = None) -> Any:
    """Turn ``x`` into a floating torch tensor (NumPy arrays and lists are converted).

    Raises
    ------
    InputError
        ``x`` is not numeric or holds a non-floating dtype that cannot be cast.
    """
    import torch

    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name} must be a numeric tensor or array: {err}") from err
    if t.is_complex():
        raise InputError(f"{name} must be real, got {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def _check_finite(t: Any, name: str) -> None:
    import torch

    bad = ~torch.isfinite(t.detach())
    if bool(bad.any()):
        raise NonFiniteError(
            f"{name} holds {int(bad.sum())} NaN or infinite value(s); clean them before solving"
        )


def _per_member(x: Any, name: str, batch: int, device: Any) -> Any:
    """Broadcast a scalar or a (B,) tensor to a (B,) float64 tensor."""
    import torch

    t = as_tensor(x, name, device)
    if t.ndim == 0:
        t = t.expand(batch)
    elif t.ndim != 1 or t.shape[0] not in (1, batch):
        raise ShapeError(f"{name} must be a scalar or have shape ({batch},), got {tuple(t.shape)}")
    elif t.shape[0] == 1:
        t = t.expand(batch)
    _check_finite(t, name)
    return t.to(device=device, dtype=torch.float64)


def cholesky_info(cov: Any) -> np.ndarray:
    """LAPACK's ``info`` of the Cholesky factorization of each member (0: positive definite).

    On the CPU each member goes straight to LAPACK's ``dpotrf`` (SciPy), which keeps no
    factor: torch's ``cholesky_ex`` also zeroes the other triangle of every factor and
    took about two and a half times as long for 256 matrices of 100 assets (the check is
    the layer's one ``O(Bn³)`` step). Other devices use ``torch.linalg.cholesky_ex``.

    Parameters
    ----------
    cov : torch.Tensor, shape (B, n, n)
        Symmetric matrices (only one triangle is read), float64.

    Returns
    -------
    numpy.ndarray of int, shape (B,)
        0 where the factorization succeeds, else the 1-based pivot at which it fails.
    """
    import torch

    if cov.device.type != "cpu":
        return torch.linalg.cholesky_ex(cov)[1].cpu().numpy()
    from scipy.linalg.lapack import dpotrf

    arr = cov.numpy()
    distinct = arr[:1] if arr.shape[0] > 1 and arr.strides[0] == 0 else arr  # one Σ broadcast
    # Σᵀ = Σ: the C-ordered matrix is the Fortran-ordered one, read as its upper triangle
    info = [dpotrf(c.T, lower=False, clean=False, overwrite_a=False)[1] for c in distinct]
    return np.broadcast_to(np.asarray(info, dtype=np.int64), arr.shape[:1]).copy()


def cov_verdict(
    finite: np.ndarray,
    size: np.ndarray,
    asym: np.ndarray,
    info: np.ndarray,
    rtol: float,
    cov: Any,
) -> np.ndarray:
    """Raise the typed error of the first unfit covariance; say which need symmetrizing.

    Parameters
    ----------
    finite, size, asym, info : numpy.ndarray, shape (B,)
        As returned by :func:`check_cov_cpu` (``info`` 0 where not yet factored).
    rtol : float
        Tolerated ``max|Σ − Σᵀ| / max|Σ|``.
    cov : torch.Tensor
        The input (to count its non-finite values in the message).

    Returns
    -------
    numpy.ndarray of bool, shape (B,)
        Members within the tolerance but not exactly symmetric: solve with ``(Σ + Σᵀ)/2``
        (and factor that).

    Raises
    ------
    NonFiniteError, NotSymmetricError, NotPositiveDefiniteError
    """
    if not finite.all():
        _check_finite(cov, "cov")
        raise NonFiniteError("cov holds NaN or infinite values; clean them before solving")
    bad = asym > rtol * size
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NotSymmetricError(
            f"cov[{i}] is not symmetric: max|Σ - Σᵀ| = {float(asym[i]):.3g} exceeds "
            f"{rtol:g} × max|Σ|; symmetrize it with (Σ + Σᵀ)/2"
        )
    raise_not_positive_definite(info)
    return asym > 0


def raise_not_positive_definite(info: np.ndarray) -> None:
    """NotPositiveDefiniteError for the first member whose Cholesky pivot ``info`` failed."""
    failed = info > 0
    if failed.any():
        i = int(np.flatnonzero(failed)[0])
        raise NotPositiveDefiniteError(
            f"cov[{i}] is not positive definite (its Cholesky factorization fails at pivot "
            f"{int(info[i])}); shrink it (e.g. Ledoit-Wolf) or add a small ridge"
        )


def _checked_cov(c64: Any, cov_t: Any, rtol: float) -> Any:
    """``c64`` checked (typed errors), symmetrized where within the tolerance."""
    import torch

    cd = c64.detach()
    if cd.device.type == "cpu":  # one compiled pass: finiteness, size, asymmetry, Cholesky
        need = cov_verdict(*check_cov_cpu(cd), rtol, cov_t)
        if need.any():
            c64 = 0.5 * (c64 + c64.transpose(-1, -2))
            cov_verdict(*check_cov_cpu(c64.detach()), rtol, cov_t)
        return c64
    size = torch.maximum(cd.amax(dim=(-1, -2)), -cd.amin(dim=(-1, -2)))  # NaN, inf show here
    finite = torch.isfinite(size).cpu().numpy()
    if torch.equal(cd, cd.transpose(-1, -2)):  # the usual case: exactly symmetric
        asym = torch.zeros_like(size)
    else:
        diff = cd - cd.transpose(-1, -2)
        asym = torch.maximum(diff.amax(dim=(-1, -2)), -diff.amin(dim=(-1, -2)))
        del diff
    zeros = np.zeros(finite.shape, dtype=np.int64)
    need = cov_verdict(finite, size.cpu().numpy(), asym.cpu().numpy(), zeros, rtol, cov_t)
    if need.any():
        c64 = 0.5 * (c64 + c64.transpose(-1, -2))
    raise_not_positive_definite(cholesky_info(c64.detach()))
    return c64


def check_cov_cpu(cov: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Finiteness, ``max|Σ|``, ``max|Σ − Σᵀ|`` and the Cholesky ``info`` of a CPU batch.

    One compiled pass per distinct matrix (:func:`portfolio_lab.layers._kernels.check_cov`);
    a matrix broadcast over the batch (stride 0) is checked once.

    Parameters
    ----------
    cov : torch.Tensor, shape (B, n, n), float64, on the CPU

    Returns
    -------
    finite : numpy.ndarray of bool, shape (B,)
    size, asym : numpy.ndarray, shape (B,)
    info : numpy.ndarray of int64, shape (B,)
        As :func:`cholesky_info`; -1 where not finite, -2 where not exactly symmetric
        (factored once symmetrized).
    """
    from ._kernels import check_cov, split_rows

    B = int(cov.shape[0])
    arr = cov.numpy()
    distinct = arr[:1] if B > 1 and arr.strides[0] == 0 else np.ascontiguousarray(arr)
    D = distinct.shape[0]
    finite = np.empty(D, dtype=np.bool_)
    size, asym = np.empty(D), np.empty(D)
    info = np.empty(D, dtype=np.int64)
    split_rows(D, lambda a, b: check_cov(distinct[a:b], finite[a:b], size[a:b], asym[a:b],
                                         info[a:b]), distinct.shape[-1])  # fmt: skip
    if D != B:
        return tuple(np.repeat(v, B) for v in (finite, size, asym, info))  # type: ignore[return-value]
    return finite, size, asym, info


def check_bounds_only(n: int, long_only: bool, bounds: Any) -> tuple[np.ndarray, np.ndarray]:
    """Resolve ``long_only`` and ``bounds`` to float64 NumPy vectors (InputError if infeasible)."""
    lo, hi = resolve_bounds(n, bool(long_only), bounds, np)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def _return_range(mu: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest attainable ``μᵀw`` of each row of ``mu`` (B, n), exactly."""
    if np.isfinite(lo).all() and np.isposinf(hi).all():
        base = mu @ lo
        spare = 1.0 - lo.sum()
        return base + spare * mu.min(axis=1), base + spare * mu.max(axis=1)
    from ..solvers.qp import return_range

    pairs = np.array([return_range(row, lo, hi) for row in mu])
    return pairs[:, 0], pairs[:, 1]


def prepare(
    mu: Any,
    cov: Any,
    *,
    risk_aversion: Any = None,
    target_return: Any = None,
    long_only: bool = True,
    bounds: Any = None,
    check_cov: bool = True,
) -> Problem:
    """Validate one call of :func:`~portfolio_lab.layers.markowitz` (see its docstring).

    ``check_cov=False`` leaves the checks of ``cov``'s values (finite, symmetric, positive
    definite) to the caller: the compiled solver makes them member by member while each
    matrix is in cache (:func:`portfolio_lab.layers._active_set.solve_compiled`), with the
    same errors (:func:`cov_verdict`). ``Problem.cov`` is then the input, unsymmetrized.

    Returns
    -------
    Problem
        The batch in float64; ``mu``, ``cov``, ``scale`` and ``target`` keep the autograd
        graph of the inputs (only the dtype changes).

    Raises
    ------
    ShapeError, NonFiniteError, NotSymmetricError, NotPositiveDefiniteError, InputError,
    InfeasibleTargetError, DegenerateReturnsError
    """
    import torch

    if risk_aversion is not None and target_return is not None:
        raise InputError(
            "give either risk_aversion (mean-variance utility) or target_return (minimum "
            "variance at that return), not both"
        )
    mu_t = as_tensor(mu, "mu")
    device = mu_t.device
    cov_t = as_tensor(cov, "cov", device)
    if cov_t.device != device:
        raise InputError(f"mu is on {device} but cov is on {cov_t.device}; move them together")
    if mu_t.dtype not in (torch.float32, torch.float64) or cov_t.dtype not in (
        torch.float32,
        torch.float64,
    ):
        raise InputError(f"mu and cov must be float32 or float64, got {mu_t.dtype}, {cov_t.dtype}")
    out_dtype = torch.float64 if torch.float64 in (mu_t.dtype, cov_t.dtype) else torch.float32
    if mu_t.ndim not in (1, 2):
        raise ShapeError(f"mu must have shape (n,) or (batch, n), got {tuple(mu_t.shape)}")
    if cov_t.ndim not in (2, 3) or cov_t.shape[-1] != cov_t.shape[-2]:
        raise ShapeError(f"cov must have shape (n, n) or (batch, n, n), got {tuple(cov_t.shape)}")
    n = int(mu_t.shape[-1])
    if n < 1 or cov_t.shape[-1] != n:
        raise ShapeError(f"mu has {n} assets but cov is {tuple(cov_t.shape)}")
    batched = mu_t.ndim == 2 or cov_t.ndim == 3
    b_mu = int(mu_t.shape[0]) if mu_t.ndim == 2 else 1
    b_cov = int(cov_t.shape[0]) if cov_t.ndim == 3 else 1
    if b_mu != b_cov and 1 not in (b_mu, b_cov):
        raise ShapeError(f"mu has batch {b_mu} but cov has batch {b_cov}")
    batch = max(b_mu, b_cov)
    if batch < 1:
        raise ShapeError("the batch is empty")
    _check_finite(mu_t, "mu")
    m64 = mu_t.to(torch.float64).reshape(-1, n).expand(batch, n)
    c64 = cov_t.to(torch.float64).reshape(-1, n, n).expand(batch, n, n)
    rtol = SYMMETRY_RTOL if cov_t.dtype == torch.float64 else 1e-5
    if check_cov:
        c64 = _checked_cov(c64, cov_t, rtol)
    lo, hi = check_bounds_only(n, long_only, bounds)
    unconstrained = not long_only and bounds is None
    if target_return is None:
        gamma = _per_member(
            1.0 if risk_aversion is None else risk_aversion, "risk_aversion", batch, device
        )
        if bool((gamma.detach() <= 0).any()):
            raise InputError("risk_aversion must be positive (it divides the expected returns)")
        target = None
    else:
        gamma = torch.ones(batch, dtype=torch.float64, device=device)
        target = _per_member(target_return, "target_return", batch, device)
        mu_np = m64.detach().cpu().numpy()
        spread = mu_np.max(axis=1) - mu_np.min(axis=1)
        if bool((spread <= 1e-14 * np.maximum(1.0, np.abs(mu_np).max(axis=1))).any()):
            i = int(np.flatnonzero(spread <= 1e-14 * np.maximum(1.0, np.abs(mu_np).max(axis=1)))[0])
            raise DegenerateReturnsError(
                f"every expected return of problem {i} is equal, so a target return cannot be "
                "chosen; use risk_aversion (or a minimum-variance solver) instead"
            )
        if not unconstrained:
            r = target.detach().cpu().numpy()
            r_min, r_max = _return_range(mu_np, lo, hi)
            tol = 1e-12 * np.maximum(1.0, np.abs(mu_np).max(axis=1))
            out = (r > r_max + tol) | (r < r_min - tol)
            if out.any():
                i = int(np.flatnonzero(out)[0])
                raise InfeasibleTargetError(
                    f"target_return[{i}] = {r[i]:.6g} is outside the attainable range "
                    f"[{r_min[i]:.6g}, {r_max[i]:.6g}] under these bounds; choose a target "
                    "inside it"
                )
    return Problem(
        rtol=rtol,
        mu=m64,
        cov=c64,
        scale=gamma,
        target=target,
        lower=torch.as_tensor(lo, dtype=torch.float64, device=device),
        upper=torch.as_tensor(hi, dtype=torch.float64, device=device),
        batched=batched,
        dtype=out_dtype,
        unconstrained=unconstrained,
    )
