import numpy as np
import pytest

from portfolio_lab.estimators.covariance import marchenko_pastur_clip
from portfolio_lab.exceptions import InputError
from portfolio_lab.models import Denoiser, wavelet_denoise_windows


def _factor_returns(T=600, n=12, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.01, (T, 2))
    load = rng.normal(1, 0.3, (n, 2))
    return f @ load.T + rng.normal(0, 0.01, (T, n))


def test_mp_keeps_the_signal_eigenvectors_of_the_training_window():
    r = _factor_returns()
    d = Denoiser("mp").fit(r[:400])
    clip = marchenko_pastur_clip(r[:400])
    assert d.n_signal_ == clip.n_signal >= 1
    P = d.projection_
    np.testing.assert_allclose(P @ P, P, atol=1e-10)  # a projection
    assert np.trace(P) == pytest.approx(d.n_signal_)
    out = d.transform(r[400:])
    assert out.shape == r[400:].shape
    # denoised standardized returns lie in the signal subspace
    z = (out - d.mean_) / d.scale_
    np.testing.assert_allclose(z @ P, z, atol=1e-10)


def test_mp_is_fitted_on_the_training_window_only():
    r = _factor_returns()
    d1 = Denoiser("mp").fit(r[:400])
    r2 = r.copy()
    r2[400:] = r2[400:] * 3 + 0.05
    d2 = Denoiser("mp").fit(r2[:400])
    np.testing.assert_array_equal(d1.projection_, d2.projection_)
    # a row is transformed from itself and the fitted state only
    np.testing.assert_array_equal(d1.transform(r[:400]), d2.transform(r2[:400]))


def test_none_passes_through_and_unknown_names_raise():
    r = _factor_returns(50, 3)
    np.testing.assert_array_equal(Denoiser("none").fit(r).transform(r), r)
    with pytest.raises(InputError, match="denoise must be one of"):
        Denoiser("whole_sample_wavelet")


def test_wavelet_denoises_each_window_from_itself():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.01, (5, 32, 3))
    out = wavelet_denoise_windows(w)
    assert out.shape == w.shape
    assert np.linalg.norm(out) < np.linalg.norm(w)  # shrinkage removes energy
    w2 = w.copy()
    w2[3] *= 10  # another window changes: the others do not
    np.testing.assert_array_equal(wavelet_denoise_windows(w2)[[0, 1, 2, 4]], out[[0, 1, 2, 4]])
    smooth = np.tile(np.linspace(-0.01, 0.01, 32)[None, :, None], (1, 1, 2))
    np.testing.assert_allclose(wavelet_denoise_windows(smooth + 0.0), smooth, atol=2e-3)
