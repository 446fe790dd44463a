from __future__ import annotations

import numpy as np
import pytest
import torch

from portfolio_lab import exceptions as exc
from portfolio_lab.solvers import (
    efficient_frontier,
    markowitz_lagrange,
    markowitz_newton,
    max_sharpe,
    min_variance,
)
from portfolio_lab.solvers._bounds import resolve_bounds

from ._problems import random_problem

MU, COV, R = random_problem(4, seed=0)


def _with(arr: np.ndarray, idx: tuple[int, ...], value: float) -> np.ndarray:
    out = arr.copy()
    out[idx] = value
    return out


@pytest.mark.parametrize(
    ("mu", "cov", "target", "match"),
    [
        (_with(MU, (1,), np.nan), COV, R, "mu holds 1 NaN"),
        (MU, _with(COV, (0, 0), np.inf), R, "cov holds 1 NaN or infinite"),
        (MU, COV, np.nan, "target_return must be finite"),
    ],
)
def test_non_finite_inputs(mu, cov, target, match) -> None:
    with pytest.raises(exc.NonFiniteError, match=match):
        markowitz_lagrange(mu, cov, target)


def test_non_finite_targets_and_start() -> None:
    with pytest.raises(exc.NonFiniteError):
        efficient_frontier(MU, COV, [0.0, np.inf])
    with pytest.raises(exc.NonFiniteError):
        markowitz_newton(MU, COV, R, x0=np.array([np.nan, 0, 0, 1.0]))
    with pytest.raises(exc.NonFiniteError):
        max_sharpe(MU, COV, risk_free=np.nan)


@pytest.mark.parametrize(
    ("mu", "cov"),
    [
        (MU[:3], COV),  # length mismatch
        (MU, COV[:3]),  # not square
        (MU, COV[None]),  # 3-D
        (np.ones((2, 2)), COV),  # mu 2-D
        (np.zeros(0), np.zeros((0, 0))),  # empty
    ],
)
def test_shape_errors(mu, cov) -> None:
    with pytest.raises(exc.ShapeError):
        markowitz_lagrange(mu, cov, R)


def test_other_shape_errors() -> None:
    with pytest.raises(exc.ShapeError, match="targets"):
        efficient_frontier(MU, COV, np.zeros((2, 2)))
    with pytest.raises(exc.ShapeError, match="targets"):
        efficient_frontier(MU, COV, [])
    with pytest.raises(exc.ShapeError, match="x0"):
        markowitz_newton(MU, COV, R, x0=np.ones(3) / 3)
    with pytest.raises(exc.ShapeError, match="bound"):
        min_variance(COV, bounds=(np.zeros(3), None))
    with pytest.raises(exc.ShapeError):
        markowitz_lagrange(MU, COV, [0.1, 0.2])
    # a column vector mu is accepted as (n,)
    np.testing.assert_array_equal(
        markowitz_lagrange(MU[:, None], COV, R).weights, markowitz_lagrange(MU, COV, R).weights
    )


def test_not_symmetric_with_relative_tolerance() -> None:
    asym = COV.copy()
    asym[0, 1] += 1e-4 * np.abs(COV).max()
    with pytest.raises(exc.NotSymmetricError, match="not symmetric"):
        min_variance(asym)
    tiny = COV.copy()
    tiny[0, 1] += 1e-12 * np.abs(COV).max()  # rounding-level asymmetry is accepted
    w_tiny = min_variance(tiny).weights
    np.testing.assert_allclose(w_tiny, min_variance(COV).weights, rtol=0.0, atol=1e-9)
    # relative: the same tiny asymmetry on a rescaled matrix is still fine
    np.testing.assert_allclose(min_variance(tiny * 1e-6).weights, w_tiny, rtol=1e-10)


def test_not_positive_definite_reports_the_spectrum() -> None:
    v = np.random.default_rng(0).standard_normal((4, 2))
    singular = v @ v.T
    for call in (
        lambda: markowitz_lagrange(MU, singular, R),
        lambda: markowitz_newton(MU, singular, R),
        lambda: min_variance(singular),
        lambda: max_sharpe(MU, singular),
        lambda: efficient_frontier(MU, singular, [R]),
    ):
        with pytest.raises(exc.NotPositiveDefiniteError, match="smallest eigenvalue"):
            call()
    with pytest.raises(exc.NotPositiveDefiniteError):
        min_variance(-np.eye(3))


def test_degenerate_returns() -> None:
    flat = np.full(4, 0.01)
    for call in (
        lambda: markowitz_lagrange(flat, COV, 0.01),
        lambda: markowitz_newton(flat, COV, 0.01),
        lambda: efficient_frontier(flat, COV, [0.01]),
    ):
        with pytest.raises(exc.DegenerateReturnsError, match="proportional"):
            call()
    # nearly flat but clearly not degenerate is fine
    near = markowitz_lagrange(flat + 1e-3 * MU, COV, 0.01)
    assert near.status == "optimal"
    assert float((flat + 1e-3 * MU) @ near.weights) == pytest.approx(0.01, abs=1e-10)


def test_infeasible_start_and_target() -> None:
    with pytest.raises(exc.InfeasibleStartError):
        markowitz_newton(MU, COV, R, x0=np.full(4, 0.25))
    lag = markowitz_lagrange(MU, COV, R)
    with pytest.raises(exc.InfeasibleTargetError):
        max_sharpe(MU, COV, risk_free=lag.B / lag.A + 1.0)


def test_mixed_backends_and_bad_options() -> None:
    with pytest.raises(exc.InputError, match="different array libraries"):
        markowitz_lagrange(torch.tensor(MU), COV, R)
    with pytest.raises(exc.InputError, match="target_kind"):
        efficient_frontier(MU, COV, [R], target_kind="leq")


@pytest.mark.parametrize(
    ("long_only", "bounds", "match"),
    [
        (False, (0.6, 0.5), "lower bound exceeds upper"),
        (False, (0.3, None), "sum of lower bounds"),
        (True, (None, 0.2), "sum of upper bounds"),
        (False, (np.inf, None), r"\+inf"),
        (False, (None, -np.inf), "-inf"),
        (False, (1.0,), "pair"),
        (False, 0.5, "pair"),
    ],
)
def test_infeasible_bounds(long_only, bounds, match) -> None:
    with pytest.raises(exc.InputError, match=match):
        min_variance(COV, long_only=long_only, bounds=bounds)


def test_resolve_bounds_nan_and_shape() -> None:
    import array_api_compat.numpy as xnp

    with pytest.raises(exc.NonFiniteError):
        resolve_bounds(3, False, (np.array([0.0, np.nan, 0.0]), None), xnp)
    with pytest.raises(exc.ShapeError):
        resolve_bounds(3, False, (None, np.ones((3, 1))), xnp)


def test_every_input_error_is_a_value_error() -> None:
    for cls in (
        exc.NonFiniteError,
        exc.ShapeError,
        exc.NotSymmetricError,
        exc.NotPositiveDefiniteError,
        exc.DegenerateReturnsError,
        exc.InfeasibleStartError,
        exc.InfeasibleTargetError,
    ):
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize("n", [63, 64, 200])
def test_the_compiled_check_agrees_with_numpy(n):
    from portfolio_lab.solvers._validation import FAST_CHECK_MIN_N, prepare

    rng = np.random.default_rng(n)
    A = rng.normal(size=(n, n))
    cov = A @ A.T / n + np.eye(n)
    cov[0, 1] += 1e-9 * np.abs(cov).max()  # asymmetric within the tolerance
    p = prepare(np.zeros(n), cov)
    np.testing.assert_array_equal(p.cov, (cov + cov.T) / 2.0)  # bit for bit
    # beyond the tolerance, and with a NaN or an inf off the diagonal: the usual errors
    bad = cov.copy()
    bad[2, 5] += 1e-6 * np.abs(cov).max()
    with pytest.raises(exc.NotSymmetricError, match="not symmetric"):
        prepare(np.zeros(n), bad)
    for value in (np.nan, np.inf):
        broken = cov.copy()
        broken[n - 1, 3] = value
        with pytest.raises(exc.NonFiniteError, match="1 NaN or infinite"):
            prepare(np.zeros(n), broken)
    assert (n >= FAST_CHECK_MIN_N) == (n != 63)
