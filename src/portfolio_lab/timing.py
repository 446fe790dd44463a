"""Timing and machine-description helpers shared by the notebooks and ``bench/``.

The notebooks' timing tables (:func:`time_solvers`, drawn by
:func:`portfolio_lab.plotting.plot_timings`) and the committed benchmarks
(``bench/*.py``) measure with the same clock loop (:func:`time_calls`), the same GPU
synchronization (:func:`device_sync`) and the same thread cap (:func:`limit_threads`),
and describe the machine with the same probes (:func:`cpu_model`, :func:`gpu_name`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = [
    "TIMING_COLUMNS",
    "time_calls",
    "median_time",
    "device_sync",
    "limit_threads",
    "random_problem",
    "dense_problem",
    "time_solvers",
    "load_benchmarks",
    "cpu_model",
    "cpu_cores",
    "gpu_name",
    "machine_name",
    "machine_info",
    "machine_record",
]

#: Columns of the long timing table made by :func:`time_solvers`.
TIMING_COLUMNS = ["task", "backend", "n", "median_s", "repeats"]


# ------------------------------------------------------------------------------ clocks
def time_calls(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], Any]:
    """Wall time of each of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls.

    Parameters
    ----------
    fn : callable
        Zero-argument function to time.
    repeats : int, default 5
        Timed calls (>= 1).
    warmup : int, default 1
        Untimed calls first (JIT, caches, GPU context creation).
    sync : callable, optional
        Called after each ``fn()`` and before reading the clock (e.g. a CUDA device
        synchronize), so asynchronous GPU work is counted.
    clock : callable, default time.perf_counter
        Monotonic clock in seconds.

    Returns
    -------
    samples : list of float, length repeats
        Seconds of every timed call, in call order.
    last : object
        The value returned by the last call.

    Raises
    ------
    InputError
        ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1 or warmup < 0:
        raise InputError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    last = None
    for _ in range(warmup):
        last = fn()
        if sync is not None:
            sync()
    samples = []
    for _ in range(repeats):
        start = clock()
        last = fn()
        if sync is not None:
            sync()
        samples.append(clock() - start)
    return samples, last


def median_time(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    Parameters
    ----------
    fn, repeats, warmup, sync, clock
        As in :func:`time_calls` (``repeats >= 1`` timed calls after ``warmup`` untimed
        ones; ``sync`` runs after each call, before the ``clock`` is read).

    Returns
    -------
    float
        Median seconds per call.

    Raises
    ------
    InputError
        ``repeats < 1`` or ``warmup < 0``.
    """
    samples, _ = time_calls(fn, repeats=repeats, warmup=warmup, sync=sync, clock=clock)
    return float(statistics.median(samples))


def device_sync(backend: str, device: str | None = None) -> Callable[[], Any] | None:
    """Return the function that waits for a backend's queued GPU work (None on the CPU).

    Parameters
    ----------
    backend : str
        ``"numpy"``, ``"torch"`` or ``"cupy"``.
    device : str, optional
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``...); ignored for other backends.

    Returns
    -------
    callable or None
        ``cupy.cuda.Device().synchronize`` for CuPy, ``torch.cuda.synchronize`` for a
        torch CUDA device, None otherwise (CPU work is synchronous).
    """
    if backend == "cupy":
        import cupy

        return cupy.cuda.Device().synchronize
    if backend == "torch" and device is not None and device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return None


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Temporarily cap the BLAS/OpenMP pools (threadpoolctl) and torch at ``threads``.

    On a small shared machine a multi-threaded BLAS can spend far longer waking its
    threads than computing a tiny solve, so timings are taken single-threaded by
    default. ``None`` leaves every library at its default. Without the optional
    ``threadpoolctl`` package only torch is capped.

    Parameters
    ----------
    threads : int or None
        Thread count (>= 1), or None for no change.

    Raises
    ------
    InputError
        ``threads < 1``.
    """
    if threads is None:
        yield
        return
    if threads < 1:
        raise InputError(f"threads must be >= 1 or None, got {threads}")
    import scipy.linalg  # noqa: F401 - load scipy's own BLAS now, so the limit reaches it
    import torch

    # Read torch's count first: threadpool_limits caps OpenMP as soon as it is built,
    # and torch reports the OpenMP cap, so reading it afterwards would "restore" to 1.
    before = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: then only torch is capped
        blas = nullcontext()
    else:
        blas = threadpool_limits(limits=threads)
    torch.set_num_threads(threads)
    try:
        with blas:
            yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------- solver tables
def random_problem(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw a random, well-conditioned Markowitz problem for timing (daily-return scale).

    ``Σ = F Fᵀ / (2n) + D`` with a Gaussian ``F`` of shape ``(n, 2n)`` and a positive
    diagonal ``D``; ``μ`` is Gaussian, so it is almost surely not proportional to ``1``.

    Parameters
    ----------
    n : int
        Number of assets (>= 2).
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    mu : numpy.ndarray, shape (n,)
    cov : numpy.ndarray, shape (n, n)
        Symmetric positive definite.

    Raises
    ------
    InputError
        ``n < 2``.
    """
    if n < 2:
        raise InputError(f"a Markowitz problem needs n >= 2 assets, got {n}")
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, 2 * n))
    cov = 1e-4 * (factors @ factors.T / (2 * n) + np.diag(rng.uniform(0.5, 1.5, n)))
    cov = (cov + cov.T) / 2.0
    mu = 5e-4 + 5e-4 * rng.standard_normal(n)
    return mu, cov


def dense_problem(
    n: int, *, seed: int = 0, n_factors: int = 10, days: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate a Markowitz problem from simulated daily returns of a factor model.

    ``days`` (default ``3n``) daily returns are drawn from ``n_factors`` Gaussian factors
    (daily volatility 0.1-0.2 %, a market factor with loadings 0.8-1.2) plus
    idiosyncratic noise (1-1.5 %); ``μ`` is the sample mean and ``Σ`` the sample
    covariance (``ddof=1``). Sample means of daily scale are small against the risks, so
    on the long-only frontier nearly every asset enters: about ``n`` corners, the dense
    case of the critical line (:func:`random_problem` spreads ``μ`` widely, and only
    about ``n/5`` assets ever enter there).

    Parameters
    ----------
    n : int
        Number of assets (>= 2).
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`.
    n_factors : int, default 10
        Number of factors.
    days : int, optional
        Number of simulated days (default ``3n``; at least ``n + 1`` keeps ``Σ`` definite).

    Returns
    -------
    mu : numpy.ndarray, shape (n,)
    cov : numpy.ndarray, shape (n, n)
        Symmetric positive definite.

    Raises
    ------
    InputError
        ``n < 2``, ``n_factors < 1`` or ``days <= n``.
    """
    if n < 2:
        raise InputError(f"a Markowitz problem needs n >= 2 assets, got {n}")
    if n_factors < 1:
        raise InputError(f"n_factors must be >= 1, got {n_factors}")
    t = 3 * n if days is None else int(days)
    if t <= n:
        raise InputError(f"days must exceed n = {n} for a definite sample covariance, got {t}")
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0.0, 0.3, (n, n_factors))
    loadings[:, 0] = rng.uniform(0.8, 1.2, n)  # market beta
    f_vol = rng.uniform(0.001, 0.002, n_factors)
    idio = rng.uniform(0.01, 0.015, n)
    factors = rng.standard_normal((t, n_factors)) * f_vol + 2e-4
    returns = factors @ loadings.T + rng.standard_normal((t, n)) * idio
    mu = returns.mean(axis=0)
    cov = np.cov(returns, rowvar=False, ddof=1)
    return mu, (cov + cov.T) / 2.0


def time_solvers(
    sizes: Iterable[int],
    backends: Iterable[str | tuple[str, str]] = ("numpy", "torch"),
    *,
    repeats: int = 5,
    n_targets: int = 50,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Median run time of the closed-form frontier and of Newton, per backend and size.

    For each size ``n`` one :func:`random_problem` is moved to every backend; the
    frontier task solves ``n_targets`` targets between the smallest and the largest
    expected return with :func:`portfolio_lab.solvers.efficient_frontier`, the Newton
    task solves the middle target with :func:`portfolio_lab.solvers.markowitz_newton`
    from its default (least-norm) start.

    Parameters
    ----------
    sizes : iterable of int
        Numbers of assets.
    backends : iterable of str or (str, str)
        Backend names (``"numpy"``, ``"torch"``, ``"cupy"``) or ``(name, device)``
        pairs such as ``("torch", "cuda")``.
    repeats : int, default 5
        Timed repeats per cell (the median is reported).
    n_targets : int, default 50
        Frontier points.
    seed : int, default 0
        Seed of the random problems.
    threads : int or None, default 1
        CPU threads for BLAS and torch while timing (see :func:`limit_threads`);
        None keeps the libraries' defaults.
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        Long table with columns ``task`` ("frontier" | "newton"), ``backend`` (e.g.
        ``"torch:cpu"``), ``n``, ``median_s``, ``repeats``.
    """
    from tqdm import tqdm

    from ._backend import get_backend
    from .solvers import efficient_frontier, markowitz_newton

    specs = [(b, None) if isinstance(b, str) else (b[0], b[1]) for b in backends]
    sizes = [int(s) for s in sizes]
    rows = []
    bar = tqdm(total=len(sizes) * len(specs), disable=not progress, desc="timing")
    with bar, limit_threads(threads):
        for n in sizes:
            mu_np, cov_np = random_problem(n, seed=seed)
            targets_np = np.linspace(mu_np.min(), mu_np.max(), n_targets)
            mid = float(np.median(mu_np))
            for name, device in specs:
                asarray, _ = get_backend(name, device)
                mu, cov, targets = asarray(mu_np), asarray(cov_np), asarray(targets_np)
                sync = device_sync(name, device)
                label = f"torch:{device or 'cpu'}" if name == "torch" else name
                cells = {
                    "frontier": lambda mu=mu, cov=cov, t=targets: efficient_frontier(mu, cov, t),
                    "newton": lambda mu=mu, cov=cov, r=mid: markowitz_newton(mu, cov, r),
                }
                for task, fn in cells.items():
                    seconds = median_time(fn, repeats=repeats, sync=sync)
                    rows.append(
                        {
                            "task": task,
                            "backend": label,
                            "n": n,
                            "median_s": seconds,
                            "repeats": repeats,
                        }
                    )
                bar.update(1)
    return pd.DataFrame(rows, columns=TIMING_COLUMNS)


def load_benchmarks(
    folder: str | os.PathLike[str] = "results/benchmarks", pattern: str = "backends_*.json"
) -> pd.DataFrame:
    """Read committed backend benchmarks (written by ``bench/backends.py``) into one table.

    Parameters
    ----------
    folder : path-like, default "results/benchmarks"
        Folder of the JSON files (a missing folder gives an empty table).
    pattern : str, default "backends_*.json"
        Glob pattern of the files.

    Returns
    -------
    pandas.DataFrame
        Columns ``machine`` (the file's machine description) then ``task``, ``backend``,
        ``n``, ``median_s``, ``repeats``; one row per measured cell, empty if no file.

    Raises
    ------
    InputError
        A matching file lacks the ``machine`` or ``results`` keys.
    """
    frames = []
    for path in sorted(Path(folder).glob(pattern)):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "machine" not in doc or "results" not in doc:
            raise InputError(f"{path} is not a backend benchmark (needs 'machine' and 'results')")
        frame = pd.DataFrame(doc["results"], columns=TIMING_COLUMNS)
        frame.insert(0, "machine", str(doc["machine"]))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["machine", *TIMING_COLUMNS])
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------- machine
def cpu_model(default: str | None = None) -> str:
    """Name of the CPU model.

    Parameters
    ----------
    default : str, optional
        Returned when neither ``/proc/cpuinfo`` nor :func:`platform.processor` names the
        model; by default :func:`platform.machine` (e.g. ``"x86_64"``).

    Returns
    -------
    str
        The ``model name`` line of ``/proc/cpuinfo``, else :func:`platform.processor`,
        else ``default``.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or (platform.machine() if default is None else default)


def cpu_cores() -> int:
    """Count the CPU cores this process may run on (its affinity mask where known).

    Returns
    -------
    int
        ``len(os.sched_getaffinity(0))`` on Linux, else ``os.cpu_count()`` (at least 1).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    """Name of the first visible CUDA device, asked of CuPy first, then torch.

    Returns
    -------
    str or None
        E.g. ``"NVIDIA H100 80GB HBM3"``; None when neither library sees a GPU.
    """
    from ._backend import gpu_available

    if gpu_available("cupy"):
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    if gpu_available("torch"):
        import torch

        return str(torch.cuda.get_device_name(0))
    return None


def machine_name() -> str:
    """Short machine tag used in benchmark file names.

    Returns
    -------
    str
        ``"gpu-<model>"`` (first word of the GPU name without "NVIDIA", lower case) when
        a GPU is visible, else ``"cpu-<cores>core"``.
    """
    gpu = gpu_name()
    if gpu:
        tag = gpu.lower().replace("nvidia", "").strip().split()[0]
        return f"gpu-{tag}"
    return f"cpu-{cpu_cores()}core"


def machine_info() -> str:
    """Describe the machine that runs the timings in one line: OS, CPU model and count, GPU.

    Returns
    -------
    str
        E.g. ``"Linux x86_64, AMD EPYC 7B13, 2 logical CPUs, GPU: none visible"``.
    """
    gpu = gpu_name()
    return (
        f"{platform.system()} {platform.machine()}, {cpu_model()}, "
        f"{os.cpu_count()} logical CPUs, GPU: {gpu or 'none visible'}"
    )


def machine_record() -> dict[str, Any]:
    """Describe the machine for a benchmark's JSON file.

    Returns
    -------
    dict
        ``machine`` (:func:`machine_name`), ``cpu_model``, ``cores``, ``python``,
        ``numpy``, ``scipy``, ``date_utc``, ``load_average_1m``, ``blas_threads_env``
        (``$OPENBLAS_NUM_THREADS``), ``torch``, ``torch_cuda``, ``cupy``, ``cupy_gpu``
        and ``gpu`` (:func:`gpu_name`).
    """
    import scipy

    info: dict[str, Any] = {
        "machine": machine_name(),
        "cpu_model": cpu_model("unknown"),
        "cores": cpu_cores(),
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
    except Exception:  # noqa: BLE001 - not installed, or installed without a usable driver
        info["cupy"] = None
        info["cupy_gpu"] = False
    info["gpu"] = gpu_name()
    return info
