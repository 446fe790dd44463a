"""Follow-the-Winner baselines: exponentiated gradient (EG) and online Newton step (ONS)."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy
from ._simplex import simplex_qp

__all__ = ["EG", "ONS"]


class EG(OnlinePolicy):
    """Exponentiated gradient (Helmbold, Schapire, Singer & Warmuth 1998).

    ``b_{t+1,i} ∝ b_{t,i} exp(η x_{t,i} / (b_t · x_t))`` from the previously *chosen*
    portfolio ``b_t``, as in the paper and the OLPS toolbox (``eg_expert.m``).

    Parameters
    ----------
    eta : float, default 0.05
        Learning rate (the survey's default).
    """

    def __init__(self, eta: float = 0.05) -> None:
        if not eta >= 0:
            raise InputError(f"EG needs eta >= 0, got {eta}")
        self.eta = float(eta)
        self.name = f"EG(eta={self.eta:g})"

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        b = self.weights_
        z = self.eta * x / float(b @ x)
        w = b * np.exp(z - z.max())
        return w / w.sum()


class ONS(OnlinePolicy):
    """Online Newton step (Agarwal, Hazan, Kale & Schapire 2006), OLPS-toolbox form.

    With ``∇_s = x_s / (b_s · x_s)`` for the chosen portfolios ``b_s``,
    ``A_t = I + Σ_s ∇_s ∇_sᵀ`` and ``c_t = (1 + 1/β) Σ_s ∇_s``, the next portfolio is
    ``(1 - η) Π_A(δ A_t⁻¹ c_t) + η/n``, where ``Π_A`` projects onto the simplex in the norm
    ``‖·‖_A`` (``ons_expert.m``; the same recursion as universal-portfolios' ``ONS``).
    The projection is solved exactly by :func:`simplex_qp`, written without an inverse:
    ``min ½ bᵀA b - δ c_tᵀ b``.

    Parameters
    ----------
    eta : float, default 0.0
        Weight of the uniform portfolio in the mixture.
    beta : float, default 1.0
        Trade-off parameter.
    delta : float, default 0.125
        Heuristic tuning parameter.
    """

    def __init__(self, eta: float = 0.0, beta: float = 1.0, delta: float = 0.125) -> None:
        if not 0 <= eta <= 1:
            raise InputError(f"ONS needs 0 <= eta <= 1, got {eta}")
        if not beta > 0 or not delta > 0:
            raise InputError(f"ONS needs beta > 0 and delta > 0, got {beta}, {delta}")
        self.eta, self.beta, self.delta = float(eta), float(beta), float(delta)
        self.name = f"ONS(eta={self.eta:g}, beta={self.beta:g}, delta={self.delta:g})"

    def _start(self, n: int) -> np.ndarray:
        self._A = np.eye(n)
        self._c = np.zeros(n)
        self._proj = np.full(n, 1.0 / n)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        grad = x / float(self.weights_ @ x)
        self._A += np.outer(grad, grad)
        self._c += (1.0 + 1.0 / self.beta) * grad
        self._proj = simplex_qp(self._A, -self.delta * self._c, self._proj)
        n = x.size
        return (1.0 - self.eta) * self._proj + self.eta / n
