"""Markowitz solvers: closed form, Newton's method, frontiers (pure, backend-agnostic).

Every function takes NumPy, torch or CuPy arrays (lists and pandas objects are converted
to NumPy) and returns a frozen result record whose arrays are float64 in the inputs'
namespace and on their device. With ``long_only`` or ``bounds`` the problems are handed to
:func:`critical_line` (exact corner portfolios, the default on CPU) or to the batched ADMM
path of :mod:`portfolio_lab.solvers.qp` (imported lazily; the default on GPU).
"""

from ._bounds import resolve_bounds
from .cla import CriticalLineResult, critical_line
from .closed_form import markowitz_lagrange, max_sharpe, min_variance
from .frontier import efficient_frontier
from .newton import (
    NewtonObjective,
    NewtonTrace,
    barrier_min_variance,
    barrier_objective,
    markowitz_newton,
    newton_equality,
)
from .results import (
    BarrierResult,
    FrontierResult,
    LagrangeResult,
    NewtonResult,
    PortfolioResult,
)

__all__ = [
    "markowitz_lagrange",
    "markowitz_newton",
    "min_variance",
    "max_sharpe",
    "efficient_frontier",
    "critical_line",
    "CriticalLineResult",
    "barrier_min_variance",
    "barrier_objective",
    "newton_equality",
    "NewtonObjective",
    "NewtonTrace",
    "resolve_bounds",
    "PortfolioResult",
    "LagrangeResult",
    "NewtonResult",
    "BarrierResult",
    "FrontierResult",
]
