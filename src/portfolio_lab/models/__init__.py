"""Learned allocators: causal features, denoisers, losses, the LSTM Sharpe model, policies.

Every model is an sklearn-style estimator (``fit(prices) -> self``, ``predict(prices)``,
``save(path)`` / ``load(path)`` without pickle) and acts in the backtester through
:class:`WalkForwardPolicy`, so costs and look-ahead stay in one place. torch is imported
only when a model is fitted or loaded; gymnasium and Stable-Baselines3 (the ``rl`` extra)
only when :mod:`portfolio_lab.models.env` is imported or an :class:`SB3Allocator` fitted.
"""

from __future__ import annotations

from ._base import BaseAllocator
from ._training import derive_seed, resolve_device
from .denoise import DENOISERS, Denoiser, wavelet_denoise_windows
from .eiie import EIIE, batch_previous, eiie_reward, geometric_starts, price_tensor
from .end_to_end import MarkowitzForecaster
from .features import ewma_volatility, features_of_windows, return_windows, window_features
from .losses import (
    log_return_loss,
    portfolio_returns,
    sharpe_loss,
    turnover,
    turnover_penalty,
)
from .lstm_sharpe import LSTMSharpe
from .policy import WalkForwardPolicy
from .replay import FittedPolicy
from .sb3 import SB3Allocator

__all__ = [
    "BaseAllocator",
    "LSTMSharpe",
    "MarkowitzForecaster",
    "EIIE",
    "eiie_reward",
    "batch_previous",
    "price_tensor",
    "geometric_starts",
    "WalkForwardPolicy",
    "FittedPolicy",
    "SB3Allocator",
    "DENOISERS",
    "Denoiser",
    "wavelet_denoise_windows",
    "window_features",
    "return_windows",
    "features_of_windows",
    "ewma_volatility",
    "sharpe_loss",
    "log_return_loss",
    "turnover_penalty",
    "turnover",
    "portfolio_returns",
    "derive_seed",
    "resolve_device",
]
