"""An LSTM that outputs next-period long-only weights trained to maximize the Sharpe ratio.

After Zhang, Zohren & Roberts (2020), "Deep Learning for Portfolio Optimization"
(J. Financial Data Science 2(4); arXiv 2005.13665): one LSTM reads, over a window of
``window`` days, the causal features of every asset at once (price over the window's last
price, and daily return; :mod:`portfolio_lab.models.features`), a linear layer and a
softmax turn its last hidden state into weights, and the loss is minus the Sharpe ratio of
the realized portfolio returns ``R_t = Σ_i w_{i,t-1} r_{i,t}`` net of ``cost Σ|Δw|``.

Training uses contiguous blocks of ``batch_size`` consecutive samples per gradient step
(so the cost term sees real consecutive weight changes), in a shuffled order each epoch;
the last ``validation_fraction`` of the samples, strictly after every training target,
decides early stopping. Inputs are standardized by per-asset, per-feature scales fitted on
the training samples, and an optional denoiser (:mod:`portfolio_lab.models.denoise`) is
fitted on the training returns only.

Volatility scaling (``vol_target``): as in Zhang et al., each asset's position is scaled by
``s_{i,t} = σ_tgt / σ_{i,t}`` (``σ_{i,t}`` the causal 50-day EWMA volatility, annualized).
The contract here is a long-only, fully invested portfolio, so the scaled positions
``w ⊙ s`` are renormalized to sum to one (without a cash asset), or capped at full
investment with the remainder in cash (``cash=True``): no leverage. The loss is computed
on exactly these executed weights.
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
from ._training import derive_seed, resolve_device, seeded, seen_record, train
from ._validation import check_columns, check_prices
from .denoise import Denoiser, wavelet_denoise_windows
from .features import ewma_volatility, features_of_windows, return_windows
from .losses import log_return_loss, sharpe_loss, turnover_penalty

__all__ = ["LSTMSharpe", "LSTMSharpeNet"]

_LOSSES = ("sharpe", "log")


def _feature_scale(inputs: Any, n_train: int, chunk: int = 256) -> np.ndarray:
    """Per-asset, per-feature standard deviation over the training samples and lags.

    Accumulated in float64 over chunks of samples, so no (samples, window, assets) array
    is ever formed.

    Returns
    -------
    numpy.ndarray, shape (n, 2)
        Floored to 1 where a feature is constant.
    """
    import torch

    total, sq, count = None, None, 0
    for a in range(0, n_train, chunk):
        x = inputs(torch.arange(a, min(a + chunk, n_train))).double()  # (b, L, n, 2)
        s1, s2 = x.sum(dim=(0, 1)), (x * x).sum(dim=(0, 1))
        total = s1 if total is None else total + s1
        sq = s2 if sq is None else sq + s2
        count += x.shape[0] * x.shape[1]
    mean = total / count
    var = (sq / count - mean * mean).clamp_min(0.0)
    scale = var.sqrt().cpu().numpy()
    return np.where(scale > 1e-12, scale, 1.0)


def _net_class() -> type:
    import torch
    from torch import nn

    class _LSTMSharpeNet(nn.Module):
        """LSTM over all assets' features, linear head, softmax over the outputs.

        Input ``(B, L, n, F)`` standardized features; output ``(B, n_out)`` weights,
        ``n_out = n + 1`` with a cash asset (its logit has no input but the LSTM state).
        """

        def __init__(
            self,
            n_assets: int,
            n_features: int,
            hidden_size: int,
            num_layers: int,
            dropout: float,
            cash: bool,
        ) -> None:
            super().__init__()
            self.lstm = nn.LSTM(
                n_assets * n_features,
                hidden_size,
                num_layers=num_layers,
                dropout=dropout if num_layers > 1 else 0.0,
                batch_first=True,
            )
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size, n_assets + int(cash))
            self.register_buffer("feature_scale", torch.ones(n_assets, n_features))

        def forward(self, x: Any) -> Any:
            b, length = x.shape[0], x.shape[1]
            z = (x / self.feature_scale).reshape(b, length, -1)
            out, _ = self.lstm(z)
            return torch.softmax(self.head(self.dropout(out[:, -1])), dim=-1)

    return _LSTMSharpeNet


def LSTMSharpeNet(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - a module factory
    """Build the network (torch is imported lazily); see :class:`LSTMSharpe`.

    Parameters
    ----------
    n_assets, n_features, hidden_size, num_layers : int
    dropout : float
    cash : bool

    Returns
    -------
    torch.nn.Module
        Maps ``(B, L, n, F)`` features to ``(B, n + cash)`` softmax weights.
    """
    return _net_class()(*args, **kwargs)


def _allocate(w: Any, scale: Any, cash: bool) -> Any:
    """Compute the executed weights from the network's weights and the volatility scales.

    ``w`` (..., n_out) softmax weights (cash first when ``cash``), ``scale`` (..., n) or
    None. Without a scale the weights are used as they are.
    """
    if scale is None:
        return w
    import torch

    if cash:
        risky = w[..., 1:] * scale
        total = risky.sum(dim=-1, keepdim=True)
        risky = risky / torch.clamp(total, min=1.0)
        return torch.cat([1.0 - risky.sum(dim=-1, keepdim=True), risky], dim=-1)
    pos = w * scale
    return pos / pos.sum(dim=-1, keepdim=True)


class LSTMSharpe(BaseAllocator):
    """LSTM allocator trained on minus the Sharpe ratio (Zhang, Zohren & Roberts, 2020).

    Parameters
    ----------
    window : int
        Days of history per input (50 in the paper).
    hidden_size, num_layers : int
        LSTM width and depth (64 and 1 in the paper).
    dropout : float
        Dropout on the last hidden state (and between layers).
    lr : float
        Adam learning rate.
    epochs : int
        Maximum number of epochs (early stopping may end sooner).
    batch_size : int
        Consecutive samples per gradient step; the Sharpe ratio of a step is computed
        over them.
    cost : float
        Proportional cost rate per unit of ``Σ|Δw|`` inside the loss (0: none).
    vol_target : float, optional
        Annualized volatility target of each asset's position (e.g. 0.10); None: no
        scaling.
    denoise : {"none", "mp", "wavelet"}
        Input denoiser, fitted on the training window only.
    validation_fraction : float
        Share of the samples, the latest ones, kept for early stopping (0: none).
    patience : int
        Epochs without a better validation loss before stopping.
    device : {"cpu", "cuda", "auto"}
    random_state : int, optional
        Fixes every seed of a fit (CPU fits with the same seed are bit-identical).
    progress : bool
        tqdm bar over epochs.
    cash : bool
        Add a cash asset (return 0) to the outputs; predictions then start with "cash".
    loss : {"sharpe", "log"}
        Minus the Sharpe ratio (the paper) or minus the mean log growth.
    turnover_penalty : float
        Extra penalty ``λ`` times the mean ``Σ|Δw|`` per period.
    vol_span : int
        Span of the EWMA volatility used by ``vol_target``.
    periods_per_year : int
        Annualization of ``vol_target``.
    steps_per_epoch : int, optional
        None (default): an epoch is one pass over every training block. An integer caps
        an epoch at that many blocks drawn without replacement, so the cost of a fit does
        not grow with an expanding training window (a compute budget, not a model choice).
    deterministic : bool
        Deterministic torch algorithms, cuDNN flags and the cuBLAS workspace setting
        during the fit (bit-identical reruns on CUDA; CPU fits are bit-identical anyway).

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted network (on ``device``).
    history_ : list of dict
        Per-epoch ``train_loss`` and ``val_loss``.
    best_epoch_ : int
    assets_ : list of str
    train_dates_ : dict
        First and last price dates of the fit, last training target date and the
        validation span.
    denoiser_ : Denoiser
    n_samples_ : dict
        Training and validation sample counts.
    seen_ : dict
        The training engine's record of the targets its loss consumed, as values (not
        indices): ``train_first``, ``train_last`` and ``validation_last``, each the last
        ``SEEN_ROWS`` rows of returns up to and including that target (lists of lists; the
        cash column left out). A review locates them in the real prices to see what the
        fit actually trained on, independently of the walk-forward log.
    """

    def __init__(
        self,
        window: int = 50,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        lr: float = 1e-3,
        epochs: int = 100,
        batch_size: int = 64,
        cost: float = 0.0,
        vol_target: float | None = None,
        denoise: str = "none",
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "cpu",
        random_state: int | None = None,
        progress: bool = False,
        cash: bool = False,
        loss: str = "sharpe",
        turnover_penalty: float = 0.0,
        vol_span: int = 50,
        periods_per_year: int = 252,
        steps_per_epoch: int | None = None,
        deterministic: bool = False,
    ) -> None:
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.cost = cost
        self.vol_target = vol_target
        self.denoise = denoise
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.cash = cash
        self.loss = loss
        self.turnover_penalty = turnover_penalty
        self.vol_span = vol_span
        self.periods_per_year = periods_per_year
        self.steps_per_epoch = steps_per_epoch
        self.deterministic = deterministic

    # ----------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if int(self.window) < 2:
            raise InputError(f"window must be at least 2 days, got {self.window}")
        if int(self.batch_size) < 2:
            raise InputError(f"batch_size must be at least 2, got {self.batch_size}")
        if not 0.0 <= float(self.validation_fraction) < 0.9:
            raise InputError(
                f"validation_fraction must lie in [0, 0.9), got {self.validation_fraction}"
            )
        if float(self.cost) < 0 or float(self.turnover_penalty) < 0:
            raise InputError("cost and turnover_penalty must be non-negative")
        if self.vol_target is not None and not float(self.vol_target) > 0:
            raise InputError(f"vol_target must be positive or None, got {self.vol_target}")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise InputError(
                f"steps_per_epoch must be positive or None, got {self.steps_per_epoch}"
            )
        if self.loss not in _LOSSES:
            raise InputError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InputError(f"dropout must lie in [0, 1), got {self.dropout}")
        Denoiser(self.denoise)  # validates the name

    @property
    def min_fit_rows(self) -> int:
        """Price rows ``fit`` needs: the window, one target and a few samples."""
        return int(self.window) + 1 + 8

    @property
    def predict_rows(self) -> int:
        """Price rows ``predict`` reads at most: the window (and the volatility's lookback)."""
        lookback = 5 * int(self.vol_span) if self.vol_target is not None else 0
        return max(int(self.window), lookback) + 1

    @property
    def min_predict_rows(self) -> int:
        """Fewest price rows ``predict`` accepts: the window of returns."""
        return int(self.window) + 1

    # --------------------------------------------------------------- features
    def _inputs(self, returns: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Denoised, causal features of the windows ending at ``ends`` (k, L, n, 2)."""
        windows = return_windows(returns, int(self.window), ends)
        if self.denoise == "mp":
            windows = self.denoiser_.transform(windows.reshape(-1, windows.shape[-1])).reshape(
                windows.shape
            )
        elif self.denoise == "wavelet":
            windows = wavelet_denoise_windows(windows)
        if self.denoise != "none":  # a smoothed return below -100 % has no price path
            windows = np.maximum(windows, -0.99)
        return features_of_windows(windows)

    def _window_inputs(self, returns: np.ndarray, ends: np.ndarray, device: str) -> Any:
        """Return a function from sample indices to their input features, built per batch.

        Without a window-wise denoiser the denoised returns of a row are the same in every
        window that holds it (``"mp"`` projects each row), so the returns live once on the
        device and a batch's windows are views of them (``unfold``), with
        ``P_{t-j} / P_t - 1`` taken from the cumulative log prices: no (samples, window,
        assets) copy exists. The wavelet denoiser treats each window as a whole, so its
        windows are built once and indexed.

        Returns
        -------
        callable
            ``inputs(sel)`` with ``sel`` a (B,) index tensor into ``ends`` -> (B, L, n, 2)
            float32 tensor on ``device``.
        """
        import torch

        L = int(self.window)
        if self.denoise == "wavelet":
            x = torch.as_tensor(self._inputs(returns, ends), device=device)
            return lambda sel: x[sel]
        rows = returns
        if self.denoise == "mp":
            rows = np.maximum(self.denoiser_.transform(returns), -0.99)
        r = torch.as_tensor(rows, dtype=torch.float64, device=device)  # (T, n)
        logp = torch.cumsum(torch.log1p(r), dim=0)  # log P_t / P_0 (up to a constant)
        r_win = r.unfold(0, L, 1)  # (T - L + 1, n, L) view: window starting at each row
        p_win = logp.unfold(0, L, 1)
        ends_t = torch.as_tensor(ends, device=device)

        def inputs(sel: Any) -> Any:
            e = ends_t[sel]
            first = e - (L - 1)
            rel = torch.expm1(p_win[first] - logp[e][:, :, None])  # (B, n, L)
            return torch.stack([rel, r_win[first]], dim=-1).transpose(1, 2).float()

        return inputs

    def _scales(self, returns: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        if self.vol_target is None:
            return None
        vol = ewma_volatility(returns, int(self.vol_span))[ends]
        per_period = float(self.vol_target) / np.sqrt(float(self.periods_per_year))
        return per_period / vol

    # -------------------------------------------------------------------- fit
    def fit(self, prices: pd.DataFrame) -> LSTMSharpe:
        """Fit on a (T, n) frame of prices (dates x assets).

        Parameters
        ----------
        prices : pandas.DataFrame, shape (T, n)
            Positive prices, oldest first.

        Returns
        -------
        LSTMSharpe
            ``self``, fitted.
        """
        import torch

        self._check_params()
        frame = check_prices(
            prices, min_rows=self.min_fit_rows, need="its window, one target and 8 samples"
        )
        device = resolve_device(self.device)
        returns = frame.to_numpy()[1:] / frame.to_numpy()[:-1] - 1.0  # (T - 1, n)
        n = returns.shape[1]
        L = int(self.window)
        ends = np.arange(L - 1, len(returns) - 1)  # sample t predicts returns[t + 1]
        n_val = int(round(float(self.validation_fraction) * len(ends)))
        if self.validation_fraction > 0:
            n_val = max(n_val, 2)
        n_train = len(ends) - n_val
        if n_train < 2:
            raise InputError(
                f"only {n_train} training samples after keeping {n_val} for validation; "
                "pass a longer history or a smaller validation_fraction"
            )
        last_train_target = ends[n_train - 1] + 1
        self.denoiser_ = Denoiser(self.denoise).fit(returns[: last_train_target + 1])
        y = returns[ends + 1]
        scale = self._scales(returns, ends)

        seed = derive_seed(self.random_state)
        with seeded(seed, device, deterministic=bool(self.deterministic)) as rng:
            net = LSTMSharpeNet(
                n,
                2,  # features per asset and lag (features_of_windows)
                int(self.hidden_size),
                int(self.num_layers),
                float(self.dropout),
                bool(self.cash),
            )
            inputs = self._window_inputs(returns, ends, device)  # sample indices -> features
            feat_scale = _feature_scale(inputs, n_train)  # (n, 2), training samples only
            net.feature_scale.copy_(torch.as_tensor(feat_scale, dtype=torch.float32))
            net = net.to(device)
            yt = torch.as_tensor(y, dtype=torch.float32, device=device)
            self.seen_ = seen_record(yt, n_train)
            if self.cash:
                yt = torch.cat([torch.zeros_like(yt[:, :1]), yt], dim=1)
            st = (
                None
                if scale is None
                else torch.as_tensor(scale, dtype=torch.float32, device=device)
            )

            def sequence_loss(idx: np.ndarray) -> Any:
                sel = torch.as_tensor(idx, device=device)
                w = _allocate(net(inputs(sel)), None if st is None else st[sel], bool(self.cash))
                w, r = w[None], yt[sel][None]
                if self.loss == "sharpe":
                    out = sharpe_loss(w, r, cost=float(self.cost))
                else:
                    out = log_return_loss(w, r, cost=float(self.cost))
                if self.turnover_penalty:
                    out = out + float(self.turnover_penalty) * turnover_penalty(w)
                return out

            B = int(self.batch_size)

            def batches(gen: np.random.Generator) -> list[np.ndarray]:
                # blocks of B consecutive samples from a random phase, in random order
                offset = int(gen.integers(0, B)) if n_train > B else 0
                bounds = sorted({0, n_train, *range(offset, n_train, B)})
                blocks = [
                    np.arange(a, b)
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                    if b - a >= 2
                ]
                order = gen.permutation(len(blocks))
                if self.steps_per_epoch is not None:
                    order = order[: int(self.steps_per_epoch)]
                return [blocks[i] for i in order]

            val_idx = np.arange(n_train, len(ends))
            val = (lambda: sequence_loss(val_idx)) if n_val >= 2 else None
            result = train(
                net,
                sequence_loss,
                batches,
                epochs=int(self.epochs),
                lr=float(self.lr),
                rng=rng,
                val_loss=val,
                patience=int(self.patience),
                progress=bool(self.progress),
                desc="LSTMSharpe",
            )
        self.module_ = net
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.stopped_early_ = result.stopped_early
        self.assets_ = [str(c) for c in frame.columns]
        dates = frame.index
        self.train_dates_ = {
            "first_price": date_label(dates[0]),
            "last_price": date_label(dates[-1]),
            "last_training_target": date_label(dates[last_train_target + 1]),
            "validation_first_target": None if n_val == 0 else date_label(dates[ends[n_train] + 2]),
            "validation_last_target": None if n_val == 0 else date_label(dates[ends[-1] + 2]),
        }
        self.n_samples_ = {"train": int(n_train), "validation": int(n_val)}
        self.seed_ = seed
        return self

    # ---------------------------------------------------------------- predict
    def _weights_from_returns(self, returns: np.ndarray) -> np.ndarray:
        import torch

        end = np.array([len(returns) - 1])
        x = torch.as_tensor(self._inputs(returns, end), device=self._device())
        scale = self._scales(returns, end)
        with torch.no_grad():
            w = self.module_(x)
            st = None if scale is None else torch.as_tensor(scale, dtype=w.dtype, device=w.device)
            w = _allocate(w, st, bool(self.cash))
        out = w[0].double().cpu().numpy()
        out = np.clip(out, 0.0, None)
        return out / out.sum()

    def _device(self) -> Any:
        return next(self.module_.parameters()).device

    def predict(self, prices: pd.DataFrame) -> pd.Series:
        """Weights for the period after the last row of ``prices``.

        Parameters
        ----------
        prices : pandas.DataFrame, shape (T, n)
            The fitted assets' prices, at least :attr:`min_predict_rows` rows (only the
            latest :attr:`predict_rows` are read).

        Returns
        -------
        pandas.Series
            Long-only weights summing to one, indexed by the assets (``"cash"`` first
            when ``cash=True``).
        """
        self._check_fitted()
        frame = check_prices(
            prices, min_rows=self.min_predict_rows, need="its window of returns and one more price"
        )
        check_columns(frame, self.assets_)
        values = frame.to_numpy()[-self.predict_rows :]
        w = self._weights_from_returns(values[1:] / values[:-1] - 1.0)
        return pd.Series(w, index=self._output_index(), name=date_label(frame.index[-1]))

    def predict_relatives(
        self, relatives: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Array fast path of :meth:`predict` on (k, n) price relatives (see the base)."""
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)[-(self.predict_rows - 1) :]
        if rel.ndim != 2 or rel.shape[0] < self.window or rel.shape[1] != len(self.assets_):
            raise InputError(
                f"predict_relatives needs at least ({self.window}, {len(self.assets_)}) "
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
        params = self.get_params()
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        tensors.update(self.denoiser_.state())
        meta = {
            "class": type(self).__name__,
            "params": params,
            "assets": self.assets_,
            "train_dates": self.train_dates_,
            "n_samples": self.n_samples_,
            "best_epoch": self.best_epoch_,
            "stopped_early": self.stopped_early_,
            "history": self.history_,
            "denoise_n_signal": self.denoiser_.n_signal_,
            "seed": self.seed_,
            "seen": getattr(self, "seen_", None),
        }
        return save_folder(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | None = None) -> LSTMSharpe:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path
            The folder.
        device : str, optional
            Where to place the network (default: the saved ``device``, or the CPU when it
            named a GPU that is not visible).

        Raises
        ------
        ModelFileError
            The folder is missing, incomplete, of another class, or its tensors do not fit
            the saved hyperparameters.
        """
        from ..exceptions import ModelFileError

        tensors, meta = load_folder(path, cls.__name__)
        try:
            model = cls(**meta["params"])
            assets = [str(a) for a in meta["assets"]]
            state = module_state(tensors)
            n_features = int(state["feature_scale"].shape[1])
            net = LSTMSharpeNet(
                len(assets),
                n_features,
                int(model.hidden_size),
                int(model.num_layers),
                float(model.dropout),
                bool(model.cash),
            )
            net.load_state_dict(state, strict=True)
            denoiser = Denoiser.from_state(
                model.denoise, _tensors_np(tensors), meta["denoise_n_signal"]
            )
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ModelFileError(f"{path} does not describe a valid {cls.__name__}: {err}") from err
        device = load_device(model.device, device)
        model.device = device
        model.module_ = net.to(resolve_device(device)).eval()
        model.assets_ = assets
        model.denoiser_ = denoiser
        model.history_ = list(meta.get("history", []))
        model.best_epoch_ = int(meta.get("best_epoch", 0))
        model.stopped_early_ = bool(meta.get("stopped_early", False))
        model.train_dates_ = dict(meta.get("train_dates", {}))
        model.n_samples_ = dict(meta.get("n_samples", {}))
        model.seed_ = meta.get("seed")
        model.seen_ = meta.get("seen")
        return model


def _tensors_np(tensors: dict[str, Any]) -> dict[str, np.ndarray]:
    """Convert a dict of torch tensors to float64 numpy arrays."""
    return {k: v.double().numpy() for k, v in tensors.items() if not k.startswith("module.")}
