"""Markowitz solvers: closed form, Newton's method, frontiers (pure, backend-agnostic)."""

from .results import FrontierResult, LagrangeResult, NewtonResult, PortfolioResult

__all__ = ["FrontierResult", "LagrangeResult", "NewtonResult", "PortfolioResult"]
