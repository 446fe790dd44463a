"""portfolio-lab: portfolio optimization research, from bundled data to a built book.

Subpackages: :mod:`portfolio_lab.data` (prices), :mod:`portfolio_lab.estimators`
(returns, moments, covariance estimators), :mod:`portfolio_lab.solvers` (Markowitz
solvers on NumPy, torch and CuPy), :mod:`portfolio_lab.backtest` (simulator, costs,
metrics, baselines). Import them explicitly; this top-level module stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
