"""Typed errors raised by portfolio-lab.

Every error a user can trigger with bad input is a subclass of :class:`ValueError`
(through :class:`InputError`) so that ``except ValueError`` keeps working, and each
message names the problem and says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "PortfolioLabError",
    "InputError",
    "NonFiniteError",
    "ShapeError",
    "NotSymmetricError",
    "NotPositiveDefiniteError",
    "DegenerateReturnsError",
    "InfeasibleStartError",
    "InfeasibleTargetError",
    "ConvergenceError",
    "DataError",
    "InvalidPricesError",
    "UnknownSourceError",
    "UnknownTickerError",
    "OfflineError",
    "CacheCorruptError",
    "BackendError",
    "InsufficientHistoryError",
    "ColumnMismatchError",
    "NotFittedError",
    "ModelFileError",
    "ModelStateError",
]


class PortfolioLabError(Exception):
    """Base class of every error raised on purpose by portfolio-lab."""


class InputError(PortfolioLabError, ValueError):
    """An argument is invalid (base of all input-validation errors)."""


class NonFiniteError(InputError):
    """An input array holds NaN or infinite values."""


class ShapeError(InputError):
    """Input arrays have inconsistent or unsupported shapes."""


class NotSymmetricError(InputError):
    """A covariance matrix is not symmetric within tolerance."""


class NotPositiveDefiniteError(InputError):
    """A covariance matrix is not (numerically) positive definite."""


class DegenerateReturnsError(InputError):
    """Expected returns are (nearly) proportional to the ones vector, so Δ = AC - B² ≤ 0."""


class InfeasibleStartError(InputError):
    """A starting point given to an equality-constrained solver violates the constraints."""


class InfeasibleTargetError(InputError):
    """A target return cannot be reached under the constraints."""


class ConvergenceError(PortfolioLabError, RuntimeError):
    """An iterative solver stopped before meeting its tolerance."""


class DataError(PortfolioLabError, ValueError):
    """Base class of data-loading and data-validation errors."""


class InvalidPricesError(DataError):
    """A price frame breaks a validation rule (non-positive, non-finite, dates...)."""


class UnknownSourceError(DataError):
    """``load_prices`` was given a source name it does not know."""


class UnknownTickerError(DataError):
    """A ticker is unknown to the data provider (no rows came back for it)."""


class OfflineError(DataError, ConnectionError):
    """The network is needed (cache miss) but cannot be reached."""


class CacheCorruptError(DataError):
    """A cache file exists but cannot be read; it is moved aside, never silently reused."""


class BackendError(PortfolioLabError, ValueError):
    """An array backend is unknown, not installed, or has no usable device."""


class InsufficientHistoryError(InputError):
    """Fewer price rows than a model's window (or its training) needs."""


class ColumnMismatchError(InputError):
    """The assets given to a fitted model differ from those it was fitted on."""


class NotFittedError(InputError):
    """A model was asked to predict or save before ``fit``."""


class ModelFileError(InputError):
    """A saved model folder is missing, incomplete, or does not match the loading class."""


class ModelStateError(InputError):
    """A loaded model lacks the state an operation needs (e.g. online learning)."""
