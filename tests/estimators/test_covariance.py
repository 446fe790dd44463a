"""Covariance estimators against independent implementations and on invariants.

References: scikit-learn's LedoitWolf (identity target), a loop-by-loop transcription
of Ledoit & Wolf (2004, "Honey, I shrunk...", Appendix B) for the constant-correlation
target, a direct NumPy eigendecomposition for Marcenko-Pastur clipping, numerical
integration for the Marcenko-Pastur density and pandas ``ewm().cov()`` for EWMA.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from sklearn.covariance import LedoitWolf

from portfolio_lab._backend import gpu_available
from portfolio_lab.estimators.covariance import (
    DenoiseResult,
    ShrinkageResult,
    ewma_covariance,
    ewma_weights,
    ledoit_wolf,
    marchenko_pastur_clip,
    marchenko_pastur_edges,
    marchenko_pastur_pdf,
)
from portfolio_lab.exceptions import (
    InputError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
)

torch = pytest.importorskip("torch")


def factor_returns(t: int, n: int, seed: int, *, k: int = 2, scale: float = 0.01) -> np.ndarray:
    """Returns with ``k`` common factors plus heteroskedastic idiosyncratic noise."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(1.0, 0.5, size=(n, k))
    factors = rng.standard_normal((t, k))
    idio = rng.standard_normal((t, n)) * rng.uniform(0.5, 2.0, size=n)
    return scale * (factors @ loadings.T + idio) + scale * 0.05


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


# ------------------------------------------------------------------ Ledoit-Wolf identity


@pytest.mark.parametrize(("t", "n"), [(60, 5), (40, 40), (25, 60), (500, 20), (3, 2)])
@pytest.mark.parametrize("assume_centered", [False, True])
def test_lw_identity_matches_sklearn(t: int, n: int, assume_centered: bool) -> None:
    x = factor_returns(t, n, seed=t * n)
    ours = ledoit_wolf(x, assume_centered=assume_centered)
    ref = LedoitWolf(assume_centered=assume_centered).fit(x)
    assert isinstance(ours, ShrinkageResult) and ours.target == "identity"
    assert abs(ours.shrinkage - ref.shrinkage_) <= 1e-10
    assert rel_err(ours.covariance, ref.covariance_) <= 1e-10


def test_lw_single_asset_is_the_mle_variance() -> None:
    x = factor_returns(30, 1, seed=3)
    for target in ("identity", "constant_correlation"):
        res = ledoit_wolf(x, target=target)
        assert res.shrinkage == 0.0
        np.testing.assert_allclose(res.covariance, [[np.var(x)]], rtol=1e-12)


def test_lw_accepts_a_dataframe() -> None:
    x = factor_returns(50, 4, seed=4)
    frame = pd.DataFrame(x, columns=list("abcd"))
    np.testing.assert_array_equal(ledoit_wolf(frame).covariance, ledoit_wolf(x).covariance)


# ------------------------------------------------------- Ledoit-Wolf constant correlation


def lw_constant_correlation_loops(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit & Wolf (2004, Honey...), Appendix B, one sum at a time."""
    t, n = y.shape
    ybar = [sum(y[k, i] for k in range(t)) / t for i in range(n)]
    d = [[y[k, i] - ybar[i] for i in range(n)] for k in range(t)]
    s = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            s[i, j] = sum(d[k][i] * d[k][j] for k in range(t)) / t
    r = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            r[i, j] = s[i, j] / math.sqrt(s[i, i] * s[j, j])
    r_bar = sum(r[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    f = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            f[i, j] = s[i, i] if i == j else r_bar * math.sqrt(s[i, i] * s[j, j])
    pi = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            pi[i, j] = sum((d[k][i] * d[k][j] - s[i, j]) ** 2 for k in range(t)) / t
    pi_hat = pi.sum()

    def theta(a: int, b: int) -> float:  # θ_{aa,ab}
        return sum((d[k][a] ** 2 - s[a, a]) * (d[k][a] * d[k][b] - s[a, b]) for k in range(t)) / t

    rho_hat = sum(pi[i, i] for i in range(n))
    for i in range(n):
        for j in range(n):
            if i != j:
                rho_hat += (r_bar / 2) * (
                    math.sqrt(s[j, j] / s[i, i]) * theta(i, j)
                    + math.sqrt(s[i, i] / s[j, j]) * theta(j, i)
                )
    gamma_hat = sum((f[i, j] - s[i, j]) ** 2 for i in range(n) for j in range(n))
    kappa = (pi_hat - rho_hat) / gamma_hat
    delta = max(0.0, min(kappa / t, 1.0))
    return delta * f + (1 - delta) * s, delta


@pytest.mark.parametrize(("t", "n", "seed"), [(40, 5, 0), (12, 6, 1), (200, 4, 2), (8, 10, 3)])
def test_lw_constant_correlation_matches_direct_loops(t: int, n: int, seed: int) -> None:
    x = factor_returns(t, n, seed=seed)
    ref_cov, ref_delta = lw_constant_correlation_loops(x)
    ours = ledoit_wolf(x, target="constant_correlation")
    assert ours.target == "constant_correlation"
    assert abs(ours.shrinkage - ref_delta) <= 1e-10
    assert rel_err(ours.covariance, ref_cov) <= 1e-10


def test_lw_constant_correlation_prior_structure() -> None:
    x = factor_returns(80, 6, seed=5)
    res = ledoit_wolf(x, target="constant_correlation")
    s = np.cov(x, rowvar=False, ddof=0)
    np.testing.assert_allclose(np.diag(res.prior), np.diag(s), rtol=1e-12)
    sd = np.sqrt(np.diag(s))
    corr = res.prior / np.outer(sd, sd)
    off = corr[~np.eye(6, dtype=bool)]
    np.testing.assert_allclose(off, off[0], rtol=1e-12)
    sample_corr = np.corrcoef(x, rowvar=False)
    assert off[0] == pytest.approx(sample_corr[~np.eye(6, dtype=bool)].mean(), rel=1e-12)
    # the convex combination is really with the MLE sample covariance
    combo = (1 - res.shrinkage) * s + res.shrinkage * res.prior
    np.testing.assert_allclose(res.covariance, combo, rtol=1e-12)


def test_lw_constant_correlation_shrinks_more_with_less_data() -> None:
    big = ledoit_wolf(factor_returns(2000, 10, seed=6), target="constant_correlation")
    small = ledoit_wolf(factor_returns(30, 10, seed=6), target="constant_correlation")
    assert 0.0 <= big.shrinkage < small.shrinkage <= 1.0


def test_lw_constant_correlation_rejects_constant_asset() -> None:
    x = factor_returns(30, 3, seed=7)
    x[:, 1] = 0.01
    with pytest.raises(InputError, match="zero variance"):
        ledoit_wolf(x, target="constant_correlation")


# -------------------------------------------------------------- Ledoit-Wolf properties

shapes = st.tuples(st.integers(2, 7), st.integers(0, 40), st.integers(0, 2**31 - 1))


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["identity", "constant_correlation"]))
def test_lw_properties(shape: tuple[int, int, int], target: str) -> None:
    n, extra, seed = shape
    t = n + 2 + extra
    x = factor_returns(t, n, seed=seed)
    res = ledoit_wolf(x, target=target)
    cov = res.covariance
    assert 0.0 <= res.shrinkage <= 1.0
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov)[0] > 0.0
    # the trace of the MLE sample covariance is kept by both targets
    assert np.trace(cov) == pytest.approx(np.trace(np.cov(x, rowvar=False, ddof=0)), rel=1e-12)
    # permuting assets permutes the estimate and keeps the intensity
    perm = np.random.default_rng(seed).permutation(n)
    res_p = ledoit_wolf(x[:, perm], target=target)
    assert res_p.shrinkage == pytest.approx(res.shrinkage, abs=1e-12)
    np.testing.assert_allclose(res_p.covariance, cov[np.ix_(perm, perm)], rtol=1e-10, atol=0)
    # scale equivariance: Σ(c x) = c² Σ(x), same intensity
    res_s = ledoit_wolf(3.0 * x, target=target)
    assert res_s.shrinkage == pytest.approx(res.shrinkage, abs=1e-10)
    np.testing.assert_allclose(res_s.covariance, 9.0 * cov, rtol=1e-10)


def test_lw_identity_is_better_conditioned_than_sample() -> None:
    x = factor_returns(30, 25, seed=8)
    res = ledoit_wolf(x)
    assert np.linalg.cond(res.covariance) < np.linalg.cond(np.cov(x, rowvar=False))


# ---------------------------------------------------------------------- Marcenko-Pastur


def mp_clip_direct(cov: np.ndarray, t: int, sigma2: float | None) -> tuple[np.ndarray, float]:
    """Clipping written out with numpy.linalg.eigh and explicit loops."""
    n = cov.shape[0]
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    vals, vecs = np.linalg.eigh(corr)
    if sigma2 is None:
        sigma2 = 1.0 - vals.max() / n
    lam_plus = sigma2 * (1.0 + math.sqrt(n / t)) ** 2
    noise = [v for v in vals if v <= lam_plus]
    avg = sum(noise) / len(noise) if noise else 0.0
    new_vals = [avg if v <= lam_plus else v for v in vals]
    rebuilt = np.zeros((n, n))
    for k in range(n):
        rebuilt += new_vals[k] * np.outer(vecs[:, k], vecs[:, k])
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            c = rebuilt[i, j] / math.sqrt(rebuilt[i, i] * rebuilt[j, j])
            out[i, j] = c * sd[i] * sd[j]
    return out, lam_plus


@pytest.mark.parametrize(("t", "n", "seed"), [(250, 20, 0), (60, 30, 1), (30, 50, 2)])
def test_mp_clip_matches_direct_eigendecomposition(t: int, n: int, seed: int) -> None:
    x = factor_returns(t, n, seed=seed, k=3)
    res = marchenko_pastur_clip(x)
    ref, lam_plus = mp_clip_direct(np.cov(x, rowvar=False), t, None)
    assert isinstance(res, DenoiseResult)
    assert res.lambda_plus == pytest.approx(lam_plus, rel=1e-12)
    assert res.q == pytest.approx(n / t)
    assert rel_err(res.covariance, ref) <= 1e-10
    assert 1 <= res.n_signal < n


def test_mp_clip_with_given_sigma2_matches_direct() -> None:
    x = factor_returns(120, 15, seed=3)
    cov = np.cov(x, rowvar=False)
    res = marchenko_pastur_clip(cov, n_obs=120, sigma2=0.5)
    ref, lam_plus = mp_clip_direct(cov, 120, 0.5)
    assert res.sigma2 == 0.5 and res.lambda_plus == pytest.approx(lam_plus)
    assert rel_err(res.covariance, ref) <= 1e-10


def test_mp_clip_covariance_input_equals_returns_input() -> None:
    x = factor_returns(100, 12, seed=4)
    a = marchenko_pastur_clip(x)
    b = marchenko_pastur_clip(np.cov(x, rowvar=False), n_obs=100)
    np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-12)
    assert a.n_signal == b.n_signal


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(0, 60),
    st.integers(0, 2**31 - 1),
    st.sampled_from(["residual", "bulk_mean"]),
)
def test_mp_clip_properties(n: int, extra: int, seed: int, sigma2: str) -> None:
    t = n + 3 + extra
    x = factor_returns(t, n, seed=seed, k=1)
    res = marchenko_pastur_clip(x, sigma2=sigma2)
    cov = res.covariance
    sample = np.cov(x, rowvar=False)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov)[0] > 0.0
    np.testing.assert_allclose(np.diag(cov), np.diag(sample), rtol=1e-12)  # trace kept
    np.testing.assert_allclose(np.diag(res.correlation), 1.0)
    assert float(np.sum(res.clipped_eigenvalues)) == pytest.approx(n, rel=1e-10)
    signal = res.eigenvalues > res.lambda_plus
    np.testing.assert_array_equal(res.clipped_eigenvalues[signal], res.eigenvalues[signal])
    noise = res.clipped_eigenvalues[~signal]
    if noise.size:
        np.testing.assert_allclose(noise, noise[0], rtol=1e-12)
    assert res.n_signal == int(signal.sum())
    perm = np.random.default_rng(seed).permutation(n)
    res_p = marchenko_pastur_clip(x[:, perm], sigma2=sigma2)
    np.testing.assert_allclose(
        res_p.covariance, cov[np.ix_(perm, perm)], rtol=1e-8, atol=1e-14 * np.abs(cov).max()
    )


def test_mp_clip_pure_noise_becomes_diagonal() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2000, 40)) * rng.uniform(0.5, 2.0, size=40)
    res = marchenko_pastur_clip(x, sigma2="bulk_mean")
    assert res.sigma2 == pytest.approx(1.0, abs=1e-12)
    assert res.n_signal == 0
    np.testing.assert_allclose(res.correlation, np.eye(40), atol=1e-12)
    # "residual" lowers sigma2 by the top eigenvalue's share, so on pure noise the
    # top eigenvalue (which exceeds λ₊ by finite-size fluctuations) may be kept
    assert marchenko_pastur_clip(x).n_signal <= 1


def spiked_returns(t: int, n: int, k: int, seed: int) -> np.ndarray:
    """k factors with ±0.7 loadings (equal row norms) plus unit idiosyncratic noise."""
    rng = np.random.default_rng(seed)
    loadings = 0.7 * rng.choice([-1.0, 1.0], size=(n, k))
    return rng.standard_normal((t, k)) @ loadings.T + rng.standard_normal((t, n))


@pytest.mark.parametrize("sigma2", ["residual", "bulk_mean"])
def test_mp_clip_finds_planted_factors(sigma2: str) -> None:
    res = marchenko_pastur_clip(spiked_returns(1000, 50, 3, seed=10), sigma2=sigma2)
    assert res.n_signal == 3
    if sigma2 == "bulk_mean":  # the idiosyncratic share of each asset's variance
        assert res.sigma2 == pytest.approx(1.0 / (1.0 + 3 * 0.49), rel=0.05)


# -------------------------------------------------------------- Marcenko-Pastur density


@pytest.mark.parametrize(("q", "sigma2"), [(0.1, 1.0), (0.5, 0.7), (2.0, 1.3)])
def test_mp_pdf_mass_and_mean(q: float, sigma2: float) -> None:
    lo, hi = marchenko_pastur_edges(q, sigma2)

    def f(v: float) -> float:
        return float(marchenko_pastur_pdf(np.array([v]), q, sigma2)[0])

    mass = integrate.quad(f, lo, hi, limit=200)[0]
    first_moment = integrate.quad(lambda v: v * f(v), lo, hi, limit=200)[0]
    assert mass == pytest.approx(min(1.0, 1.0 / q), rel=1e-6)
    # E[λ] = sigma2 over the whole law (the atom at zero adds nothing)
    assert first_moment == pytest.approx(sigma2, rel=1e-6)
    outside = np.array([-1.0, 0.0, lo * 0.99, hi * 1.01, 10 * hi])
    np.testing.assert_array_equal(marchenko_pastur_pdf(outside, q, sigma2), 0.0)


def test_mp_pdf_describes_random_matrix_spectrum() -> None:
    t, n = 2000, 400
    x = np.random.default_rng(11).standard_normal((t, n))
    evals = np.linalg.eigvalsh(np.cov(x, rowvar=False))
    lo, hi = marchenko_pastur_edges(n / t)
    grid = np.linspace(lo, hi, 4001)
    cdf = integrate.cumulative_trapezoid(marchenko_pastur_pdf(grid, n / t), grid, initial=0.0)
    empirical = np.searchsorted(np.sort(evals), grid, side="right") / n
    assert np.max(np.abs(cdf - empirical)) < 0.03


def test_mp_pdf_torch() -> None:
    grid = np.linspace(0.0, 3.0, 50)
    out = marchenko_pastur_pdf(torch.as_tensor(grid), 0.3, 0.9)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), marchenko_pastur_pdf(grid, 0.3, 0.9), rtol=1e-14)


# --------------------------------------------------------------------------------- EWMA


@pytest.mark.parametrize("adjust", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("decay", [{"halflife": 10.0}, {"span": 30}, {"alpha": 0.2}])
def test_ewma_matches_pandas(adjust: bool, bias: bool, decay: dict[str, float]) -> None:
    x = factor_returns(150, 6, seed=12)
    frame = pd.DataFrame(x)
    ref = frame.ewm(adjust=adjust, **decay).cov(bias=bias).loc[len(x) - 1].to_numpy()
    ours = ewma_covariance(x, adjust=adjust, bias=bias, **decay)
    assert rel_err(ours, ref) <= 1e-12


def test_ewma_centered_matches_direct_loop() -> None:
    x = factor_returns(80, 4, seed=13)
    lam = 0.94
    num = np.zeros((4, 4))
    den = 0.0
    for i, row in enumerate(x):
        w = lam ** (len(x) - 1 - i)
        num += w * np.outer(row, row)
        den += w
    ours = ewma_covariance(x, alpha=1 - lam, assume_centered=True)
    assert rel_err(ours, num / den) <= 1e-12


def test_ewma_weights_recursion() -> None:
    # adjust=False weights reproduce the recursive average m_i = (1-a) m_{i-1} + a x_i
    rng = np.random.default_rng(14)
    v = rng.standard_normal(20)
    m = v[0]
    for value in v[1:]:
        m = 0.7 * m + 0.3 * value
    w = np.array(ewma_weights(20, 0.3, adjust=False))
    assert float(w @ v / w.sum()) == pytest.approx(m, rel=1e-12)
    assert w.sum() == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 40), st.integers(0, 2**31 - 1), st.floats(1.0, 200.0))
def test_ewma_properties(n: int, extra: int, seed: int, halflife: float) -> None:
    x = factor_returns(n + 2 + extra, n, seed=seed)
    cov = ewma_covariance(x, halflife=halflife)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov)[0] > 0.0
    perm = np.random.default_rng(seed).permutation(n)
    np.testing.assert_allclose(
        ewma_covariance(x[:, perm], halflife=halflife), cov[np.ix_(perm, perm)], rtol=1e-12
    )


def test_ewma_tends_to_sample_covariance_for_long_halflife() -> None:
    x = factor_returns(100, 3, seed=15)
    cov = ewma_covariance(x, halflife=1e9)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-6)


# ---------------------------------------------------------------------------- errors


def test_errors() -> None:
    x = factor_returns(30, 3, seed=16)
    with pytest.raises(ShapeError):
        ledoit_wolf(x[:, 0])
    with pytest.raises(ShapeError):
        ledoit_wolf(x[:1])
    bad = x.copy()
    bad[3, 1] = np.nan
    for fn in (ledoit_wolf, marchenko_pastur_clip, lambda a: ewma_covariance(a, span=5)):
        with pytest.raises(NonFiniteError):
            fn(bad)
    with pytest.raises(InputError, match="target"):
        ledoit_wolf(x, target="diagonal")
    with pytest.raises(InputError, match="exactly one"):
        ewma_covariance(x, halflife=5, span=5)
    with pytest.raises(InputError, match="exactly one"):
        ewma_covariance(x)
    with pytest.raises(InputError, match="alpha"):
        ewma_covariance(x, alpha=1.0)
    with pytest.raises(InputError, match="span"):
        ewma_covariance(x, span=1)
    cov = np.cov(x, rowvar=False)
    with pytest.raises(InputError, match="n_obs"):
        marchenko_pastur_clip(cov, n_obs=0)
    with pytest.raises(InputError, match="sigma2"):
        marchenko_pastur_clip(x, sigma2="fit")
    with pytest.raises(InputError, match="sigma2"):
        marchenko_pastur_clip(x, sigma2=-1.0)
    with pytest.raises(ShapeError):
        marchenko_pastur_clip(x, n_obs=30)
    asym = cov.copy()
    asym[0, 1] += 1e-3
    with pytest.raises(NotSymmetricError):
        marchenko_pastur_clip(asym, n_obs=30)
    flat = cov.copy()
    flat[2, 2] = 0.0
    with pytest.raises(NotPositiveDefiniteError):
        marchenko_pastur_clip(flat, n_obs=30)
    with pytest.raises(InputError, match="q"):
        marchenko_pastur_pdf(np.ones(3), 0.0)


# --------------------------------------------------------------------------- backends

ESTIMATORS = {
    "lw_identity": lambda a: ledoit_wolf(a).covariance,
    "lw_constant_correlation": lambda a: ledoit_wolf(a, target="constant_correlation").covariance,
    "mp_residual": lambda a: marchenko_pastur_clip(a).covariance,
    "mp_bulk_mean": lambda a: marchenko_pastur_clip(a, sigma2="bulk_mean").covariance,
    "ewma": lambda a: ewma_covariance(a, halflife=20),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_torch_cpu_equals_numpy(name: str) -> None:
    x = factor_returns(90, 12, seed=17)
    out = ESTIMATORS[name](torch.as_tensor(x))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ESTIMATORS[name](x), rtol=1e-10, atol=1e-18)


def test_torch_float32_input_is_promoted() -> None:
    x = factor_returns(50, 4, seed=18)
    out = ledoit_wolf(torch.as_tensor(x, dtype=torch.float32)).covariance
    assert out.dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_cupy_equals_numpy(name: str) -> None:
    cupy = pytest.importorskip("cupy")
    if not gpu_available("cupy"):
        pytest.skip("no CUDA GPU visible to CuPy")
    x = factor_returns(90, 12, seed=19)
    out = ESTIMATORS[name](cupy.asarray(x))
    assert isinstance(out, cupy.ndarray) and out.dtype == cupy.float64
    np.testing.assert_allclose(out.get(), ESTIMATORS[name](x), rtol=1e-10, atol=1e-18)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_torch_cuda_equals_numpy(name: str) -> None:
    if not gpu_available("torch"):
        pytest.skip("no CUDA GPU visible to torch")
    x = factor_returns(90, 12, seed=20)
    out = ESTIMATORS[name](torch.as_tensor(x, device="cuda"))
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), ESTIMATORS[name](x), rtol=1e-10, atol=1e-18)


def test_one_vocabulary_of_covariance_estimators() -> None:
    from portfolio_lab.backtest.walk_forward import COVARIANCES
    from portfolio_lab.backtest.walk_forward import estimate_covariance as wf_estimate
    from portfolio_lab.estimators import COVARIANCE_ESTIMATORS, estimate_covariance
    from portfolio_lab.exceptions import InputError

    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 0.01, (120, 6))
    assert COVARIANCES == COVARIANCE_ESTIMATORS
    direct = {
        "sample": np.cov(x, rowvar=False, ddof=1),
        "ledoit_wolf": ledoit_wolf(x).covariance,
        "ledoit_wolf_cc": ledoit_wolf(x, target="constant_correlation").covariance,
        "mp_clip": marchenko_pastur_clip(x).covariance,
        "ewma": ewma_covariance(x, halflife=63.0),
    }
    assert set(direct) == set(COVARIANCE_ESTIMATORS)
    for name, ref in direct.items():
        np.testing.assert_allclose(estimate_covariance(x, name), ref, rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(wf_estimate(x, name), ref, rtol=1e-12, atol=1e-18)
    with pytest.raises(InputError, match="lw_identity"):
        estimate_covariance(x, "lw_identity")
