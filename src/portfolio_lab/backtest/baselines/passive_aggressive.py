"""Follow-the-Loser by passive-aggressive updates: PAMR and CWMR."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy
from ._simplex import project_simplex

__all__ = ["PAMR", "CWMR", "WMAMR"]

_PAMR_VARIANTS = ("PAMR", "PAMR-1", "PAMR-2")


class PAMR(OnlinePolicy):
    """Passive-aggressive mean reversion (Li, Zhao, Hoi & Gopalkrishnan 2012).

    After relative ``x_t`` the loss is ``ℓ = max(0, b_t · x_t - ε)`` and the portfolio
    moves against the winners, ``b_{t+1} = Π(b_t - τ (x_t - x̄_t 1))`` with
    ``τ = ℓ / ‖x_t - x̄_t 1‖²`` (PAMR), ``min(C, ·)`` (PAMR-1) or
    ``ℓ / (‖x_t - x̄_t 1‖² + 1/(2C))`` (PAMR-2). ``Π`` is the Euclidean simplex
    projection. The loss uses the cost-free return ``b_t · x_t`` as in the paper (the
    OLPS toolbox uses the return net of costs). When all relatives are equal PAMR and
    PAMR-1 keep the portfolio.

    Parameters
    ----------
    eps : float, default 0.5
        Mean-reversion threshold ε.
    variant : {"PAMR", "PAMR-1", "PAMR-2"}, default "PAMR"
    C : float, default 500.0
        Aggressiveness of PAMR-1 and PAMR-2.
    """

    def __init__(self, eps: float = 0.5, variant: str = "PAMR", C: float = 500.0) -> None:
        if variant not in _PAMR_VARIANTS:
            raise InputError(f"PAMR variant must be one of {_PAMR_VARIANTS}, got {variant!r}")
        if not eps >= 0 or not C > 0:
            raise InputError(f"PAMR needs eps >= 0 and C > 0, got eps={eps}, C={C}")
        self.eps, self.variant, self.C = float(eps), variant, float(C)
        extra = "" if variant == "PAMR" else f", C={self.C:g}"
        self.name = f"{variant}(eps={self.eps:g}{extra})"

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        b = self.weights_
        loss = max(0.0, float(b @ x) - self.eps)
        dev = x - x.mean()
        sq = float(dev @ dev)
        if self.variant == "PAMR-2":
            tau = loss / (sq + 0.5 / self.C)
        elif sq == 0.0:
            tau = 0.0
        else:
            tau = loss / sq
            if self.variant == "PAMR-1":
                tau = min(self.C, tau)
        return project_simplex(b - tau * dev)


class CWMR(OnlinePolicy):
    """Confidence-weighted mean reversion (Li, Hoi, Zhao & Gopalkrishnan 2013), deterministic.

    The portfolio is the mean ``μ`` of a Gaussian belief ``N(μ, Σ)`` updated so that the
    probability of a return below ε is at most the confidence set by ``phi``. Follows the
    OLPS toolbox ``cwmr_var_expert.m`` / ``cwmr_stdev_expert.m``: ``μ_0 = 1/n``,
    ``Σ_0 = I/n²``, the closed-form multiplier λ as the largest root of the variant's
    quadratic (zero when none is positive), ``μ ← Π(μ - λ Σ (x - x̄ 1))`` with
    ``x̄ = 1ᵀΣx / 1ᵀΣ1``, then the toolbox's rescaling ``Σ ← Σ / (n · 1ᵀΣ1)``. The
    deterministic version trades ``μ`` itself (no sampling).

    Parameters
    ----------
    phi : float, default 2.0
        Confidence parameter (the quantile of the standard normal).
    eps : float, default 0.5
        Mean-reversion threshold ε.
    variant : {"stdev", "var"}, default "stdev"
        CWMR-Stdev or CWMR-Var.
    """

    def __init__(self, phi: float = 2.0, eps: float = 0.5, variant: str = "stdev") -> None:
        if variant not in ("stdev", "var"):
            raise InputError(f"CWMR variant must be 'stdev' or 'var', got {variant!r}")
        if not phi > 0:
            raise InputError(f"CWMR needs phi > 0, got {phi}")
        self.phi, self.eps, self.variant = float(phi), float(eps), variant
        label = "Stdev" if variant == "stdev" else "Var"
        self.name = f"CWMR-{label}(phi={self.phi:g}, eps={self.eps:g})"

    def _start(self, n: int) -> np.ndarray:
        self._mu = np.full(n, 1.0 / n)
        self._sigma = np.eye(n) / n**2
        return self._mu.copy()

    @staticmethod
    def _root(a: float, b: float, c: float) -> float:
        if a != 0.0:
            disc = b * b - 4.0 * a * c
            if disc > 0.0:
                t2 = np.sqrt(disc)
                return max((-b + t2) / (2.0 * a), (-b - t2) / (2.0 * a), 0.0)
            return 0.0
        if b != 0.0:
            return max(-c / b, 0.0)
        return 0.0

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        n = x.size
        mu, sigma, phi, eps = self._mu, self._sigma, self.phi, self.eps
        s1 = sigma.sum(axis=1)
        sx = sigma @ x
        x_bar = float(s1 @ x) / float(s1.sum())
        M = float(x @ mu)
        V = float(x @ sx)
        W = float(x @ s1)
        if self.variant == "var":
            a = 2 * phi * V * V - 2 * phi * x_bar * V * W
            b = 2 * phi * eps * V - 2 * phi * V * M + V - x_bar * W
            c = eps - M - phi * V
        else:
            k = V - x_bar * W + phi * phi * V / 2
            a = k * k - phi**4 * V * V / 4
            b = 2 * (eps - M) * k
            c = (eps - M) ** 2 - phi * phi * V
        lam = self._root(a, b, c)
        mu = mu - lam * (sx - x_bar * s1)
        if self.variant == "var":
            d = 2 * lam * phi * x * x
        else:
            sqrtu = (-lam * phi * V + np.sqrt(lam * lam * V * V * phi * phi + 4 * V)) / 2
            d = lam * phi / sqrtu * x * x if sqrtu != 0 else np.zeros(n)
        # (Σ⁻¹ + D)⁻¹ = (I + Σ D)⁻¹ Σ, solved without forming an inverse
        sigma = np.linalg.solve(np.eye(n) + sigma * d[None, :], sigma)
        sigma = (sigma + sigma.T) / 2
        if self.variant == "stdev":
            sign, logdet = np.linalg.slogdet(sigma)
            if sign <= 0 or logdet <= np.log(np.finfo(float).eps):
                sigma = sigma + np.finfo(float).eps * np.eye(n)
        self._mu = project_simplex(mu)
        self._sigma = sigma / sigma.sum() / n
        return self._mu.copy()


class WMAMR(OnlinePolicy):
    """Weighted moving average mean reversion, WMAMR (Gao & Zhang 2013).

    PAMR's passive-aggressive move applied to the moving average of the last ``window``
    relatives (all of them while fewer are known) instead of the last relative: with
    ``x̃ = mean(x_{t-w+1..t})``, ``ℓ = max(0, b · x̃ - ε)``,
    ``b ← Π(b - ℓ / ‖x̃ - mean(x̃) 1‖² (x̃ - mean(x̃) 1))`` (no move when x̃ is flat).
    universal-portfolios' ``WMAMR`` with ``variant=0``.

    Parameters
    ----------
    eps : float, default 0.5
        Mean-reversion threshold ε.
    window : int, default 5
        Moving-average window w.
    """

    def __init__(self, eps: float = 0.5, window: int = 5) -> None:
        if not eps >= 0 or int(window) < 1:
            raise InputError(f"WMAMR needs eps >= 0 and window >= 1, got {eps}, {window}")
        self.eps, self.window = float(eps), int(window)
        self.name = f"WMAMR(eps={self.eps:g}, w={self.window})"

    def _update(self, history: np.ndarray) -> np.ndarray:
        pred = history[-self.window :].mean(axis=0)
        b = self.weights_
        loss = max(0.0, float(b @ pred) - self.eps)
        dev = pred - pred.mean()
        sq = float(dev @ dev)
        tau = 0.0 if sq == 0.0 else loss / sq
        return project_simplex(b - tau * dev)
