"""What every allocation model of the package shares: parameters, cloning, predict paths.

A model is an sklearn-style estimator: ``__init__`` stores its arguments unchanged,
``fit(prices) -> self`` validates and learns (fitted attributes end in ``_``), ``predict``
returns the next period's weights. :class:`~portfolio_lab.models.WalkForwardPolicy` drives
any subclass in the backtester through :meth:`BaseAllocator.clone`,
:meth:`BaseAllocator.fit` and :meth:`BaseAllocator.predict_relatives`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import NotFittedError

__all__ = ["BaseAllocator", "date_label"]


class BaseAllocator:
    """Base class of the learned allocators.

    Subclasses implement ``fit``, :meth:`predict_relatives`, ``save`` / ``load`` and the
    properties :attr:`min_fit_rows` and :attr:`predict_rows`.

    Attributes
    ----------
    outputs_cash : bool
        Whether predictions carry a leading ``"cash"`` weight (the backtest then needs
        ``cash=True`` and the policy hands the model the risky assets only).
    uses_previous_weights : bool
        Whether ``predict`` takes the weights held now (``previous=``).
    """

    uses_previous_weights: bool = False

    @property
    def outputs_cash(self) -> bool:
        """Whether the weights include a leading cash entry."""
        return bool(getattr(self, "cash", False))

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments as a dict (sklearn convention)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseAllocator:
        """Set constructor arguments; unknown names raise ``TypeError``."""
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise TypeError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    def clone(self, **overrides: Any) -> BaseAllocator:
        """Return an unfitted copy with the same parameters (``overrides`` replace some)."""
        return type(self)(**{**self.get_params(), **overrides})

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit first")

    @property
    def min_fit_rows(self) -> int:
        """Fewest price rows ``fit`` accepts."""
        raise NotImplementedError

    @property
    def predict_rows(self) -> int:
        """Price rows ``predict`` reads at most (it accepts more and uses the latest)."""
        raise NotImplementedError

    @property
    def min_predict_rows(self) -> int:
        """Fewest price rows ``predict`` accepts."""
        raise NotImplementedError

    def predict_relatives(
        self, relatives: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Weights for the period after a (k, n) block of price relatives (array fast path).

        Parameters
        ----------
        relatives : numpy.ndarray, shape (k, n)
            Price relatives of the fitted assets, oldest first,
            ``k >= min_predict_rows - 1`` (only the latest ``predict_rows - 1`` are read).
        previous : numpy.ndarray, optional
            Weights held now (models with :attr:`uses_previous_weights`).

        Returns
        -------
        numpy.ndarray
            Non-negative weights summing to one (cash first when :attr:`outputs_cash`).
        """
        raise NotImplementedError

    def _output_index(self) -> pd.Index:
        names = list(self.assets_)
        return pd.Index(["cash", *names] if self.outputs_cash else names)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def date_label(stamp: Any) -> str:
    """ISO date of a midnight timestamp, else its string (the name of a prediction)."""
    if isinstance(stamp, pd.Timestamp) and stamp == stamp.normalize():
        return stamp.date().isoformat()
    return str(stamp)
