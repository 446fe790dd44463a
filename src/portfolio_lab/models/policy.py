"""Turn any allocator of the package into a backtest policy: fit, predict, walk forward.

:class:`WalkForwardPolicy` lives inside :func:`portfolio_lab.backtest.run`, so it sees
only the price relatives the engine has already handed over. At each refit it fits a
fresh copy of its estimator on that history (expanding, or the trailing
``train_window``); between refits it predicts from the latest window every
``rebalance_every`` periods and holds the drifted weights in between; before the first
fit it buys 1/N and holds it. An estimator with ``online_steps > 0`` (EIIE) is also handed,
every period, the relatives seen since it last learned (``update_relatives``), as in Jiang
et al.'s online learning during the test. Costs, drift and look-ahead stay the engine's job.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..backtest.policy import Policy
from ..exceptions import InputError, ShapeError
from ._base import BaseAllocator
from ._training import derive_seed

__all__ = ["WalkForwardPolicy"]


class WalkForwardPolicy(Policy):
    """Walk-forward strategy of a learned allocator.

    Parameters
    ----------
    estimator : BaseAllocator
        Template model (e.g. :class:`~portfolio_lab.models.LSTMSharpe`); never fitted
        itself. Refit ``k`` fits ``estimator.clone(random_state=seed_k)`` with ``seed_k``
        derived from ``estimator.random_state`` and ``k``.
    refit_every : int
        Periods between refits.
    train_window : int, optional
        Train on the last this many relatives (None: expanding, all of them).
    rebalance_every : int
        Predict and trade every this many periods (between, the weights drift).
    first_fit : int, optional
        Period of the first fit (the history then holds ``first_fit`` relatives); default
        the first period with enough history for the estimator.
    columns : sequence of str, optional
        Asset names given to the estimator (default ``asset_0 ..``); with a cash run the
        engine's ``"cash"`` column is not among them.
    name : str, optional
        Label of the strategy (default: the estimator's class name).
    features : mapping of str to DataFrame, optional
        Extra price features (e.g. open, high, low and close frames of the risky assets)
        on the *same rows as the simulated prices*. The engine hands over closes only, so
        an estimator that reads more features gets, at period ``t``, these frames cut at
        price row ``t`` (the last price it has seen): fit and predict see only the past.
        Not combinable with online learning.

    Attributes
    ----------
    estimator_ : BaseAllocator or None
        Model of the current block.
    fit_log_ : list of dict
        One record per refit: ``refit`` (k), ``t`` (first period it trades),
        ``train_start`` / ``train_stop`` (relative rows ``[start, stop)`` it learned
        from, ``stop <= t``), ``seed``, ``best_epoch``, ``epochs_run``, ``history`` and
        ``seen`` (the model's own record of the targets its loss consumed, by value: see
        ``LSTMSharpe.seen_``; None for models that keep none).
    """

    def __init__(
        self,
        estimator: BaseAllocator,
        *,
        refit_every: int,
        train_window: int | None = None,
        rebalance_every: int = 1,
        first_fit: int | None = None,
        columns: Any = None,
        name: str | None = None,
        features: Any = None,
    ) -> None:
        if not isinstance(estimator, BaseAllocator):
            raise InputError(
                f"estimator must be a portfolio_lab.models allocator, got {type(estimator)!r}"
            )
        if int(refit_every) < 1 or int(rebalance_every) < 1:
            raise InputError("refit_every and rebalance_every must be at least 1")
        if train_window is not None and int(train_window) < estimator.min_fit_rows - 1:
            raise InputError(
                f"train_window={train_window} is shorter than the {estimator.min_fit_rows - 1} "
                "relatives the estimator needs"
            )
        self.estimator = estimator
        self.refit_every = int(refit_every)
        self.train_window = None if train_window is None else int(train_window)
        self.rebalance_every = int(rebalance_every)
        self.first_fit = None if first_fit is None else int(first_fit)
        self.columns = None if columns is None else [str(c) for c in columns]
        self.name = name or type(estimator).__name__
        self.allow_short = False
        self.features = None if features is None else dict(features)
        if self.features is not None and int(getattr(estimator, "online_steps", 0) or 0):
            raise InputError("features= and online learning cannot be combined (closes only)")

    @property
    def start(self) -> int:
        """Period of the first fit."""
        need = self.estimator.min_fit_rows - 1
        if self.first_fit is None:
            return need
        if self.first_fit < need:
            raise InputError(
                f"first_fit={self.first_fit} leaves fewer than the {need} relatives the "
                "estimator needs"
            )
        return self.first_fit

    def reset(self, n_assets: int) -> None:
        """Forget every fit; draw the base seed when the estimator has none."""
        super().reset(n_assets)
        self.estimator_: BaseAllocator | None = None
        self.fit_log_: list[dict[str, Any]] = []
        rs = getattr(self.estimator, "random_state", None)
        self.base_seed_ = derive_seed(None) if rs is None else int(rs)
        self._cash = bool(self.estimator.outputs_cash)
        n_risky = n_assets - int(self._cash)
        if self.columns is not None and len(self.columns) != n_risky:
            raise ShapeError(
                f"columns names {len(self.columns)} assets but the run has {n_risky} "
                f"risky assets{' (after the cash column)' if self._cash else ''}"
            )
        self._names = self.columns or [f"asset_{i}" for i in range(n_risky)]

    def _risky(self, history: np.ndarray) -> np.ndarray:
        return history[:, 1:] if self._cash else history

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Hold, predict, or refit then predict (see the class docstring)."""
        t, n = history.shape
        if t == 0:
            if self._cash:
                w = np.zeros(n)
                w[1:] = 1.0 / (n - 1)
                return w
            return np.full(n, 1.0 / n)
        start = self.start
        if t < start:
            return np.asarray(held, dtype=float).copy()
        k, phase = divmod(t - start, self.refit_every)
        if phase == 0:
            self._refit(k, t, history)
        assert self.estimator_ is not None
        if int(getattr(self.estimator_, "online_steps", 0) or 0) > 0 and t > self._seen:
            # online learning: the model learns from the relatives handed over since
            self.estimator_.update_relatives(self._risky(history[self._seen : t]))
            self._seen = t
        if (t - start) % self.rebalance_every:
            return np.asarray(held, dtype=float).copy()
        need = self.estimator_.predict_rows - 1
        if self.features is not None:
            cut = {f: frame.iloc[max(0, t - need) : t + 1] for f, frame in self.features.items()}
            prev = np.asarray(held, dtype=float) if self.estimator_.uses_previous_weights else None
            kwargs = {} if prev is None else {"previous": prev}
            return np.asarray(self.estimator_.predict(cut, **kwargs).to_numpy(), dtype=float)
        recent = self._risky(history[-need:])
        if self.estimator_.uses_previous_weights:
            w = self.estimator_.predict_relatives(recent, previous=np.asarray(held, dtype=float))
        else:
            w = self.estimator_.predict_relatives(recent)
        return np.asarray(w, dtype=float)

    def _refit(self, k: int, t: int, history: np.ndarray) -> None:
        lo = 0 if self.train_window is None else max(0, t - self.train_window)
        rel = self._risky(history[lo:t])
        prices = np.vstack([np.ones((1, rel.shape[1])), np.cumprod(rel, axis=0)])
        frame = pd.DataFrame(prices, index=pd.RangeIndex(lo, t + 1), columns=self._names)
        seed = derive_seed(self.base_seed_, k)
        model = self.estimator.clone(random_state=seed, progress=False)
        if self.features is not None:
            if any(len(f) < t + 1 for f in self.features.values()):
                raise ShapeError("features= frames are shorter than the simulated prices")
            model.fit({f: fr.iloc[lo : t + 1] for f, fr in self.features.items()})
        else:
            model.fit(frame)
        self.estimator_ = model
        self._seen = t
        hist = list(getattr(model, "history_", []))
        self.fit_log_.append(
            {
                "refit": k,
                "t": t,
                "train_start": lo,
                "train_stop": t,
                "seed": seed,
                "best_epoch": getattr(model, "best_epoch_", None),
                "epochs_run": len(hist),
                "history": hist,
                "seen": getattr(model, "seen_", None),
            }
        )
