"""The compiled simplex-QP loop against the NumPy steps it replaced (LU of each system)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.backtest.baselines._bcrp_kernels import (
    sample_hessians,
    sample_objective,
    stacked_products,
)
from portfolio_lab.backtest.baselines._simplex import (
    _qp_batch_lu,
    simplex_qp,
    simplex_qp_batch,
    simplex_qp_rows,
)
from portfolio_lab.backtest.baselines._simplex_kernels import NOT_PD, OK, qp_batch
from portfolio_lab.exceptions import ConvergenceError


def _problems(rng: np.random.Generator, E: int, n: int) -> tuple[np.ndarray, ...]:
    M = rng.normal(size=(E, n, n))
    Q = M @ M.transpose(0, 2, 1) + 0.05 * np.eye(n)
    c = rng.normal(size=(E, n)) * rng.choice([0.1, 3.0, 30.0], size=(E, 1))
    y0 = rng.dirichlet(np.ones(n), E) * (rng.random((E, n)) < 0.6)
    y0[y0.sum(axis=1) == 0, 0] = 1.0
    return Q, c, y0 / y0.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 40), E=st.integers(1, 6))
def test_compiled_loop_matches_the_lu_steps(seed: int, n: int, E: int) -> None:
    Q, c, y0 = _problems(np.random.default_rng(seed), E, n)
    thresh = 1e-12 * np.maximum(np.maximum(np.abs(Q).max(axis=(1, 2)), np.abs(c).max(axis=1)), 1)
    y = y0.copy()
    status = qp_batch(Q, np.arange(E), c, y, 1e-12, 10 * n + 50)
    assert np.all(status == OK)
    ref, left = _qp_batch_lu(Q, c, y0.copy(), thresh, 1e-12, 10 * n + 50)
    assert left == 0
    np.testing.assert_allclose(y, ref, atol=1e-10)
    # and the minimizer is certified: on the support the gradient equals its smallest value
    g = np.einsum("eij,ej->ei", Q, y) + c
    low = g.min(axis=1, keepdims=True)
    scale = np.abs(g).max(axis=1, keepdims=True) + 1
    assert np.all(np.abs(np.where(y > 1e-9, g - low, 0.0)) <= 1e-8 * scale)


def test_a_block_that_is_not_positive_definite_takes_the_lu_path() -> None:
    # an indefinite Q: the Cholesky pivot of the full free set fails, the bordered system
    # itself is regular, so the LU steps solve it (a stationary point on the simplex)
    Q = np.array([[[1.0, 0.0], [0.0, -0.5]], [[2.0, 0.3], [0.3, 1.0]]])
    c = np.array([[0.1, 0.0], [0.0, 0.2]])
    y0 = np.full((2, 2), 0.5)
    thresh = np.full(2, 1e-12)
    status = qp_batch(Q, np.arange(2), c, y0.copy(), 1e-12, 50)
    assert status[0] == NOT_PD and status[1] == OK
    got = simplex_qp_batch(Q, c, y0)
    ref, left = _qp_batch_lu(Q[:1], c[:1], y0[:1].copy(), thresh[:1], 1e-12, 50)
    assert left == 0
    np.testing.assert_allclose(got[0], ref[0], atol=1e-14)
    np.testing.assert_allclose(got[1], simplex_qp(Q[1], c[1], y0[1]), atol=1e-12)


def test_an_exhausted_iteration_cap_is_a_convergence_error() -> None:
    Q, c, y0 = _problems(np.random.default_rng(3), 2, 8)
    with pytest.raises(ConvergenceError, match="open after 1 iterations"):
        simplex_qp_batch(Q, c, np.full((2, 8), 1.0 / 8), max_iter=1)
    with pytest.raises(ConvergenceError, match="did not converge in 1"):
        simplex_qp(Q[0], c[0], max_iter=1)


def test_rows_select_matrices_of_a_larger_stack() -> None:
    rng = np.random.default_rng(5)
    Q, c, y0 = _problems(rng, 5, 7)
    rows = np.array([4, 1, 1])
    got = simplex_qp_rows(Q, rows, c[:3], y0[:3])
    np.testing.assert_allclose(got, simplex_qp_batch(Q[rows], c[:3], y0[:3]), atol=0)
    b = rng.dirichlet(np.ones(7), 3)
    np.testing.assert_allclose(
        stacked_products(Q, rows, b), np.einsum("eij,ej->ei", Q[rows], b), rtol=1e-13
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 12), T=st.integers(1, 40))
def test_sample_hessians_match_the_numpy_product(seed: int, n: int, T: int) -> None:
    rng = np.random.default_rng(seed)
    E = 4
    x = rng.uniform(0.8, 1.25, (T, n))
    masks = rng.random((E, T)) < 0.5
    masks[:, 0] = True
    weight = masks.T / masks.sum(axis=1)
    R = x @ rng.dirichlet(np.ones(n), E).T
    owner, days = np.nonzero(masks)
    offsets = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=E))))
    H = np.full((E, n, n), np.nan)
    sample_hessians(x, weight, R, days, offsets, np.array([0, 2, 3]), H)
    assert np.all(np.isnan(H[1]))  # a problem not asked for is left alone
    for e in (0, 2, 3):
        a = x[masks[e]] * (np.sqrt(weight[masks[e], e]) / R[masks[e], e])[:, None]
        ref = a.T @ a
        ref += 1e-12 * np.trace(ref) / n * np.eye(n)
        np.testing.assert_allclose(H[e], ref, rtol=1e-12, atol=1e-14)


def test_sample_objective_sums_each_sample_and_flags_the_domain() -> None:
    rng = np.random.default_rng(7)
    T, E = 30, 3
    masks = rng.random((E, T)) < 0.5
    masks[:, 0] = True
    masks[0, 1] = False  # problem 0 leaves out a day
    weight = masks.T / masks.sum(axis=1)
    owner, days = np.nonzero(masks)
    offsets = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=E))))
    r = rng.uniform(0.5, 1.5, (T, 2))
    cols = np.array([2, 0])
    got = sample_objective(r, cols, weight, days, offsets)
    for i, e in enumerate(cols):
        ref = -np.sum(weight[masks[e], e] * np.log(r[masks[e], i]))
        assert got[i] == pytest.approx(ref, rel=1e-14)
    # a non-positive gain on a sample day is outside the domain; off the sample it is ignored
    r[0, 0] = -1.0  # day 0 is in every sample: column 0 (problem 2) leaves the domain
    r[np.flatnonzero(~masks[0]), 1] = -1.0  # days outside problem 0's sample
    got = sample_objective(r, cols, weight, days, offsets)
    assert got[0] == np.inf and np.isfinite(got[1])
