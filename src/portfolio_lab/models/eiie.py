"""Deep reinforcement-learning allocators of the EIIE family (Jiang, Xu & Liang, 2017).

The agent holds cash and ``n`` assets. Each period ``t`` it reads a price tensor of shape
``(features, assets, window)`` (every feature of the last ``window`` periods divided by
the asset's latest close, ``normalize="close"`` as in PGPortfolio, or by each period's open,
``normalize="open"``) and the weights it holds after the last move, and outputs the next
weights on the simplex over cash + assets.

Networks (ensembles of identical independent evaluators: one small network shared by every
asset, so the agent is asset-count agnostic):

- ``"cnn"``: a 1×3 convolution (2 filters), a 1×(window−2) convolution (20 filters), the
  previous weights added as one more channel, a 1×1 convolution, a learnable cash bias,
  softmax over cash + assets;
- ``"lstm"`` / ``"rnn"``: one recurrent unit (20 units) shared by the assets reads each
  asset's window; its last hidden state goes to the same head.

Training is PGPortfolio's online stochastic batch learning: a mini-batch is ``batch_size``
consecutive periods whose start is drawn from a geometric distribution (recent periods more
likely, ``sample_bias``); the previous weights of each period come from the Portfolio-Vector
Memory (PVM), the weights the network last wrote for the period before, drifted by that
period's prices; after the step the batch's new weights are written back. The reward is
the mean of ``log(μ_t · w_tᵀ y_{t+1})`` with the first-order cost
``μ_t = 1 − c Σ_i |w_{t,i} − w'_{t,i}|`` over the assets (``reward="log"``), or the mean
simple return ``μ_t · w_tᵀ y_{t+1} − 1`` (``reward="simple"``, the Colombian project's).
The backtester charges the exact remainder factor instead.

Defaults for daily data (PGPortfolio's were set for 30-minute crypto periods): window 50,
batch 64 consecutive days, 2 000 Adam steps at 10⁻³, ``sample_bias=0.005`` (a batch ends on
average 200 trading days before the end of the training data, about ten months: the
geometric weight of a period halves every ~140 days), commission 0.25 % as in the paper.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data._yahoo import FIELDS
from ..exceptions import InputError, ShapeError
from ._base import BaseAllocator, date_label
from ._persistence import load_device, load_folder, module_state, save_folder
from ._training import derive_seed, resolve_device, seeded
from ._validation import check_columns, check_prices

__all__ = ["EIIE", "NETWORKS", "price_tensor", "geometric_starts", "eiie_reward"]

NETWORKS = ("cnn", "lstm", "rnn")
_REWARDS = ("log", "simple")


# --------------------------------------------------------------------- price tensor
def price_tensor(
    features: np.ndarray,
    ends: np.ndarray,
    window: int,
    normalize: str = "close",
    close_index: int = 0,
    open_index: int | None = None,
) -> np.ndarray:
    """Build the normalized price tensors of the windows ending at rows ``ends``.

    Parameters
    ----------
    features : numpy.ndarray, shape (F, T, n)
        Raw feature values (prices) per feature, period and asset.
    ends : numpy.ndarray of int, shape (k,)
        Last row of each window (``>= window - 1``).
    window : int
    normalize : {"close", "open"}
        Divide by the asset's close at the window's last row (PGPortfolio), or each row by
        that row's open.
    close_index, open_index : int
        Positions of the close and open features.

    Returns
    -------
    numpy.ndarray, shape (k, F, n, window), float32
        The normalized values minus one (zero where a feature equals the divisor).
    """
    ends = np.asarray(ends, dtype=int)
    rows = ends[:, None] + np.arange(-window + 1, 1)[None, :]  # (k, L)
    block = features[:, rows, :]  # (F, k, L, n)
    if normalize == "close":
        base = features[close_index, ends, :][None, :, None, :]  # (1, k, 1, n)
    else:
        assert open_index is not None
        base = features[open_index][rows][None]  # (1, k, L, n)
    out = block / base - 1.0
    return np.ascontiguousarray(out.transpose(1, 0, 3, 2)).astype(np.float32)


def geometric_starts(
    rng: np.random.Generator, n_starts: int, count: int, bias: float
) -> np.ndarray:
    """Draw ``count`` batch starts in ``[0, n_starts)``, the latest most likely.

    ``P(start = n_starts - 1 - k) ∝ (1 - bias)^k``: a geometric distribution of the
    distance to the most recent start, truncated to the available range. ``bias = 0``
    draws uniformly.
    """
    if n_starts < 1:
        raise InputError("no batch start available; the training data are too short")
    if bias <= 0:
        return rng.integers(0, n_starts, size=count)
    k = np.arange(n_starts)
    p = (1.0 - bias) ** k
    p /= p.sum()
    back = rng.choice(n_starts, size=count, p=p)
    return n_starts - 1 - back


def eiie_reward(
    weights: Any, previous: Any, relatives: Any, commission: float, kind: str = "log"
) -> Any:
    """Training reward of a batch: mean ``log(μ wᵀy)`` or mean ``μ wᵀy − 1``.

    Parameters
    ----------
    weights, previous, relatives : torch.Tensor, shape (B, n + 1)
        Chosen weights, weights held before (drifted), next relatives; cash first.
    commission : float
        Rate ``c`` of the first-order remainder ``μ = 1 − c Σ_{i≥1} |w_i − w'_i|``.
    kind : {"log", "simple"}

    Returns
    -------
    torch.Tensor, scalar
    """
    mu = 1.0 - commission * (weights[:, 1:] - previous[:, 1:]).abs().sum(dim=1)
    growth = mu * (weights * relatives).sum(dim=1)
    if kind == "log":
        return growth.log().mean()
    return (growth - 1.0).mean()


# ------------------------------------------------------------------------- networks
def _modules() -> dict[str, type]:
    import torch
    from torch import nn

    class Head(nn.Module):
        """Previous weights as one more channel, a 1×1 convolution, a cash bias, softmax."""

        def __init__(self, channels: int, use_previous: bool) -> None:
            super().__init__()
            self.use_previous = use_previous
            self.conv = nn.Conv2d(channels + 1, 1, kernel_size=(1, 1))
            self.cash_bias = nn.Parameter(torch.zeros(1))

        def forward(self, h: Any, previous: Any) -> Any:
            # h: (B, C, n, 1); previous: (B, n) risky weights held now
            prev = previous if self.use_previous else torch.zeros_like(previous)
            z = torch.cat([h, prev[:, None, :, None]], dim=1)
            logits = self.conv(z)[:, 0, :, 0]  # (B, n)
            cash = self.cash_bias.expand(logits.shape[0], 1)
            return torch.softmax(torch.cat([cash, logits], dim=1), dim=1)

    class CNN(nn.Module):
        """EIIE convolutional network: (B, F, n, L) and (B, n) -> (B, n + 1)."""

        def __init__(self, n_features: int, window: int, use_previous: bool) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(n_features, 2, kernel_size=(1, 3))
            self.conv2 = nn.Conv2d(2, 20, kernel_size=(1, window - 2))
            self.head = Head(20, use_previous)

        def forward(self, x: Any, previous: Any) -> Any:
            h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            return self.head(h, previous)

    class Recurrent(nn.Module):
        """EIIE recurrent network (LSTM or plain RNN shared by the assets)."""

        def __init__(self, n_features: int, hidden: int, cell: str, use_previous: bool) -> None:
            super().__init__()
            kind = nn.LSTM if cell == "lstm" else nn.RNN
            self.rnn = kind(n_features, hidden, batch_first=True)
            self.head = Head(hidden, use_previous)

        def forward(self, x: Any, previous: Any) -> Any:
            b, f, n, length = x.shape
            seq = x.permute(0, 2, 3, 1).reshape(b * n, length, f)
            out, _ = self.rnn(seq)
            h = out[:, -1].reshape(b, n, -1).permute(0, 2, 1)[..., None]  # (B, H, n, 1)
            return self.head(h, previous)

    return {"cnn": CNN, "recurrent": Recurrent}


def build_network(
    network: str, n_features: int, window: int, hidden: int, use_previous: bool
) -> Any:
    """Build an EIIE network (torch imported lazily).

    Returns
    -------
    torch.nn.Module
        ``forward(x (B, F, n, L), previous (B, n)) -> (B, n + 1)`` weights, cash first.
    """
    mods = _modules()
    if network == "cnn":
        return mods["cnn"](n_features, window, use_previous)
    return mods["recurrent"](n_features, hidden, network, use_previous)


# ------------------------------------------------------------------------ estimator
class EIIE(BaseAllocator):
    """EIIE reinforcement-learning agent (CNN, LSTM or RNN policy) with PVM and OSBL.

    Parameters
    ----------
    network : {"cnn", "lstm", "rnn"}
    window : int
        Periods per price tensor.
    features : tuple of str
        Price features, ``"close"`` first among them (``("close",)`` for the bundled data,
        ``("close", "high", "low", "open")`` with a yfinance OHLC cache).
    normalize : {"close", "open"}
        Divisor of the price tensor (``"open"`` needs the ``"open"`` feature).
    steps : int
        Gradient steps of a fit.
    batch_size : int
        Consecutive periods per mini-batch.
    lr : float
        Adam learning rate.
    commission : float
        Proportional cost rate ``c`` of the training reward.
    sample_bias : float
        Geometric bias of the batch starts (0: uniform).
    reward : {"log", "simple"}
    online_steps : int
        Gradient steps after each test period on the history seen so far (0: none).
    device : {"cpu", "cuda", "auto"}
    random_state : int, optional
    progress : bool
    hidden_size : int
        Units of the recurrent networks.
    use_previous : bool
        Feed the previous weights to the head (False: the ablation without them).
    weight_decay : float
        L2 penalty of Adam.
    validation_fraction : float
        Share of the fit's periods, the latest, held out: training batches never touch
        them, and every ``eval_every`` steps the agent is rolled forward over them
        (sequentially, its own drifted weights as the previous ones, first-order costs);
        the parameters with the best mean log growth there are kept (0: keep the last).
    eval_every : int
        Steps between validation rollouts.

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : list of dict
        Mean training reward of each block of ``eval_every`` steps (``step``, ``reward``)
        and, with validation, ``val_log_growth``.
    best_step_ : int
        Step whose parameters were kept.
    last_batch_ : dict
        The last mini-batch: ``periods``, the PVM rows it read (``pvm_read``), the
        relatives that drifted them, the ``previous`` weights given to the network and the
        weights ``written`` back.
    batch_log_ : list of tuple
        ``(start, rows)`` of every mini-batch (fit and online steps): it covered periods
        ``start .. start + batch_size - 1`` and their next relatives, while the model held
        ``rows`` price rows (only the past).
    pvm_ : numpy.ndarray, shape (T, n + 1)
        The Portfolio-Vector Memory after training (row ``t``: weights written for period
        ``t``; rows before the first window are uniform).
    assets_ : list of str
    train_dates_ : dict
    """

    uses_previous_weights = True

    def __init__(
        self,
        network: str = "cnn",
        window: int = 50,
        features: Sequence[str] = ("close",),
        normalize: str = "close",
        steps: int = 2000,
        batch_size: int = 64,
        lr: float = 1e-3,
        commission: float = 0.0025,
        sample_bias: float = 0.005,
        reward: str = "log",
        online_steps: int = 0,
        device: str = "cpu",
        random_state: int | None = None,
        progress: bool = False,
        hidden_size: int = 20,
        use_previous: bool = True,
        weight_decay: float = 1e-8,
        validation_fraction: float = 0.0,
        eval_every: int = 100,
    ) -> None:
        self.network = network
        self.window = window
        self.features = features
        self.normalize = normalize
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.commission = commission
        self.sample_bias = sample_bias
        self.reward = reward
        self.online_steps = online_steps
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.hidden_size = hidden_size
        self.use_previous = use_previous
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every

    @property
    def outputs_cash(self) -> bool:
        """EIIE always holds a cash asset (first weight)."""
        return True

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[str, ...]:
        if self.network not in NETWORKS:
            raise InputError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if int(self.window) < 3:
            raise InputError(f"window must be at least 3 periods, got {self.window}")
        feats = tuple(str(f) for f in self.features)
        if not feats or feats[0] != "close" or len(set(feats)) != len(feats):
            raise InputError(f"features must start with 'close' and not repeat, got {feats}")
        unknown = [f for f in feats if f not in FIELDS]
        if unknown:
            raise InputError(f"unknown features {unknown}; use some of {FIELDS}")
        if self.normalize not in ("close", "open"):
            raise InputError(f"normalize must be 'close' or 'open', got {self.normalize!r}")
        if self.normalize == "open" and "open" not in feats:
            raise InputError("normalize='open' needs the 'open' feature")
        if self.reward not in _REWARDS:
            raise InputError(f"reward must be one of {_REWARDS}, got {self.reward!r}")
        if int(self.batch_size) < 2 or int(self.steps) < 1 or int(self.online_steps) < 0:
            raise InputError("batch_size >= 2, steps >= 1 and online_steps >= 0 are required")
        if not 0.0 <= float(self.validation_fraction) < 0.5:
            raise InputError(
                f"validation_fraction must lie in [0, 0.5), got {self.validation_fraction}"
            )
        if not 0.0 <= float(self.commission) < 1.0 or not 0.0 <= float(self.sample_bias) < 1.0:
            raise InputError("commission and sample_bias must lie in [0, 1)")
        return feats

    @property
    def min_fit_rows(self) -> int:
        """Price rows ``fit`` needs: one window and a batch of periods after it."""
        return int(self.window) + int(self.batch_size) + 1

    @property
    def predict_rows(self) -> int:
        """Price rows ``predict`` reads: one window."""
        return int(self.window)

    @property
    def min_predict_rows(self) -> int:
        """Fewest price rows ``predict`` accepts: one window."""
        return int(self.window)

    # ------------------------------------------------------------------ inputs
    def _stack(
        self, prices: Any, min_rows: int, *, fitting: bool
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Validate prices (a closes frame or a feature mapping) into (F, T, n)."""
        feats = tuple(str(f) for f in self.features)
        if isinstance(prices, Mapping):
            missing = [f for f in feats if f not in prices]
            if missing:
                raise InputError(f"the price mapping lacks the features {missing}")
            close = check_prices(prices["close"], min_rows=min_rows, what="close prices")
            frames = []
            for f in feats:
                fr = check_prices(prices[f], min_rows=min_rows, what=f"{f} prices")
                if not fr.index.equals(close.index) or list(fr.columns) != list(close.columns):
                    raise ShapeError(f"the {f} frame is not on the close frame's dates and assets")
                frames.append(fr)
        else:
            if feats != ("close",):
                raise InputError(
                    f"features={feats} need a mapping feature -> DataFrame, got one frame of closes"
                )
            close = check_prices(prices, min_rows=min_rows, what="prices")
            frames = [close]
        if not fitting:
            check_columns(close, self.assets_)
        return np.stack([f.to_numpy() for f in frames]), close

    def _tensor(self, feats: np.ndarray, ends: np.ndarray) -> np.ndarray:
        names = tuple(str(f) for f in self.features)
        open_index = names.index("open") if "open" in names else None
        return price_tensor(feats, ends, int(self.window), self.normalize, 0, open_index)

    # --------------------------------------------------------------------- fit
    def fit(self, prices: Any) -> EIIE:
        """Train on closes (DataFrame) or a mapping feature -> DataFrame of prices.

        Returns
        -------
        EIIE
            ``self``, fitted.
        """
        import torch

        self._check_params()
        feats, close = self._stack(prices, self.min_fit_rows, fitting=True)
        device = resolve_device(self.device)
        self.assets_ = [str(c) for c in close.columns]
        n = close.shape[1]
        seed = derive_seed(self.random_state)
        with seeded(seed, device) as rng:
            net = build_network(
                self.network,
                feats.shape[0],
                int(self.window),
                int(self.hidden_size),
                bool(self.use_previous),
            ).to(device)
            self.module_ = net
            self._device_ = device
            self._rng = rng
            self._opt = torch.optim.Adam(
                net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
            )
            self._feats = feats
            T = feats.shape[1]
            self.pvm_ = np.full((T, n + 1), 1.0 / (n + 1))
            self.history_ = []
            self.batch_log_: list[tuple[int, int]] = []
            from tqdm import tqdm

            n_val = int(round(float(self.validation_fraction) * T))
            self._train_end = T - n_val  # batches use periods (and relatives) before this row
            if n_val and self._train_end - int(self.window) < int(self.batch_size) + 1:
                raise InputError("too few training periods left after the validation share")
            best, best_state, self.best_step_ = -np.inf, None, int(self.steps)
            rewards = []
            every = max(1, int(self.eval_every))
            bar = tqdm(
                range(int(self.steps)),
                disable=not self.progress,
                desc=f"EIIE[{self.network}]",
                leave=False,
            )
            for step in bar:
                rewards.append(self._train_step())
                if (step + 1) % every == 0 or step + 1 == int(self.steps):
                    rec: dict[str, Any] = {"step": step + 1, "reward": float(np.mean(rewards))}
                    rewards = []
                    if n_val:
                        v = self._validate(self._train_end - 1, T - 1)
                        rec["val_log_growth"] = v
                        if v > best:
                            best, self.best_step_ = v, step + 1
                            best_state = copy.deepcopy(net.state_dict())
                    self.history_.append(rec)
            if best_state is not None:
                net.load_state_dict(best_state)
            self._train_end = T
        net.eval()
        dates = close.index
        n_val = int(round(float(self.validation_fraction) * len(dates)))
        self.train_dates_ = {
            "first_price": date_label(dates[0]),
            "last_price": date_label(dates[-1]),
            "last_training_target": date_label(dates[len(dates) - n_val - 1]),
            "validation_first_target": date_label(dates[len(dates) - n_val]) if n_val else None,
        }
        self.seed_ = seed
        self.n_periods_ = int(T)
        return self

    def _periods(self) -> tuple[int, int]:
        """First and last+1 period a batch may use (a window behind, a relative ahead)."""
        end = getattr(self, "_train_end", self._feats.shape[1])
        return int(self.window) - 1, min(end, self._feats.shape[1]) - 1

    def _validate(self, first: int, stop: int) -> float:
        """Mean log growth of a sequential rollout over periods ``first .. stop - 1``."""
        import torch

        feats, n = self._feats, self._feats.shape[2]
        close = feats[0]
        held = np.full(n + 1, 1.0 / (n + 1))
        c = float(self.commission)
        logs = []
        self.module_.eval()
        with torch.no_grad():
            for t in range(first, stop):
                x = torch.as_tensor(self._tensor(feats, np.array([t])), device=self._device_)
                prev = torch.as_tensor(held[1:][None], dtype=torch.float32, device=self._device_)
                w = self.module_(x, prev)[0].double().cpu().numpy()
                y = np.concatenate([[1.0], close[t + 1] / close[t]])
                mu = 1.0 - c * np.abs(w[1:] - held[1:]).sum()
                g = float(w @ y)
                logs.append(np.log(mu * g))
                held = w * y / g
        self.module_.train()
        return float(np.mean(logs))

    def batch_starts(self, count: int) -> np.ndarray:
        """Draw batch starts over the data the model holds (see :func:`geometric_starts`)."""
        lo, hi = self._periods()
        n_starts = hi - lo - int(self.batch_size) + 1
        return lo + geometric_starts(self._rng, n_starts, count, float(self.sample_bias))

    def _train_step(self) -> float:
        import torch

        B = int(self.batch_size)
        s = int(self.batch_starts(1)[0])
        self.batch_log_.append((s, self._feats.shape[1]))  # start, rows held then
        idx = np.arange(s, s + B)  # periods t: window ends at t, relative y_{t+1}
        feats, dev = self._feats, self._device_
        x = torch.as_tensor(self._tensor(feats, idx), device=dev)
        close = feats[0]
        y = close[idx + 1] / close[idx]  # (B, n)
        y_prev = close[idx] / close[idx - 1]  # relative of the period before t
        # PVM: what period t reads is what t-1 wrote, drifted by the prices of period t
        before = self.pvm_[idx - 1]
        y_full_prev = np.concatenate([np.ones((B, 1)), y_prev], axis=1)
        drifted = before * y_full_prev
        drifted /= drifted.sum(axis=1, keepdims=True)
        prev_t = torch.as_tensor(drifted, dtype=torch.float32, device=dev)
        w = self.module_(x, prev_t[:, 1:])  # (B, n + 1)
        yt = torch.cat(
            [torch.ones(B, 1, device=dev), torch.as_tensor(y, dtype=torch.float32, device=dev)],
            dim=1,
        )
        reward = eiie_reward(w, prev_t, yt, float(self.commission), self.reward)
        self._opt.zero_grad(set_to_none=True)
        (-reward).backward()
        self._opt.step()
        written = w.detach().double().cpu().numpy()
        written /= written.sum(axis=1, keepdims=True)
        self.pvm_[idx] = written
        self.last_batch_ = {
            "periods": idx,
            "pvm_read": before,  # PVM rows t - 1 as read
            "relatives_read": y_full_prev,  # relatives of periods t (cash first)
            "previous": drifted,  # what the network was given
            "written": written,  # what it wrote for periods t
        }
        return float(reward.detach())

    # ------------------------------------------------------------ online learning
    def update_relatives(self, relatives: np.ndarray) -> None:
        """Append newly seen close relatives, then take ``online_steps`` gradient steps.

        Parameters
        ----------
        relatives : numpy.ndarray, shape (k, n)
            Close relatives after the last period the model holds (only closes: the
            backtester's policy path).
        """
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)
        if rel.size == 0:
            return
        if self._feats.shape[0] != 1:
            raise InputError("online learning through the backtester supports features=('close',)")
        last = self._feats[0, -1]
        new = last * np.cumprod(rel, axis=0)
        self._feats = np.concatenate([self._feats, new[None]], axis=1)
        n = rel.shape[1]
        self.pvm_ = np.vstack([self.pvm_, np.full((len(rel), n + 1), 1.0 / (n + 1))])
        if int(self.online_steps) and self._feats.shape[1] - 1 - (int(self.window) - 1) >= int(
            self.batch_size
        ):
            self.module_.train()
            for _ in range(int(self.online_steps)):
                self._train_step()
            self.module_.eval()

    # ----------------------------------------------------------------- predict
    def _weights(self, feats: np.ndarray, previous: np.ndarray) -> np.ndarray:
        import torch

        x = torch.as_tensor(self._tensor(feats, np.array([feats.shape[1] - 1])), device=self._dev())
        prev = torch.as_tensor(previous[1:][None], dtype=torch.float32, device=self._dev())
        with torch.no_grad():
            w = self.module_(x, prev)[0].double().cpu().numpy()
        w = np.clip(w, 0.0, None)
        return w / w.sum()

    def _dev(self) -> Any:
        return next(self.module_.parameters()).device

    def _previous(self, previous: Any) -> np.ndarray:
        n = len(self.assets_)
        if previous is None:
            out = np.zeros(n + 1)
            out[0] = 1.0
            return out
        p = np.asarray(previous, dtype=float)
        if p.shape != (n + 1,) or not np.isfinite(p).all() or (p < -1e-12).any():
            raise InputError(f"previous must be {n + 1} non-negative weights (cash first), got {p}")
        return p / p.sum()

    def predict(self, prices: Any, previous: Any = None) -> pd.Series:
        """Weights for the period after the last row, index ``["cash", *assets]``.

        Parameters
        ----------
        prices : DataFrame of closes, or mapping feature -> DataFrame
            At least ``window`` rows of the fitted assets.
        previous : array-like, shape (n + 1,), optional
            Weights held now, cash first (default: all cash).

        Returns
        -------
        pandas.Series
        """
        self._check_fitted()
        feats, close = self._stack(prices, self.min_predict_rows, fitting=False)
        w = self._weights(feats[:, -int(self.window) :], self._previous(previous))
        return pd.Series(w, index=self._output_index(), name=date_label(close.index[-1]))

    def predict_relatives(
        self, relatives: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Array path of :meth:`predict` from (k, n) close relatives, ``k >= window - 1``."""
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)[-(int(self.window) - 1) :]
        if (
            rel.ndim != 2
            or rel.shape[0] < int(self.window) - 1
            or rel.shape[1] != len(self.assets_)
        ):
            raise InputError(
                f"predict_relatives needs at least ({int(self.window) - 1}, "
                f"{len(self.assets_)}) relatives"
            )
        if self._feats.shape[0] != 1:
            raise InputError("the array path supports features=('close',) only; call predict")
        closes = np.vstack([np.ones((1, rel.shape[1])), np.cumprod(rel, axis=0)])
        return self._weights(closes[None], self._previous(previous))

    # ------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted agent to the folder ``path`` (safetensors + JSON, no pickle)."""
        self._check_fitted()
        params = self.get_params()
        params["features"] = list(params["features"])
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        meta = {
            "class": type(self).__name__,
            "params": params,
            "assets": self.assets_,
            "train_dates": self.train_dates_,
            "history": self.history_,
            "seed": self.seed_,
            "best_step": getattr(self, "best_step_", None),
        }
        return save_folder(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | None = None) -> EIIE:
        """Read an agent written by :meth:`save` (it predicts; it does not resume training)."""
        from ..exceptions import ModelFileError

        tensors, meta = load_folder(path, cls.__name__)
        try:
            params = dict(meta["params"])
            params["features"] = tuple(params["features"])
            model = cls(**params)
            feats = model._check_params()
            net = build_network(
                model.network,
                len(feats),
                int(model.window),
                int(model.hidden_size),
                bool(model.use_previous),
            )
            state = module_state(tensors)
            net.load_state_dict(state, strict=True)
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ModelFileError(f"{path} does not describe a valid {cls.__name__}: {err}") from err
        device = load_device(model.device, device)
        model.device = device
        model.module_ = net.to(resolve_device(device)).eval()
        model.assets_ = [str(a) for a in meta["assets"]]
        model.history_ = list(meta.get("history", []))
        model.train_dates_ = dict(meta.get("train_dates", {}))
        model.seed_ = meta.get("seed")
        model._feats = np.ones((len(feats), 1, len(model.assets_)))
        return model
