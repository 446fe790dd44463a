"""Result records returned by the Markowitz solvers.

Every solver returns a small frozen dataclass. Arrays stay in the namespace and on the
device of the solver's inputs (NumPy, torch or CuPy, float64); scalars are Python
floats so that records print, compare and serialize without touching the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "PortfolioResult",
    "LagrangeResult",
    "NewtonResult",
    "BarrierResult",
    "FrontierResult",
]


@dataclass(frozen=True)
class PortfolioResult:
    """One optimal (or attempted) portfolio.

    Attributes
    ----------
    weights : array, shape (n,)
        Portfolio weights, in the namespace and on the device of the inputs.
    expected_return : float
        ``weightsᵀ μ``; ``nan`` when the problem had no expected returns.
    variance : float
        ``weightsᵀ Σ weights``.
    risk : float
        Standard deviation, ``sqrt(variance)``.
    method : str
        Which algorithm produced the record (e.g. ``"lagrange"``, ``"newton"``).
    status : str
        ``"optimal"``, ``"infeasible"``, ``"max_iter"``, ...
    multipliers : array, shape (m,), or None
        Lagrange multipliers of the equality constraints, in the order the solver
        documents (for the Markowitz problem: return constraint, then budget).
    kkt_residual : float
        Infinity norm of the KKT residual at the returned point (stationarity and
        primal feasibility stacked); ``nan`` when not computed.
    """

    weights: Any
    expected_return: float
    variance: float
    risk: float
    method: str
    status: str
    multipliers: Any | None
    kkt_residual: float


@dataclass(frozen=True)
class LagrangeResult(PortfolioResult):
    """Closed-form Markowitz solution with the classical frontier constants.

    Attributes
    ----------
    A : float
        ``1ᵀ Σ⁻¹ 1``.
    B : float
        ``1ᵀ Σ⁻¹ μ``.
    C : float
        ``μᵀ Σ⁻¹ μ``.
    delta : float
        ``Δ = A C − B²`` (positive unless ``μ`` is proportional to ``1``).

    Notes
    -----
    The other attributes are those of :class:`PortfolioResult`; ``multipliers`` holds
    ``(λ, γ)``, the multipliers of the return and budget constraints, so that the
    optimal weights are ``w = Σ⁻¹(λ μ + γ 1)``.
    """

    A: float
    B: float
    C: float
    delta: float


@dataclass(frozen=True)
class NewtonResult(PortfolioResult):
    """Result of Newton's method for equality-constrained minimization.

    Attributes
    ----------
    n_iter : int
        Number of Newton steps taken.
    converged : bool
        Whether the Newton-decrement stopping rule ``λ²/2 ≤ tol`` was met.
    decrements : tuple of float
        ``λ(x)²/2`` at every iterate, the first entry at the starting point.
    step_sizes : tuple of float
        Step size chosen by the backtracking line search at every step.
    """

    n_iter: int
    converged: bool
    decrements: tuple[float, ...]
    step_sizes: tuple[float, ...]


@dataclass(frozen=True)
class FrontierResult:
    """A sampled efficient frontier: one optimal portfolio per target return.

    Attributes
    ----------
    targets : array, shape (k,)
        Target returns, in the namespace of the inputs.
    weights : array, shape (k, n)
        Optimal weights, one row per target (NaN rows for infeasible targets).
    returns : array, shape (k,)
        Achieved expected returns ``weights @ μ`` (NaN when infeasible).
    risks : array, shape (k,)
        Standard deviations ``sqrt(wᵀ Σ w)`` (NaN when infeasible).
    status : tuple of str, length k
        ``"optimal"``, ``"infeasible"`` or ``"max_iter"`` per target.
    n_iter : numpy.ndarray of int, shape (k,)
        Iterations used per target (0 for the closed form).
    primal_residual : numpy.ndarray of float, shape (k,)
        Infinity norm of the equality-constraint violation per target.
    dual_residual : numpy.ndarray of float, shape (k,)
        Infinity norm of the stationarity residual per target.
    method : str
        Which algorithm produced the frontier.
    """

    targets: Any
    weights: Any
    returns: Any
    risks: Any
    status: tuple[str, ...]
    n_iter: Any
    primal_residual: Any
    dual_residual: Any
    method: str

    def __len__(self) -> int:
        """Return the number of frontier points."""
        return len(self.status)


@dataclass(frozen=True)
class BarrierResult(NewtonResult):
    """Result of one centering step of the barrier method for long-only minimum variance.

    The centering problem is ``min t·½wᵀΣw − Σᵢ log wᵢ  s.t.  1ᵀw = 1``; its solution
    ``w*(t)`` is feasible for ``min ½wᵀΣw s.t. 1ᵀw = 1, w ≥ 0`` and at most ``n/t``
    above its optimal value.

    Attributes
    ----------
    t : float
        Barrier parameter (weight of the variance term).
    gap_bound : float
        ``n / t``, the duality-gap bound of the central point.
    objective_values : tuple of float
        Centering objective at every iterate, the first at the starting point.

    Notes
    -----
    ``multipliers`` holds ``(ν,)`` in the convention ``∇f(w) + ν 1 = 0`` of Boyd &
    Vandenberghe, with ``f`` the centering objective; ``expected_return`` is NaN.
    """

    t: float
    gap_bound: float
    objective_values: tuple[float, ...]
