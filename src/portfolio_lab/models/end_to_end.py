"""A return forecaster whose forecasts become weights through the Markowitz layer.

One small network maps each asset's causal features (:mod:`portfolio_lab.models.features`:
price over the window's last price, and daily return, over ``window`` days) to a forecast
``μ̂_i`` of its return over the next ``horizon`` days (the holding period: the policy
trades every ``horizon`` days); the weights are ``markowitz(μ̂, Σ, risk_aversion=γ)``
(:mod:`portfolio_lab.layers`, long-only, budget one) with ``Σ`` ``horizon`` times the
Ledoit-Wolf covariance of the trailing ``cov_window`` daily returns
(:func:`portfolio_lab.estimators.ledoit_wolf`). The
network is shared by the assets (it reads one asset's window at a time), so its size does
not grow with the universe. Three ways to train it (``objective``):

- ``"mse"``: predict-then-optimize. The forecasts are fitted to next-day returns by mean
  squared error; the layer is only applied afterwards.
- ``"sharpe"``: end to end. After the same MSE fit (a warm start), training goes on through
  the layer on minus the Sharpe ratio of the portfolio's net returns over blocks of
  ``batch_size`` consecutive days; the cost of each day's rebalancing from the drifted
  weights is the backtester's first-order remainder factor
  (:func:`portfolio_lab.backtest.costs.remainder_factor_linear`).
- ``"sharpe"`` with ``learn_shrinkage`` / ``learn_risk_aversion``: the same, with the
  shrinkage intensity ``δ`` of ``Σ = (1 − δ) S + δ F`` (``S`` the sample covariance, ``F``
  Ledoit-Wolf's scaled identity; initialized at the mean Ledoit-Wolf intensity of the
  training windows) and the risk aversion ``γ = γ₀ e^θ`` learned too.

Training samples are the dates ``horizon`` days apart ending at the last date whose
holding period the history covers; consecutive samples are consecutive holding periods,
so the drift of the weights between two rebalancings and its cost are exact.

Early stopping uses the latest ``validation_fraction`` of the samples (strictly after every
training target) on the objective being trained. Everything a prediction needs (network,
feature scales, δ, γ) is saved with safetensors and JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ._base import BaseAllocator, date_label
from ._persistence import load_device, load_folder, module_state, save_folder
from ._training import derive_seed, resolve_device, seeded, train
from ._validation import check_columns, check_prices
from .features import features_of_windows, return_windows

__all__ = ["MarkowitzForecaster", "covariance_parts"]

_OBJECTIVES = ("mse", "sharpe")


def covariance_parts(returns: np.ndarray, ends: np.ndarray, cov_window: int) -> dict[str, Any]:
    """Ledoit-Wolf pieces of the windows of ``cov_window`` returns ending at rows ``ends``.

    Parameters
    ----------
    returns : numpy.ndarray, shape (T, n)
    ends : numpy.ndarray of int, shape (k,)
        Last row of each window (each at least ``cov_window - 1``).
    cov_window : int

    Returns
    -------
    dict
        ``sample`` (k, n, n) maximum-likelihood sample covariances, ``prior_scale`` (k,)
        the mean variance (``F = prior_scale · I``), ``shrinkage`` (k,) Ledoit-Wolf's
        intensity and ``covariance`` (k, n, n) the Ledoit-Wolf estimate.
    """
    from ..estimators import ledoit_wolf

    k, n = len(ends), returns.shape[1]
    sample = np.empty((k, n, n))
    cov = np.empty((k, n, n))
    prior = np.empty(k)
    delta = np.empty(k)
    for i, t in enumerate(ends):
        win = returns[t - cov_window + 1 : t + 1]
        res = ledoit_wolf(win)
        centred = win - win.mean(axis=0)
        sample[i] = centred.T @ centred / len(win)  # the ML estimate S that Ledoit-Wolf shrinks
        cov[i] = np.asarray(res.covariance)
        prior[i], delta[i] = float(np.asarray(res.prior)[0, 0]), float(res.shrinkage)
    return {"sample": sample, "prior_scale": prior, "shrinkage": delta, "covariance": cov}


def _net_class() -> type:
    import torch
    from torch import nn

    class _ForecastNet(nn.Module):
        """Per-asset MLP: ``(B, L, n, F)`` features -> ``(B, n)`` forecasts.

        Also holds the covariance parameters: the logit of the shrinkage intensity and
        the log of the risk-aversion multiplier (trained only when asked).
        """

        def __init__(self, window: int, n_features: int, hidden: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(window * n_features, hidden), nn.Tanh(), nn.Linear(hidden, 1)
            )
            self.register_buffer("feature_scale", torch.ones(n_features))
            self.register_buffer("target_scale", torch.ones(()))
            self.register_buffer("target_mean", torch.zeros(()))
            self.shrink_logit = nn.Parameter(torch.zeros(()))
            self.log_gamma = nn.Parameter(torch.zeros(()))

        def forward(self, x: Any) -> Any:
            b, length, n, f = x.shape
            z = (x / self.feature_scale).permute(0, 2, 1, 3).reshape(b, n, length * f)
            return self.target_mean + self.target_scale * self.body(z)[..., 0]

    return _ForecastNet


class MarkowitzForecaster(BaseAllocator):
    """Forecast next-day returns, allocate through the differentiable Markowitz layer.

    Parameters
    ----------
    objective : {"mse", "sharpe"}
        Predict-then-optimize (``"mse"``) or end to end through the layer (``"sharpe"``).
    window : int
        Days of features per forecast.
    horizon : int
        Holding period in days: the forecast target, the spacing of the training samples
        and the ``rebalance_every`` the policy should use.
    hidden_size : int
        Width of the per-asset MLP.
    cov_window : int
        Trailing returns of each Ledoit-Wolf covariance.
    risk_aversion : float
        γ (or γ₀ when learned) of ``max μ̂ᵀw − (γ/2) wᵀΣw`` on daily returns.
    learn_shrinkage, learn_risk_aversion : bool
        Train δ and γ with the network (``objective="sharpe"`` only).
    lr : float
        Adam learning rate (both phases).
    mse_epochs, epochs : int
        Maximum epochs of the MSE fit and of the end-to-end phase.
    batch_size : int
        Consecutive samples per step (the Sharpe ratio of a step is taken over them).
    steps_per_epoch : int, optional
        Blocks drawn per epoch (None: all).
    cost : float
        Proportional rate per side inside the end-to-end loss.
    validation_fraction : float
        Latest share of the samples used for early stopping.
    patience : int
    device : {"cpu", "cuda", "auto"}
    random_state : int, optional
    progress : bool
    periods_per_year : int
        Trading days per year: the Sharpe loss is annualized with ``periods_per_year /
        horizon`` (reporting only; it does not change the optimum).

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : list of dict
        Epochs of both phases (``phase`` = "mse" or "sharpe").
    best_epoch_ : int
    shrinkage_ : float
        δ used by ``predict`` (the learned one, or None when Ledoit-Wolf's own is used).
    risk_aversion_ : float
        γ used by ``predict``.
    lw_shrinkage_mean_ : float
        Mean Ledoit-Wolf intensity of the training windows.
    assets_, train_dates_, n_samples_
    """

    def __init__(
        self,
        objective: str = "mse",
        window: int = 20,
        horizon: int = 5,
        hidden_size: int = 16,
        cov_window: int = 126,
        risk_aversion: float = 5.0,
        learn_shrinkage: bool = False,
        learn_risk_aversion: bool = False,
        lr: float = 1e-3,
        mse_epochs: int = 30,
        epochs: int = 20,
        batch_size: int = 64,
        steps_per_epoch: int | None = 16,
        cost: float = 0.001,
        validation_fraction: float = 0.1,
        patience: int = 5,
        device: str = "cpu",
        random_state: int | None = None,
        progress: bool = False,
        periods_per_year: int = 252,
    ) -> None:
        self.objective = objective
        self.window = window
        self.horizon = horizon
        self.hidden_size = hidden_size
        self.cov_window = cov_window
        self.risk_aversion = risk_aversion
        self.learn_shrinkage = learn_shrinkage
        self.learn_risk_aversion = learn_risk_aversion
        self.lr = lr
        self.mse_epochs = mse_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.cost = cost
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.periods_per_year = periods_per_year

    # ----------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if self.objective not in _OBJECTIVES:
            raise InputError(f"objective must be one of {_OBJECTIVES}, got {self.objective!r}")
        if (self.learn_shrinkage or self.learn_risk_aversion) and self.objective != "sharpe":
            raise InputError("learn_shrinkage / learn_risk_aversion need objective='sharpe'")
        if int(self.window) < 2 or int(self.cov_window) < 2:
            raise InputError("window and cov_window must be at least 2")
        if int(self.horizon) < 1:
            raise InputError(f"horizon must be at least 1 day, got {self.horizon}")
        if int(self.batch_size) < 2:
            raise InputError(f"batch_size must be at least 2, got {self.batch_size}")
        if not float(self.risk_aversion) > 0:
            raise InputError(f"risk_aversion must be positive, got {self.risk_aversion}")
        if not 0.0 <= float(self.validation_fraction) < 0.9:
            raise InputError("validation_fraction must lie in [0, 0.9)")
        if float(self.cost) < 0:
            raise InputError("cost must be non-negative")

    @property
    def _lookback(self) -> int:
        return max(int(self.window), int(self.cov_window))

    @property
    def min_fit_rows(self) -> int:
        """Price rows ``fit`` needs: the longer window, one target and a few samples."""
        return self._lookback + 1 + 2 * int(self.batch_size) * int(self.horizon)

    @property
    def predict_rows(self) -> int:
        """Price rows ``predict`` reads: the longer of the two windows, plus one."""
        return self._lookback + 1

    @property
    def min_predict_rows(self) -> int:
        """Fewest price rows ``predict`` accepts."""
        return self.predict_rows

    # -------------------------------------------------------------- internals
    def _covariances(self, parts: dict[str, Any], net: Any, torch: Any, dev: str) -> Any:
        """Σ of each sample (torch, float64): Ledoit-Wolf's or with the learned δ."""
        h = float(self.horizon)
        if not self.learn_shrinkage:
            return h * torch.as_tensor(parts["covariance"], device=dev)
        d = torch.sigmoid(net.shrink_logit).double()
        S = torch.as_tensor(parts["sample"], device=dev)
        n = S.shape[-1]
        F = torch.as_tensor(parts["prior_scale"], device=dev)[:, None, None] * torch.eye(
            n, dtype=torch.float64, device=dev
        )
        return h * ((1.0 - d) * S + d * F)

    def _gamma(self, net: Any) -> Any:
        g = float(self.risk_aversion)
        return g * net.log_gamma.double().exp() if self.learn_risk_aversion else g

    # -------------------------------------------------------------------- fit
    def fit(self, prices: pd.DataFrame) -> MarkowitzForecaster:
        """Fit on a (T, n) frame of prices (dates x assets).

        Parameters
        ----------
        prices : pandas.DataFrame, shape (T, n)

        Returns
        -------
        MarkowitzForecaster
            ``self``, fitted.
        """
        import torch

        from ..backtest.costs import remainder_factor_linear
        from ..layers import markowitz
        from .losses import sharpe_loss

        self._check_params()
        frame = check_prices(prices, min_rows=self.min_fit_rows, need="its windows and samples")
        dev = resolve_device(self.device)
        returns = frame.to_numpy()[1:] / frame.to_numpy()[:-1] - 1.0
        L, h = int(self.window), int(self.horizon)
        # sample t forecasts the returns of t + 1 .. t + h; samples h days apart, the last
        # one the latest whose holding period the history covers
        ends = np.arange(len(returns) - 1 - h, self._lookback - 2, -h)[::-1].copy()
        n_val = int(round(float(self.validation_fraction) * len(ends)))
        if self.validation_fraction > 0:
            n_val = max(n_val, 2)
        n_train = len(ends) - n_val
        if n_train < 2:
            raise InputError(f"only {n_train} training samples; pass a longer history")
        x = features_of_windows(return_windows(returns, L, ends))
        growth = np.cumprod(1.0 + returns, axis=0)
        y = growth[ends + h] / growth[ends] - 1.0  # compounded return of the holding period
        parts = covariance_parts(returns, ends, int(self.cov_window))
        feat_scale = x[:n_train].std(axis=(0, 1, 2)).astype(np.float64)
        feat_scale = np.where(feat_scale > 1e-12, feat_scale, 1.0)
        y_tr = y[:n_train]
        seed = derive_seed(self.random_state)
        history: list[dict[str, Any]] = []
        with seeded(seed, dev) as rng:
            net = _net_class()(L, x.shape[-1], int(self.hidden_size))
            net.feature_scale.copy_(torch.as_tensor(feat_scale, dtype=torch.float32))
            net.target_scale.fill_(float(y_tr.std()))
            net.target_mean.fill_(float(y_tr.mean()))
            lw_mean = float(np.clip(parts["shrinkage"][:n_train].mean(), 1e-3, 1 - 1e-3))
            with torch.no_grad():
                net.shrink_logit.fill_(float(np.log(lw_mean / (1.0 - lw_mean))))
            net = net.to(dev)
            net.shrink_logit.requires_grad_(bool(self.learn_shrinkage))
            net.log_gamma.requires_grad_(bool(self.learn_risk_aversion))
            xt = torch.as_tensor(x, device=dev)
            yt = torch.as_tensor(y, dtype=torch.float32, device=dev)
            y64 = torch.as_tensor(y, dtype=torch.float64, device=dev)
            B = int(self.batch_size)

            def batches(gen: np.random.Generator) -> list[np.ndarray]:
                offset = int(gen.integers(0, B)) if n_train > B else 0
                cuts = sorted({0, n_train, *range(offset, n_train, B)})
                blocks = [np.arange(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
                          if b - a >= 2]  # fmt: skip
                order = gen.permutation(len(blocks))
                if self.steps_per_epoch is not None:
                    order = order[: int(self.steps_per_epoch)]
                return [blocks[i] for i in order]

            scale2 = float(y_tr.var()) or 1.0

            def mse_loss(idx: np.ndarray) -> Any:
                sel = torch.as_tensor(idx, device=dev)
                return ((net(xt[sel]) - yt[sel]) ** 2).mean() / scale2

            def sharpe_of(idx: np.ndarray) -> Any:
                sel = torch.as_tensor(idx, device=dev)
                mu_hat = net(xt[sel]).double()
                sub = {k: v[idx] for k, v in parts.items()}
                cov = self._covariances(sub, net, torch, dev)
                w = markowitz(mu_hat, cov, risk_aversion=self._gamma(net))
                r = y64[sel]
                gross = 1.0 + (w * r).sum(dim=1)
                held = torch.cat([w[:1], (w[:-1] * (1.0 + r[:-1])) / gross[:-1, None]])
                keep = remainder_factor_linear(held, w, buy_fee=float(self.cost),
                                               sell_fee=float(self.cost))  # fmt: skip
                net_r = keep * gross - 1.0
                # the Sharpe loss of chapter 10, on net returns (as weights·returns of one asset)
                return sharpe_loss(torch.ones_like(net_r)[None, :, None], net_r[None, :, None],
                                   periods_per_year=float(self.periods_per_year) / h)  # fmt: skip

            val_idx = np.arange(n_train, len(ends))
            res = train(
                net, mse_loss, batches, epochs=int(self.mse_epochs), lr=float(self.lr), rng=rng,
                val_loss=(lambda: mse_loss(val_idx)) if n_val >= 2 else None,
                patience=int(self.patience), progress=bool(self.progress), desc="MSE",
            )  # fmt: skip
            history += [{**h, "phase": "mse"} for h in res.history]
            best = res.best_epoch
            if self.objective == "sharpe":
                res2 = train(
                    net, sharpe_of, batches, epochs=int(self.epochs), lr=float(self.lr), rng=rng,
                    val_loss=(lambda: sharpe_of(val_idx)) if n_val >= 2 else None,
                    patience=int(self.patience), progress=bool(self.progress), desc="end-to-end",
                )  # fmt: skip
                history += [{**h, "phase": "sharpe"} for h in res2.history]
                best = res2.best_epoch
        self.module_ = net.eval()
        self.history_ = history
        self.best_epoch_ = int(best)
        self.lw_shrinkage_mean_ = lw_mean
        self._set_fitted_params()
        self.assets_ = [str(c) for c in frame.columns]
        dates = frame.index
        last_train_target = ends[n_train - 1] + h
        self.train_dates_ = {
            "first_price": date_label(dates[0]),
            "last_price": date_label(dates[-1]),
            "last_training_target": date_label(dates[last_train_target + 1]),
        }
        self.n_samples_ = {"train": int(n_train), "validation": int(n_val)}
        self.seed_ = seed
        return self

    def _set_fitted_params(self) -> None:
        import torch

        with torch.no_grad():
            net = self.module_
            self.shrinkage_ = (
                float(torch.sigmoid(net.shrink_logit)) if self.learn_shrinkage else None
            )
            self.risk_aversion_ = float(self._gamma(net))

    # ---------------------------------------------------------------- predict
    def _problems(self, returns: np.ndarray, ends: np.ndarray) -> tuple[Any, Any, float]:
        """Forecasts (k, n), covariances (k, n, n) and γ for windows ending at ``ends``."""
        import torch

        dev = next(self.module_.parameters()).device
        x = torch.as_tensor(features_of_windows(return_windows(returns, int(self.window), ends)),
                            device=dev)  # fmt: skip
        parts = covariance_parts(returns, ends, int(self.cov_window))
        with torch.no_grad():
            mu_hat = self.module_(x).double()
            cov = self._covariances(parts, self.module_, torch, str(dev))
        return mu_hat, cov, float(self.risk_aversion_)

    def problems(
        self, prices: pd.DataFrame, dates: Any = None, probe: Any = None
    ) -> dict[str, Any]:
        """Return the layer's inputs and outputs on each date (forecasts, Σ, γ, weights).

        Parameters
        ----------
        prices : pandas.DataFrame, shape (T, n)
            The fitted assets' prices.
        dates : sequence of dates, optional
            Price dates whose next-day weights are wanted (default: every date with enough
            history). Each uses only prices up to that date.
        probe : array_like, shape (k, n), optional
            A vector per date; adds ``gradient`` (k, n), the layer's ``∂(probeᵀw)/∂μ̂``.

        Returns
        -------
        dict
            ``dates`` (k,), ``forecasts`` (k, n), ``covariances`` (k, n, n),
            ``risk_aversion`` (float) and ``weights`` (k, n), NumPy float64.
        """
        import torch

        from ..layers import markowitz

        self._check_fitted()
        check_columns(prices, self.assets_)
        values = prices.to_numpy(dtype=float)
        returns = values[1:] / values[:-1] - 1.0
        if dates is None:
            ends = np.arange(self._lookback - 1, len(returns))
        else:
            ends = np.array([prices.index.get_loc(pd.Timestamp(d)) - 1 for d in dates])
        if ends.size and ends.min() < self._lookback - 1:
            raise InputError(f"a date has fewer than {self.predict_rows} prices before it")
        mu_hat, cov, gamma = self._problems(returns, ends)
        mu_hat = mu_hat.clone().requires_grad_(probe is not None)
        w = markowitz(mu_hat, cov, risk_aversion=gamma)
        out = {
            "dates": prices.index[ends + 1],
            "forecasts": mu_hat.detach().cpu().numpy(),
            "covariances": cov.cpu().numpy(),
            "risk_aversion": gamma,
            "weights": w.detach().cpu().numpy(),
        }
        if probe is not None:
            g = torch.as_tensor(np.asarray(probe, dtype=np.float64), device=w.device)
            (w * g).sum().backward()
            out["gradient"] = mu_hat.grad.cpu().numpy()
        return out

    def _weights_from_returns(self, returns: np.ndarray) -> np.ndarray:
        from ..layers import markowitz

        mu_hat, cov, gamma = self._problems(returns, np.array([len(returns) - 1]))
        w = markowitz(mu_hat, cov, risk_aversion=gamma)[0].detach().cpu().numpy()
        w = np.clip(w, 0.0, None)
        return w / w.sum()

    def predict(self, prices: pd.DataFrame) -> pd.Series:
        """Weights for the period after the last row of ``prices``.

        Parameters
        ----------
        prices : pandas.DataFrame, shape (T, n)
            At least :attr:`predict_rows` rows of the fitted assets.

        Returns
        -------
        pandas.Series
        """
        self._check_fitted()
        frame = check_prices(prices, min_rows=self.min_predict_rows, need="its windows")
        check_columns(frame, self.assets_)
        values = frame.to_numpy()[-self.predict_rows :]
        w = self._weights_from_returns(values[1:] / values[:-1] - 1.0)
        return pd.Series(w, index=self._output_index(), name=date_label(frame.index[-1]))

    def predict_relatives(
        self, relatives: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Array fast path of :meth:`predict` on (k, n) price relatives."""
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)[-(self.predict_rows - 1) :]
        if rel.ndim != 2 or rel.shape[0] < self._lookback or rel.shape[1] != len(self.assets_):
            raise InputError(
                f"predict_relatives needs at least ({self._lookback}, {len(self.assets_)}) "
                f"relatives, got {np.shape(relatives)}"
            )
        return self._weights_from_returns(rel - 1.0)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to the folder ``path`` (safetensors + JSON, no pickle).

        Returns
        -------
        pathlib.Path
        """
        self._check_fitted()
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        meta = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "assets": self.assets_,
            "train_dates": self.train_dates_,
            "n_samples": self.n_samples_,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
            "lw_shrinkage_mean": self.lw_shrinkage_mean_,
            "shrinkage": self.shrinkage_,
            "risk_aversion": self.risk_aversion_,
            "seed": self.seed_,
        }
        return save_folder(path, tensors, meta)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, device: str | None = None
    ) -> MarkowitzForecaster:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ModelFileError
            The folder is missing, incomplete or of another class.
        """
        from ..exceptions import ModelFileError

        tensors, meta = load_folder(path, cls.__name__)
        try:
            model = cls(**meta["params"])
            state = module_state(tensors)
            window = int(model.window)
            n_features = int(state["feature_scale"].shape[0])
            net = _net_class()(window, n_features, int(model.hidden_size))
            net.load_state_dict(state, strict=True)
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ModelFileError(f"{path} does not describe a valid {cls.__name__}: {err}") from err
        device = load_device(model.device, device)
        model.device = device
        model.module_ = net.to(resolve_device(device)).eval()
        model.assets_ = [str(a) for a in meta["assets"]]
        model.history_ = list(meta.get("history", []))
        model.best_epoch_ = int(meta.get("best_epoch", 0))
        model.train_dates_ = dict(meta.get("train_dates", {}))
        model.n_samples_ = dict(meta.get("n_samples", {}))
        model.lw_shrinkage_mean_ = float(meta.get("lw_shrinkage_mean", float("nan")))
        model.seed_ = meta.get("seed")
        model._set_fitted_params()
        return model
