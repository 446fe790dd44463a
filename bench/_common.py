"""Shared helpers of the benchmarks: matmul probe and test problems.

Other benchmark scripts may import these (``from _common import ...`` when run as
``python bench/<script>.py``, since the script's folder is on ``sys.path``). Timing and
the machine description come from :mod:`portfolio_lab.timing`, shared with the notebooks.
"""

from __future__ import annotations

import numpy as np

from portfolio_lab.timing import device_sync, time_calls

__all__ = [
    "matmul_gflops",
    "two_core_probe",
    "make_factor_problem",
    "sp500_problem",
]


def matmul_gflops(n: int = 1500, repeats: int = 5, backend: str = "numpy") -> float:
    """Best observed float64 matmul rate (GFLOP/s) for ``n × n`` matrices."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    sync = None
    if backend.startswith("torch"):
        import torch

        dev = "cuda" if backend == "torch-cuda" else "cpu"
        a, b = torch.as_tensor(a, device=dev), torch.as_tensor(b, device=dev)
        sync = device_sync("torch", dev)
    elif backend == "cupy":
        import cupy

        a, b = cupy.asarray(a), cupy.asarray(b)
        sync = device_sync("cupy")
    times, _ = time_calls(lambda: a @ b, repeats=repeats + 1, warmup=0, sync=sync)
    return 2.0 * n**3 / min(times) / 1e9


def two_core_probe(repeats: int = 5) -> float:
    """How much a second thread slows two copies of a compute loop: 1.0 free, 2.0 one core.

    Two identical, GIL-free compiled loops (no memory traffic beyond L1) run on two
    threads; the ratio of their wall time to one loop's alone (medians of ``repeats``)
    says whether the machine's second core was really available while a two-thread
    measurement ran (a virtual machine's second vCPU is sometimes contended by its host).
    """
    import concurrent.futures
    import statistics
    import time

    from numba import njit

    @njit(nogil=True, cache=False)
    def spin(rounds, x):  # pragma: no cover - compiled
        for _ in range(rounds):
            for i in range(x.shape[0]):
                x[i] = x[i] * 0.9999999 + 1e-9 * x[(i + 1) % x.shape[0]]
        return x[0]

    a, b = np.ones(256), np.ones(256)
    spin(1, a)
    one, two = [], []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            spin(20000, a)
            t1 = time.perf_counter()
            futures = [pool.submit(spin, 20000, a), pool.submit(spin, 20000, b)]
            for f in futures:
                f.result()
            t2 = time.perf_counter()
            one.append(t1 - t0)
            two.append(t2 - t1)
    return statistics.median(two) / statistics.median(one)


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
