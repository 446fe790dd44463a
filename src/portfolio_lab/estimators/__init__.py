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
from .covariance import (  # noqa: E402
    COVARIANCE_ESTIMATORS,
    DenoiseResult,
    ShrinkageResult,
    estimate_covariance,
    ewma_covariance,
    ewma_weights,
    ledoit_wolf,
    marchenko_pastur_clip,
    marchenko_pastur_edges,
    marchenko_pastur_pdf,
)
from .evaluation import (  # noqa: E402
    OOSEvaluation,
    rebalance_schedule,
    rolling_min_variance_oos,
    variance_ratio_bootstrap,
)

__all__ += [
    "COVARIANCE_ESTIMATORS",
    "estimate_covariance",
    "ShrinkageResult",
    "DenoiseResult",
    "ledoit_wolf",
    "marchenko_pastur_clip",
    "marchenko_pastur_edges",
    "marchenko_pastur_pdf",
    "ewma_covariance",
    "ewma_weights",
    "OOSEvaluation",
    "rolling_min_variance_oos",
    "rebalance_schedule",
    "variance_ratio_bootstrap",
]
