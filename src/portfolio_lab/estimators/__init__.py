"""Estimators of return moments: returns from prices, means, covariances.

Pure functions over pandas objects or arrays of any namespace (NumPy, torch, CuPy).
"""

from .moments import annualize_covariance, annualize_mean, mean_returns, sample_covariance
from .returns import log_returns, price_relatives, simple_returns

__all__ = [
    "simple_returns",
    "log_returns",
    "price_relatives",
    "mean_returns",
    "sample_covariance",
    "annualize_mean",
    "annualize_covariance",
]

# --- covariance estimators (estimators/covariance.py, maintained by its owner) ---
