"""Backtesting: the policy interface, the simulator, transaction costs and metrics."""

from __future__ import annotations

from .policy import Policy

__all__ = ["Policy"]
