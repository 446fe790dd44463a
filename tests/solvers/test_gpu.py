"""CuPy and torch-CUDA paths compared with NumPy (skipped with a reason without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from portfolio_lab._backend import gpu_available, to_numpy
from portfolio_lab.solvers import (
    barrier_min_variance,
    efficient_frontier,
    markowitz_lagrange,
    markowitz_newton,
    max_sharpe,
    min_variance,
)

from ._problems import equicorrelated, random_problem

pytestmark = pytest.mark.gpu


def _cupy():
    cupy = pytest.importorskip("cupy")
    if not gpu_available("cupy"):
        pytest.skip("CuPy is installed but no CUDA GPU is visible")
    return cupy


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not gpu_available("torch"):
        pytest.skip("torch sees no CUDA GPU")
    return lambda a: torch.as_tensor(a, dtype=torch.float64, device="cuda")


def _to_cupy():
    cupy = _cupy()
    return lambda a: cupy.asarray(a, dtype=cupy.float64)


@pytest.fixture(params=["cupy", "torch-cuda"])
def to_device(request):
    return _to_cupy() if request.param == "cupy" else _torch_cuda()


def _same_place(x, ref) -> None:
    assert type(x) is type(ref)
    if hasattr(ref, "device"):
        assert x.device == ref.device


def test_solvers_on_gpu_match_numpy(to_device) -> None:
    mu, cov, r = random_problem(16, seed=5)
    mu_d, cov_d = to_device(mu), to_device(cov)
    for fn, args in (
        (markowitz_lagrange, (r,)),
        (markowitz_newton, (r,)),
    ):
        ref = fn(mu, cov, *args)
        res = fn(mu_d, cov_d, *args)
        _same_place(res.weights, mu_d)
        np.testing.assert_allclose(to_numpy(res.weights), ref.weights, atol=1e-10)
        np.testing.assert_allclose(to_numpy(res.multipliers), ref.multipliers, atol=1e-10)
    res = min_variance(cov_d)
    _same_place(res.weights, cov_d)
    np.testing.assert_allclose(to_numpy(res.weights), min_variance(cov).weights, atol=1e-10)
    res = max_sharpe(mu_d, cov_d, -3.0)
    np.testing.assert_allclose(to_numpy(res.weights), max_sharpe(mu, cov, -3.0).weights, atol=1e-10)


def test_frontier_on_gpu_matches_numpy(to_device) -> None:
    mu, cov, _ = random_problem(16, seed=6)
    targets = np.linspace(-1, 1, 101)
    ref = efficient_frontier(mu, cov, targets)
    res = efficient_frontier(to_device(mu), to_device(cov), targets)
    _same_place(res.weights, to_device(mu))
    np.testing.assert_allclose(to_numpy(res.weights), ref.weights, atol=1e-10)
    np.testing.assert_allclose(to_numpy(res.risks), ref.risks, rtol=1e-10)
    assert res.primal_residual.max() < 1e-10 and res.dual_residual.max() < 1e-10


def test_barrier_on_gpu_matches_numpy(to_device) -> None:
    cov = equicorrelated(10, 0.9)
    ref = barrier_min_variance(cov, 1e5)
    res = barrier_min_variance(to_device(cov), 1e5)
    np.testing.assert_allclose(to_numpy(res.weights), ref.weights, atol=1e-9)
    assert res.converged


def test_critical_line_on_gpu_matches_numpy(to_device) -> None:
    from portfolio_lab.solvers import critical_line

    from ._problems import factor_problem

    mu, cov = factor_problem(30, 4)
    ref = critical_line(mu, cov, upper=0.2, branch="full")
    res = critical_line(to_device(mu), to_device(cov), upper=0.2, branch="full")
    _same_place(res.weights, to_device(np.zeros(1)))
    np.testing.assert_allclose(to_numpy(res.weights), np.asarray(ref.weights), atol=1e-12)
    t = np.linspace(*ref.return_range, 9)
    fr = res.weights_at(to_device(t))
    _same_place(fr.weights, to_device(np.zeros(1)))
    np.testing.assert_allclose(
        to_numpy(fr.weights), np.asarray(ref.weights_at(t).weights), atol=1e-12
    )
    # on a GPU the default bounded method is the batched path
    auto = efficient_frontier(to_device(mu), to_device(cov), to_device(t[1:-1]), bounds=(0, 0.2))
    assert auto.method.startswith("admm")
