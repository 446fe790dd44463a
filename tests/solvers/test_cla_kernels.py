"""The critical line's compiled kernels and rank-one bookkeeping against direct solves.

``_cla_kernels`` (numba) works in place on preallocated buffers; ``_Walk`` keeps rows
``W = Σ̃_{B,F} L⁻ᵀ``, ``y = L⁻¹[1, μ̃_F, c_F]`` and their products by updates. Each is
checked here against NumPy's dense solves of the same quantities, after random sequences
of entering and leaving assets (property tests).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.solvers import _cla_kernels as kern
from portfolio_lab.solvers.cla import _Walk


def _spd(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 2 * n))
    return a @ a.T / (2 * n) + np.diag(rng.uniform(0.5, 1.5, n))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(0, 12), seed=st.integers(0, 2**31 - 1))
def test_triangular_solves_match_numpy_on_a_leading_block(n, k, seed):
    k = min(k, n)
    big = np.zeros((n + 3, n + 3))
    L = np.linalg.cholesky(_spd(n, seed))
    big[:n, :n] = L
    rng = np.random.default_rng(seed + 1)
    b = rng.standard_normal(n + 3)
    out = np.zeros(n + 3)
    kern.forward_solve(big, k, b, out)
    np.testing.assert_allclose(out[:k], np.linalg.solve(L[:k, :k], b[:k]), rtol=1e-12, atol=1e-12)
    Y = rng.standard_normal((3, n + 3))
    X = np.zeros_like(Y)
    kern.back_solve_rows(big, k, Y, X)
    ref = np.linalg.solve(L[:k, :k].T, Y[:, :k].T).T
    np.testing.assert_allclose(X[:, :k], ref, rtol=1e-11, atol=1e-11)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 10), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_delete_position_is_the_factor_of_the_reduced_block(n, seed, data):
    p = data.draw(st.integers(0, n - 1))
    # rows in use: groups of four rotated together and the rest one by one
    nr = data.draw(st.integers(0, 9))
    A = _spd(n, seed)
    L = np.zeros((n, n))
    L[:, :] = np.linalg.cholesky(A)
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((nr, n))  # right-hand sides: R = B L⁻ᵀ, rows of "W"
    R = np.zeros((nr + 2, n))
    R[:nr] = np.linalg.solve(L, B.T).T
    R[nr:] = 7.0  # rows beyond nr are not touched
    Y = np.linalg.solve(L, rng.standard_normal((n, 3))).T.copy()
    r_full = L @ Y.T  # the right-hand sides Y came from
    kern.delete_position(L, n, p, R, nr, Y)
    keep = [i for i in range(n) if i != p]
    Lp = L[: n - 1, : n - 1]
    np.testing.assert_allclose(Lp @ Lp.T, A[np.ix_(keep, keep)], atol=1e-12)
    assert np.all(np.triu(Lp, 1) == 0) and np.all(np.diag(Lp) > 0)
    assert np.all(L[n - 1] == 0) and np.all(L[:, n - 1] == 0)
    # A Lᵀ = B without column p, for both sets of rows
    np.testing.assert_allclose(R[:nr, : n - 1] @ Lp.T, B[:, keep], atol=1e-12)
    np.testing.assert_allclose(Lp @ Y[:, : n - 1].T, r_full[keep], atol=1e-12)
    assert np.all(R[:nr, n - 1] == 0) and np.all(Y[:, n - 1] == 0)
    assert np.all(R[nr:] == 7.0)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_segment_weights_clip_the_free_weights_into_their_box(n, seed, data):
    rng = np.random.default_rng(seed)
    k = data.draw(st.integers(0, n))
    fidx = rng.permutation(n).astype(np.int64)
    lo, hi = -rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    w = rng.uniform(lo, hi)
    alpha, beta = rng.standard_normal(n), rng.standard_normal(n)
    lam = float(rng.standard_normal())
    got = kern.segment_weights(w, fidx, k, alpha, beta, lam, lo, hi)
    want = w.copy()
    F = fidx[:k]
    want[F] = np.clip(alpha[:k] + lam * beta[:k], lo[F], hi[F])
    np.testing.assert_array_equal(got, want)
    assert got is not w


def _direct_segment(wk):
    """The segment of the walk's free set by dense solves (the pre-issue-20 formulas)."""
    F = wk.fidx[: wk.k]
    S, m, rho = wk.S, wk.m, wk.rho
    M = S[np.ix_(F, F)] + rho
    bound = np.setdiff1d(np.arange(wk.n), F)
    cB = S[:, bound] @ wk.w[bound]
    s = 1.0 - wk.w[bound].sum()
    x = np.linalg.solve(M, np.stack([np.ones(F.size), m[F], cB[F]], axis=1))
    a1, am, ac = x.sum(axis=0)
    alpha = ((s + ac) / a1) * x[:, 0] - x[:, 2]
    beta = x[:, 1] - (am / a1) * x[:, 0]
    g0, g1 = (s + ac) / a1 - rho * s, -am / a1
    z0 = S[:, F] @ alpha + cB - g0
    z1 = S[:, F] @ beta - m - g1
    z0[F] = 0.0
    z1[F] = 0.0
    return alpha, beta, g0, g1, z0, z1


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 14),
    seed=st.integers(0, 2**31 - 1),
    moves=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2)), min_size=1, max_size=40),
)
def test_walk_updates_equal_direct_solves(n, seed, moves):
    # random entering / leaving sequences at random (also nonzero and upper) bounds:
    # every maintained quantity of the segment equals its direct dense computation
    rng = np.random.default_rng(seed)
    S = _spd(n, seed)
    S /= np.mean(np.diag(S))
    m = rng.standard_normal(n)
    lo = np.where(rng.random(n) < 0.3, -0.1, 0.0)
    hi = np.where(rng.random(n) < 0.3, 0.4, np.inf)
    wk = _Walk(S, m, lo, hi)
    wk.w = lo.copy()
    wk.cB = S @ wk.w
    for pick, side in moves:
        bound = np.flatnonzero(wk.status != 0)
        if side < 2 or wk.k == 0:  # enter
            if not bound.size:
                continue
            j = int(bound[pick % bound.size])
            wk.make_free(j)
        else:  # leave to the lower or the upper bound
            i = int(wk.fidx[pick % wk.k])
            to_hi = bool(pick % 2) and np.isfinite(hi[i])
            wk.make_bound(i, 1 if to_hi else -1)
        if wk.k == 0:
            continue
        got, ref = wk.segment(), _direct_segment(wk)
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
