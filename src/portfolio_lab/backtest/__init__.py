"""Backtesting: the policy interface, the simulator, transaction costs and metrics."""

from __future__ import annotations

from . import inference
from .baselines import BASELINES, baseline
from .costs import remainder_factor, remainder_factor_linear
from .engine import drift, prepare_relatives, run
from .policy import Policy
from .result import BacktestResult
from .strategies import BuyAndHold, ConstantRebalanced, ScheduledWeights
from .walk_forward import MarkowitzPolicy, WalkForwardSchedule

__all__ = [
    "BASELINES",
    "baseline",
    "Policy",
    "run",
    "prepare_relatives",
    "drift",
    "BacktestResult",
    "remainder_factor",
    "remainder_factor_linear",
    "ConstantRebalanced",
    "BuyAndHold",
    "ScheduledWeights",
    "MarkowitzPolicy",
    "WalkForwardSchedule",
    "inference",
]
