"""Trade a model that is already fitted (or loaded) in the backtester, without refitting.

:class:`FittedPolicy` replays a saved agent on :func:`portfolio_lab.backtest.run`: before
period ``start`` it does what :class:`~portfolio_lab.models.WalkForwardPolicy` does before
its first fit (buy 1/N of the risky assets at period 0 and hold it, or stay in cash), then
it asks the model for the weights of every period from the relatives the engine has
handed over, so a replay of the model that a walk-forward run fitted reproduces that run.
"""

from __future__ import annotations

import numpy as np

from ..backtest.policy import Policy
from ..exceptions import InputError
from ._base import BaseAllocator

__all__ = ["FittedPolicy"]


class FittedPolicy(Policy):
    """Backtest policy of a fitted allocator (no refit).

    Parameters
    ----------
    model : BaseAllocator
        Fitted or loaded; recurrent models are reset at the start of each run.
    start : int
        First period the model trades (``>= model.predict_rows - 1``).
    before : {"uniform", "cash"}
        Position before ``start``: 1/N of the risky assets bought at period 0 and held
        (as a walk-forward run), or all cash.
    name : str, optional
    """

    def __init__(
        self,
        model: BaseAllocator,
        *,
        start: int,
        before: str = "uniform",
        name: str | None = None,
    ) -> None:
        if not isinstance(model, BaseAllocator):
            raise InputError(f"model must be a portfolio_lab.models allocator, got {type(model)!r}")
        if before not in ("uniform", "cash"):
            raise InputError(f"before must be 'uniform' or 'cash', got {before!r}")
        if int(start) < model.predict_rows - 1:
            raise InputError(
                f"start={start} leaves fewer than the {model.predict_rows - 1} relatives the "
                "model reads"
            )
        self.model = model
        self.start = int(start)
        self.before = before
        self.name = name or type(model).__name__
        self.allow_short = False

    def reset(self, n_assets: int) -> None:
        """Start a run: reset the model's recurrent state when it has one."""
        super().reset(n_assets)
        self._cash = bool(self.model.outputs_cash)
        if self.before == "cash" and not self._cash:
            raise InputError("before='cash' needs a model that holds cash (a cash=True run)")
        if hasattr(self.model, "reset_state"):
            self.model.reset_state()

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Hold the pre-start position, then the model's weights every period."""
        t, n = history.shape
        if t < self.start:
            if t == 0:
                w = np.zeros(n)
                if self.before == "cash":
                    w[0] = 1.0  # the cash column of a cash run
                else:
                    w[int(self._cash) :] = 1.0 / (n - int(self._cash))
                return w
            return np.asarray(held, dtype=float).copy()
        recent = history[t - (self.model.predict_rows - 1) : t]
        if self._cash:
            recent = recent[:, 1:]
        if self.model.uses_previous_weights:
            w = self.model.predict_relatives(recent, previous=np.asarray(held, dtype=float))
        else:
            w = self.model.predict_relatives(recent)
        return np.asarray(w, dtype=float)
