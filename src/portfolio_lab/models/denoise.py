"""Denoisers of model inputs, fitted on the training window only and applied forward.

- ``"none"``: returns pass through.
- ``"mp"``: Marcenko-Pastur. On the training window the returns are standardized (the
  training means and standard deviations), the eigenvectors of their correlation whose
  eigenvalues lie above the Marcenko-Pastur edge ``λ₊`` are kept (edge and noise level
  from :func:`portfolio_lab.estimators.covariance.marchenko_pastur_clip`), and any later
  return vector is projected on that signal subspace, then de-standardized. The fitted
  state (means, deviations, projection) is stored with the model.
- ``"wavelet"``: each input window is denoised on its own (Daubechies-4, or Haar for
  windows shorter than 8 periods, at most three levels, soft universal
  threshold ``σ √(2 log L)`` with ``σ`` from the finest details' median absolute
  deviation). A window ending at ``t`` uses returns up to ``t`` only, so the input of
  each sample stays causal; there is nothing to fit.

A whole-sample (two-sided) denoise, which smooths each return with later ones, is not
offered: it leaks the future into every input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError

__all__ = ["DENOISERS", "Denoiser", "wavelet_denoise_windows"]

DENOISERS = ("none", "mp", "wavelet")

_WAVELET = "db4"


@dataclass
class Denoiser:
    """A fitted denoiser (see the module docstring).

    Parameters
    ----------
    method : {"none", "mp", "wavelet"}

    Attributes
    ----------
    mean_, scale_ : numpy.ndarray, shape (n,)
        Training means and standard deviations of the returns (``"mp"``).
    projection_ : numpy.ndarray, shape (n, n)
        ``V_s V_sᵀ`` on the signal eigenvectors (``"mp"``).
    n_signal_ : int
        Number of eigenvalues above ``λ₊`` (``"mp"``).
    """

    method: str = "none"
    mean_: np.ndarray | None = field(default=None, repr=False)
    scale_: np.ndarray | None = field(default=None, repr=False)
    projection_: np.ndarray | None = field(default=None, repr=False)
    n_signal_: int = 0

    def __post_init__(self) -> None:
        if self.method not in DENOISERS:
            raise InputError(f"denoise must be one of {DENOISERS}, got {self.method!r}")

    def fit(self, returns: np.ndarray) -> Denoiser:
        """Fit on the (T, n) training returns (only ``"mp"`` learns anything)."""
        if self.method != "mp":
            return self
        from ..estimators.covariance import marchenko_pastur_clip

        r = np.asarray(returns, dtype=float)
        if r.shape[1] < 2:
            raise InputError("denoise='mp' needs at least two assets")
        self.mean_ = r.mean(axis=0)
        self.scale_ = r.std(axis=0, ddof=1)
        if (self.scale_ <= 0).any():
            raise InputError("denoise='mp': an asset has zero variance in the training window")
        z = (r - self.mean_) / self.scale_
        clip = marchenko_pastur_clip(r)
        corr = np.corrcoef(z, rowvar=False)
        evals, evecs = np.linalg.eigh(corr)
        keep = evals > float(clip.lambda_plus)
        if not keep.any():  # pure noise by the MP criterion: keep the largest mode
            keep[-1] = True
        v = evecs[:, keep]
        self.projection_ = v @ v.T
        self.n_signal_ = int(keep.sum())
        return self

    def transform(self, returns: np.ndarray) -> np.ndarray:
        """Denoise (T, n) returns row by row (``"mp"``) or pass them through."""
        r = np.asarray(returns, dtype=float)
        if self.method != "mp":
            return r
        if self.projection_ is None:
            raise InputError("the mp denoiser is not fitted")
        z = (r - self.mean_) / self.scale_
        return (z @ self.projection_) * self.scale_ + self.mean_

    def state(self) -> dict[str, np.ndarray]:
        """Fitted arrays to store with a model (empty unless ``"mp"``)."""
        if self.method != "mp" or self.projection_ is None:
            return {}
        return {
            "denoise.mean": self.mean_,
            "denoise.scale": self.scale_,
            "denoise.projection": self.projection_,
        }

    @classmethod
    def from_state(cls, method: str, state: dict[str, np.ndarray], n_signal: int) -> Denoiser:
        """Rebuild a fitted denoiser from :meth:`state`."""
        out = cls(method)
        if method == "mp":
            out.mean_ = np.asarray(state["denoise.mean"], dtype=float)
            out.scale_ = np.asarray(state["denoise.scale"], dtype=float)
            out.projection_ = np.asarray(state["denoise.projection"], dtype=float)
            out.n_signal_ = int(n_signal)
        return out


def wavelet_denoise_windows(windows: np.ndarray) -> np.ndarray:
    """Soft-threshold wavelet denoise of each window along its time axis.

    Parameters
    ----------
    windows : numpy.ndarray, shape (k, L, n)
        Returns of ``k`` windows of ``L`` periods; each is denoised from its own values.

    Returns
    -------
    numpy.ndarray, shape (k, L, n)
    """
    import pywt

    w = np.asarray(windows, dtype=float)
    length = w.shape[1]
    if length < 4:
        raise InputError(f"wavelet denoising needs windows of at least 4 periods, got {length}")
    # Daubechies-4 when the window allows one level of it, else Haar (short windows)
    name = _WAVELET if pywt.dwt_max_level(length, pywt.Wavelet(_WAVELET).dec_len) >= 1 else "haar"
    level = min(3, pywt.dwt_max_level(length, pywt.Wavelet(name).dec_len))
    coeffs = pywt.wavedec(w, name, level=level, axis=1, mode="periodization")
    finest = coeffs[-1]
    sigma = np.median(np.abs(finest), axis=1, keepdims=True) / 0.6745  # (k, 1, n)
    thresh = sigma * np.sqrt(2.0 * np.log(length))
    shrunk = [coeffs[0]] + [np.sign(c) * np.maximum(np.abs(c) - thresh, 0.0) for c in coeffs[1:]]
    out = pywt.waverec(shrunk, name, axis=1, mode="periodization")
    return out[:, :length]
