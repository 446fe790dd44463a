"""Shared helpers of the benchmarks: machine description, matmul probe, timing, problems.

Other benchmark scripts may import these (``from _common import ...`` when run as
``python bench/<script>.py``, since the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "machine_info",
    "machine_name",
    "matmul_gflops",
    "median_time",
    "make_factor_problem",
    "sp500_problem",
]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _gpu_name() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001 - any failure means no usable GPU
        return None
    return None


def machine_name() -> str:
    """Short machine tag used in result file names: ``cpu-2core`` or ``gpu-<model>``."""
    gpu = _gpu_name()
    if gpu:
        tag = gpu.lower().replace("nvidia", "").strip().split()[0]
        return f"gpu-{tag}"
    return f"cpu-{_cores()}core"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, library versions, GPU visibility and the UTC date."""
    import scipy

    info: dict[str, Any] = {
        "machine": machine_name(),
        "cpu_model": _cpu_model(),
        "cores": _cores(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        info["torch"] = None
    try:
        import cupy

        info["cupy"] = cupy.__version__
        info["cupy_gpu"] = bool(cupy.cuda.is_available())
    except Exception:  # noqa: BLE001 - not installed or no driver
        info["cupy"] = None
        info["cupy_gpu"] = False
    info["gpu"] = _gpu_name()
    return info


def median_time(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
) -> tuple[float, list[float], Any]:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs.

    Returns
    -------
    median : float
        Seconds.
    times : list of float
        Every timed run.
    last : object
        The value returned by the last run.
    """
    out = None
    for _ in range(warmup):
        out = fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def matmul_gflops(n: int = 1500, repeats: int = 5, backend: str = "numpy") -> float:
    """Best observed float64 matmul rate (GFLOP/s) for ``n × n`` matrices."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    sync = None
    if backend.startswith("torch"):
        import torch

        dev = "cuda" if backend == "torch-cuda" else "cpu"
        a, b = torch.as_tensor(a, device=dev), torch.as_tensor(b, device=dev)
        if dev == "cuda":
            sync = torch.cuda.synchronize
    elif backend == "cupy":
        import cupy

        a, b = cupy.asarray(a), cupy.asarray(b)
        sync = cupy.cuda.Device().synchronize
    best = np.inf
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        _ = a @ b
        if sync:
            sync()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def make_factor_problem(
    n: int, seed: int = 0, *, n_factors: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded factor-model problem with daily-return scale.

    ``Σ = B F Bᵀ + D``: a market factor plus ``n_factors - 1`` industry-like factors with
    loadings ~ N(0, ·), factor variances ~ (1%..2% daily vol)², idiosyncratic variances
    ~ (1%..3% daily vol)²; ``μ = B λ + α`` with small positive factor premia and noise.

    Returns
    -------
    mu : numpy.ndarray, shape (n,)
    cov : numpy.ndarray, shape (n, n)
    """
    rng = np.random.default_rng(seed)
    k = max(1, min(n_factors, n))
    loadings = rng.normal(0.0, 0.5, (n, k))
    loadings[:, 0] = rng.uniform(0.5, 1.5, n)  # market beta
    fvar = rng.uniform(0.01, 0.02, k) ** 2
    idio = rng.uniform(0.01, 0.03, n) ** 2
    cov = (loadings * fvar) @ loadings.T + np.diag(idio)
    cov = (cov + cov.T) / 2.0
    premia = rng.uniform(1e-4, 4e-4, k)
    mu = loadings @ premia + rng.normal(0.0, 2e-4, n)
    return mu, cov


def sp500_problem(
    start: str | None = None, end: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Daily log-return mean and sample covariance of the bundled 20 S&P 500 stocks."""
    from portfolio_lab.data import load_prices

    prices = load_prices("sp500", start=start, end=end)
    rets = np.log(prices.to_numpy()[1:] / prices.to_numpy()[:-1])
    return rets.mean(axis=0), np.cov(rets, rowvar=False, ddof=1), list(prices.columns)
