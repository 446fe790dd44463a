"""Array-namespace helpers shared by every backend-agnostic function.

Solvers take NumPy, torch or CuPy arrays and return results in the same namespace and
on the same device. They call :func:`namespace` once, then only functions of that
namespace. ``numpy.linalg`` style helpers that the array API standard lacks
(Cholesky solves) are provided here with one implementation per backend family.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "namespace",
    "as_float64",
    "to_numpy",
    "backend_name",
    "device",
    "get_backend",
    "cholesky",
    "cho_solve",
    "gpu_available",
    "BACKENDS",
]

BACKENDS = ("numpy", "torch", "cupy")


def namespace(*arrays: Any) -> Any:
    """Return the array-API-compatible namespace of ``arrays``.

    Parameters
    ----------
    *arrays : array_like
        NumPy, torch or CuPy arrays (Python scalars and ``None`` are ignored).

    Returns
    -------
    module
        The ``array_api_compat`` wrapped namespace (e.g. ``array_api_compat.numpy``).
    """
    from array_api_compat import array_namespace

    arrs = [a for a in arrays if a is not None and not isinstance(a, (int, float))]
    if not arrs:
        import array_api_compat.numpy as xnp

        return xnp
    return array_namespace(*arrs)


def backend_name(x: Any) -> str:
    """Name the backend family of an array: ``"numpy"``, ``"torch"`` or ``"cupy"``."""
    from array_api_compat import is_cupy_array, is_torch_array

    if is_torch_array(x):
        return "torch"
    if is_cupy_array(x):
        return "cupy"
    return "numpy"


def device(x: Any) -> Any:
    """Return the device of an array (``"cpu"`` for NumPy, a ``torch.device``, a CuPy device).

    Parameters
    ----------
    x : array
        NumPy, torch or CuPy array.

    Returns
    -------
    object
        What ``array_api_compat.device(x)`` returns; pass it as ``device=`` to the
        namespace's array constructors to allocate beside ``x``.
    """
    from array_api_compat import device as _device

    return _device(x)


def as_float64(x: Any, xp: Any | None = None) -> Any:
    """Convert ``x`` to a float64 array of its own namespace and device."""
    if isinstance(x, (list, tuple, int, float)):
        x = np.asarray(x, dtype=np.float64)
    xp = xp or namespace(x)
    return xp.asarray(x, dtype=xp.float64, device=device(x))


def to_numpy(x: Any) -> np.ndarray:
    """Copy any supported array (torch, CuPy, NumPy) to a host NumPy array."""
    from array_api_compat import is_cupy_array, is_torch_array

    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def gpu_available(backend: str = "cupy") -> bool:
    """Whether a CUDA device is usable from ``backend`` (``"cupy"`` or ``"torch"``)."""
    try:
        if backend == "cupy":
            import cupy

            return bool(cupy.cuda.is_available())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - any import/driver failure means "no GPU"
        return False
    return False


def get_backend(name: str, device: str | None = None) -> tuple[Any, Any]:
    """Return ``(asarray, xp)`` for a backend name, ready to move NumPy data over.

    Parameters
    ----------
    name : {"numpy", "torch", "cupy"}
        Backend family.
    device : str, optional
        torch device (``"cpu"`` or ``"cuda"``); ignored by NumPy and CuPy.

    Returns
    -------
    asarray : callable
        ``asarray(np_array) -> backend array`` in float64.
    xp : module
        The array-API-compatible namespace.

    Raises
    ------
    BackendError
        Unknown backend, package not installed, or CuPy without a GPU.
    """
    from .exceptions import BackendError

    if name == "numpy":
        import array_api_compat.numpy as xp

        return (lambda a: np.asarray(a, dtype=np.float64)), xp
    if name == "torch":
        try:
            import array_api_compat.torch as xp
            import torch
        except ImportError as exc:  # pragma: no cover - torch is a core dependency
            raise BackendError("backend 'torch' needs PyTorch: pip install torch") from exc
        dev = device or "cpu"
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError("torch device 'cuda' requested but no CUDA GPU is visible")
        return (lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64, device=dev)), xp
    if name == "cupy":
        try:
            import array_api_compat.cupy as xp
            import cupy
        except ImportError as exc:
            raise BackendError(
                "backend 'cupy' needs CuPy: pip install 'portfolio-lab[gpu]'"
            ) from exc
        if not gpu_available("cupy"):
            raise BackendError("backend 'cupy' needs a CUDA GPU and none is visible")
        return (lambda a: cupy.asarray(np.asarray(a), dtype=cupy.float64)), xp
    raise BackendError(f"unknown backend {name!r}; choose one of {BACKENDS}")


def cholesky(a: Any, xp: Any) -> Any:
    """Lower Cholesky factor of a (batch of) SPD matrix, or ``None`` if it fails.

    Returns ``None`` instead of raising when ``a`` is not positive definite, so the
    caller can raise its own typed error.
    """
    try:
        low = xp.linalg.cholesky(a)
    except (np.linalg.LinAlgError, RuntimeError):  # numpy/cupy; torch's is a RuntimeError
        return None
    # CuPy returns NaNs rather than raising on failure.
    if not bool(xp.all(xp.isfinite(low))):
        return None
    return low


def _triangular_solve(low: Any, b: Any, xp: Any, *, transpose: bool) -> Any:
    name = backend_name(low)
    if name == "torch":
        import torch

        mat = low.mT if transpose else low
        return torch.linalg.solve_triangular(mat, b, upper=transpose)
    if name == "cupy":
        from cupyx.scipy.linalg import solve_triangular

        if low.ndim == 2:
            return solve_triangular(low, b, lower=True, trans=1 if transpose else 0)
    else:
        from scipy.linalg import solve_triangular

        if low.ndim == 2:
            return solve_triangular(
                low, b, lower=True, trans=1 if transpose else 0, check_finite=False
            )
    # batched fallback: generic solve (still no explicit inverse)
    mat = xp.matrix_transpose(low) if transpose else low
    return xp.linalg.solve(mat, b)


def cho_solve(low: Any, b: Any, xp: Any) -> Any:
    """Solve ``(L Lᵀ) x = b`` given the lower Cholesky factor ``L``.

    Parameters
    ----------
    low : array, shape (n, n)
        Lower-triangular Cholesky factor.
    b : array, shape (n,) or (n, k)
        Right-hand side(s).
    xp : module
        Namespace of ``low`` and ``b``.

    Returns
    -------
    array, same shape as ``b``
    """
    vec = b.ndim == 1
    rhs = b[:, None] if vec else b
    y = _triangular_solve(low, rhs, xp, transpose=False)
    x = _triangular_solve(low, y, xp, transpose=True)
    return x[:, 0] if vec else x
