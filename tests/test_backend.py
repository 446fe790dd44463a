from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from portfolio_lab._backend import (
    as_float64,
    backend_name,
    cho_solve,
    cholesky,
    device,
    get_backend,
    gpu_available,
    namespace,
    to_numpy,
)
from portfolio_lab.exceptions import BackendError


def _spd(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_cho_solve_matches_dense_solve(name: str) -> None:
    asarray, xp = get_backend(name)
    a = _spd(6)
    b = np.random.default_rng(1).standard_normal((6, 3))
    low = cholesky(asarray(a), xp)
    x = cho_solve(low, asarray(b), xp)
    assert backend_name(x) == name
    np.testing.assert_allclose(a @ to_numpy(x), b, atol=1e-10)
    x1 = cho_solve(low, asarray(b[:, 0]), xp)
    np.testing.assert_allclose(to_numpy(x1), to_numpy(x)[:, 0], atol=1e-12)


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_cholesky_returns_none_for_indefinite(name: str) -> None:
    asarray, xp = get_backend(name)
    assert cholesky(asarray(np.diag([1.0, -1.0])), xp) is None


def test_cholesky_lets_unrelated_errors_through() -> None:
    def fake(error: BaseException) -> SimpleNamespace:
        def fail(a: object) -> None:
            raise error

        return SimpleNamespace(linalg=SimpleNamespace(cholesky=fail))

    assert cholesky(np.eye(2), fake(np.linalg.LinAlgError("not PD"))) is None
    assert cholesky(np.eye(2), fake(RuntimeError("torch LinAlgError"))) is None
    with pytest.raises(MemoryError):
        cholesky(np.eye(2), fake(MemoryError()))
    with pytest.raises(TypeError, match="unsupported"):
        cholesky(np.eye(2), fake(TypeError("dtype unsupported")))


def test_device_is_where_the_array_lives() -> None:
    assert device(np.ones(2)) == "cpu"
    assert device(torch.ones(2)) == torch.device("cpu")
    # as_float64 allocates on that device
    assert as_float64(torch.arange(3)).device == device(torch.ones(1))


def test_namespace_and_float64() -> None:
    x = torch.arange(3)
    y = as_float64(x)
    assert y.dtype == torch.float64 and backend_name(y) == "torch"
    assert namespace(np.ones(2)).__name__.endswith("numpy")
    assert as_float64([1, 2]).dtype == np.float64


def test_unknown_backend_and_missing_gpu() -> None:
    with pytest.raises(BackendError, match="unknown backend"):
        get_backend("jax")
    if not gpu_available("cupy"):
        with pytest.raises(BackendError, match="GPU|CuPy"):
            get_backend("cupy")
    if not gpu_available("torch"):
        with pytest.raises(BackendError, match="cuda"):
            get_backend("torch", device="cuda")
