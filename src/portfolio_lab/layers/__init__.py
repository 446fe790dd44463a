"""Differentiable optimization layers on the package's own solvers (torch, imported lazily).

:func:`markowitz` maps expected returns and covariances (batched, any device) to the
weights of a long-only, box-bounded or unbounded Markowitz problem and differentiates
through the solution: the forward pass is the exact batched active-set solver, the
backward pass one linear solve on the KKT system restricted to the free set.
"""

from __future__ import annotations

from .markowitz import TIE_RULE, LayerSolution, markowitz, solve

__all__ = ["markowitz", "solve", "LayerSolution", "TIE_RULE"]
