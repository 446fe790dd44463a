"""Deep reinforcement-learning allocators of the EIIE family (Jiang, Xu & Liang, 2017).

The agent holds cash and ``n`` assets. Each period ``t`` it reads a price tensor of shape
``(features, assets, window)`` (every feature of the last ``window`` periods divided by
the asset's latest close, ``normalize="close"`` as in PGPortfolio, or by the asset's open of
the window's last period, ``normalize="open"``, so the close-to-close path survives both
ways) and the weights it holds after the last move, and outputs the next weights on the
simplex over cash + assets.

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
The held weights ``w'_t`` of the cost term are, by default (``cost_reference="batch"``, as
PGPortfolio's default loss), the batch's own previous output drifted by its period's
prices, and the PVM row only for the batch's first period: the gradient then reaches both
``w_{t-1}`` and ``w_t``, so the network sees what today's choice costs tomorrow.
``cost_reference="pvm"`` takes every ``w'_t`` from the PVM (detached, written by older
parameters), the variant this package ran first. The backtester charges the exact
remainder factor instead.

The whole training set lives on the device: the price tensor of every period is built
once, a batch is a slice of it (consecutive periods), the PVM is a device tensor, the mean
reward is read back only every ``eval_every`` steps, and a validation rollout runs the
network body once for all its periods and only the head period by period.

The CNN's 1×3 convolution runs, on a CPU, as a compiled loop with its ReLU
(:mod:`._eiie_kernels`, forward and weight gradient), elsewhere as one matrix product over
chunks of 16 outputs of each asset's window (a small banded matrix shared by all chunks);
the full-width convolution is a dense matrix product. The training tensor is kept in the
network's own layout (:meth:`CNN.prepare`), so a batch is a slice. Same function as torch's
convolutions, several times faster on a CPU at these shapes.

Defaults for daily data (PGPortfolio's were set for 30-minute crypto periods): window 50,
batch 64 consecutive days, 2 000 Adam steps at 10⁻³, ``sample_bias=0.005`` (a batch ends on
average 200 trading days before the end of the training data, about ten months: the
geometric weight of a period halves every ~140 days), commission 0.25 % as in the paper.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data._yahoo import FIELDS
from ..exceptions import InputError, ModelStateError, ShapeError
from ._base import BaseAllocator, date_label
from ._persistence import load_device, load_folder, module_state, save_folder
from ._training import derive_seed, resolve_device, seeded
from ._validation import check_columns, check_prices

__all__ = [
    "EIIE",
    "NETWORKS",
    "COST_REFERENCES",
    "price_tensor",
    "geometric_starts",
    "eiie_reward",
    "batch_previous",
]

NETWORKS = ("cnn", "lstm", "rnn")
COST_REFERENCES = ("batch", "pvm")
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
        Divide every value by the asset's close (PGPortfolio) or open at the window's last
        row: either way the close-to-close moves of the window survive.
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
    elif normalize == "open":
        if open_index is None:
            raise InputError("normalize='open' needs open_index, the position of the open feature")
        base = features[open_index, ends, :][None, :, None, :]  # (1, k, 1, n)
    else:
        raise InputError(f"normalize must be 'close' or 'open', got {normalize!r}")
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


def batch_previous(weights: Any, first: Any, relatives: Any) -> Any:
    """Held weights of a batch of consecutive periods, from the batch's own outputs.

    Row 0 is ``first`` (the PVM's drifted row); row ``i >= 1`` is output ``i - 1`` drifted
    by its next relatives, ``w_{i-1} ∘ y_i / (w_{i-1}ᵀ y_i)``, so a cost term on it
    differentiates through the previous output too (PGPortfolio's default loss).

    Parameters
    ----------
    weights : torch.Tensor, shape (B, n + 1)
        Outputs for consecutive periods, cash first.
    first : torch.Tensor, shape (1, n + 1)
        Weights held before the batch's first period.
    relatives : torch.Tensor, shape (B, n + 1)
        Row ``i``: the relatives that output ``i`` earns (cash first).

    Returns
    -------
    torch.Tensor, shape (B, n + 1)
    """
    import torch

    grown = weights[:-1] * relatives[:-1]
    drifted = grown / grown.sum(dim=1, keepdim=True)
    return torch.cat([first.to(weights.dtype), drifted], dim=0)


def training_reward(
    weights: Any,
    previous: Any,
    relatives: Any,
    commission: float,
    kind: str = "log",
    cost_reference: str = "batch",
) -> Any:
    """Compute the reward a training step maximizes (EIIE's fits and the bench's floor).

    ``eiie_reward(weights, held, relatives, ...)`` with ``held = batch_previous(weights,
    previous[:1], relatives)`` (``cost_reference="batch"``) or ``held = previous``
    (``"pvm"``). On a CPU one compiled pass forwards and one backwards
    (:func:`._eiie_kernels.reward_forward`), instead of some twenty small torch operations
    and their backward nodes; elsewhere those operations.

    Parameters
    ----------
    weights : torch.Tensor, shape (B, n + 1)
        Outputs of consecutive periods, cash first.
    previous : torch.Tensor, shape (B, n + 1)
        Held (drifted PVM) weights of each period; only row 0 is read with ``"batch"``.
    relatives : torch.Tensor, shape (B, n + 1)
    commission : float
    kind : {"log", "simple"}
    cost_reference : {"batch", "pvm"}

    Returns
    -------
    torch.Tensor, scalar
    """
    batch = cost_reference == "batch"
    if weights.device.type == "cpu":
        return _modules()["reward"].apply(
            weights, previous, relatives, float(commission), kind == "log", batch
        )
    held = batch_previous(weights, previous[:1], relatives) if batch else previous
    return eiie_reward(weights, held, relatives, float(commission), kind)


# ------------------------------------------------------------------------- networks
@functools.cache
def _modules() -> dict[str, type]:
    import torch
    from torch import nn

    from ._eiie_kernels import (
        conv1_relu,
        conv1_relu_grad,
        head_backward,
        head_forward,
        reward_backward,
        reward_forward,
    )

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
            z = torch.cat([h[..., 0].transpose(1, 2), prev[..., None]], dim=2)  # (B, n, C+1)
            # the 1×1 convolution, as one matrix product
            logits = torch.nn.functional.linear(z, self.conv.weight.reshape(1, -1), self.conv.bias)
            cash = self.cash_bias.expand(logits.shape[0], 1)
            return torch.softmax(torch.cat([cash, logits[..., 0]], dim=1), dim=1)

    class Conv1ReLU(torch.autograd.Function):
        """The compiled 1×3 convolution with ReLU (CPU): rows (R, F, L) -> (R, 2, L - 2)."""

        @staticmethod
        def forward(ctx: Any, rows: Any, weight: Any, bias: Any) -> Any:
            w = weight.detach().contiguous()
            b = bias.detach().contiguous()
            out = rows.new_empty((rows.shape[0], 2, rows.shape[2] - 2))
            conv1_relu(rows.numpy(), w.numpy(), b.numpy(), out.numpy())
            ctx.save_for_backward(rows, out)
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            rows, out = ctx.saved_tensors
            gw = rows.new_empty((2, rows.shape[1], 3))
            gb = rows.new_empty((2,))
            conv1_relu_grad(
                rows.numpy(), out.numpy(), grad.contiguous().numpy(), gw.numpy(), gb.numpy()
            )
            return None, gw, gb

    class HeadReLU(torch.autograd.Function):
        """conv2's ReLU and :class:`Head` as one compiled function (CPU).

        ``(h (B n, C) pre-activations, previous (B, n), 1×1 weights, bias, cash bias) ->
        (B, n + 1)``: the same map as ``Head(relu(h))`` in two compiled loops instead of
        a dozen small torch operations and their backward nodes.
        """

        @staticmethod
        def forward(ctx: Any, h: Any, prev: Any, weight: Any, bias: Any, cash: Any) -> Any:
            B, n = prev.shape
            wh = weight.detach().reshape(-1).contiguous()
            bh, cb = bias.detach().contiguous(), cash.detach().contiguous()
            prev = prev.detach().contiguous()
            out = h.new_empty((B, n + 1))
            head_forward(h.detach().numpy(), prev.numpy(), wh.numpy(), bh.numpy(), cb.numpy(),
                         out.numpy())  # fmt: skip
            ctx.save_for_backward(h, prev, wh, out)
            ctx.weight_shape = weight.shape
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            h, prev, wh, out = ctx.saved_tensors
            gh = torch.empty_like(h)
            gwh, gbh, gcash = torch.empty_like(wh), wh.new_empty(1), wh.new_empty(1)
            need_prev = ctx.needs_input_grad[1]
            gprev = prev.new_empty(prev.shape if need_prev else (0, prev.shape[1]))
            head_backward(h.numpy(), prev.numpy(), wh.numpy(), out.numpy(),
                          grad.contiguous().numpy(), gh.numpy(), gwh.numpy(), gbh.numpy(),
                          gcash.numpy(), gprev.numpy())  # fmt: skip
            return (gh, gprev if need_prev else None, gwh.reshape(ctx.weight_shape), gbh,
                    gcash)  # fmt: skip

    class Reward(torch.autograd.Function):
        """:func:`training_reward` on a CPU: one compiled pass each way."""

        @staticmethod
        def forward(ctx: Any, w: Any, previous: Any, y: Any, commission: float, log: bool,
                    batch: bool) -> Any:  # fmt: skip
            wd = w.detach().contiguous()
            yd = y.detach().to(wd.dtype).contiguous()
            prev = previous.detach().to(wd.dtype)
            held = wd.new_empty(wd.shape) if batch else prev.contiguous().clone()
            first = prev[0].contiguous()
            mu, a = np.empty(wd.shape[0]), np.empty(wd.shape[0])
            value = reward_forward(wd.numpy(), first.numpy(), held.numpy(), yd.numpy(),
                                   commission, log, batch, mu, a)  # fmt: skip
            ctx.save_for_backward(wd, held, yd)
            ctx.consts = (commission, log, batch, mu, a)
            return wd.new_tensor(value)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            wd, held, yd = ctx.saved_tensors
            commission, log, batch, mu, a = ctx.consts
            gw = torch.empty_like(wd)
            reward_backward(wd.numpy(), held.numpy(), yd.numpy(), commission, log, batch, mu, a,
                            float(grad), gw.numpy())  # fmt: skip
            return gw, None, None, None, None, None

    class CNN(nn.Module):
        """EIIE convolutional network: (B, F, n, L) and (B, n) -> (B, n + 1)."""

        def __init__(self, n_features: int, window: int, use_previous: bool) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(n_features, 2, kernel_size=(1, 3))
            self.conv2 = nn.Conv2d(2, 20, kernel_size=(1, window - 2))
            self.head = Head(20, use_previous)
            #: CPU: the compiled first layer (:mod:`._eiie_kernels`) on windows laid out
            #: (B, n, 1, F, L); elsewhere (CUDA) the chunked matrix product
            self.cpu_kernel = True
            self.chunk = min(CNN_CHUNK, int(window) - 2)
            self.n_chunks = -(-(int(window) - 2) // self.chunk)
            self.register_buffer(
                "chunk_index", _chunk_index(n_features, self.chunk), persistent=False
            )

        def prepare(self, x: Any) -> Any:
            """Lay the windows (B, F, n, L) out as the first layer reads them, contiguous.

            On a CPU (the compiled layer) each asset's rows, (B, n, 1, F, L). Otherwise
            chunk rows, (B, n, m, F, C + 2): each asset's window cut into ``m`` overlapping
            pieces of ``C + 2`` periods (``C`` outputs of the 1×3 convolution each; the
            last piece padded with zeros). Training keeps its whole price tensor in this
            layout, so a batch is a slice.
            """
            if self._compiled(x):
                return x.permute(0, 2, 1, 3).contiguous()[:, :, None]  # (B, n, 1, F, L)
            b, f, n, length = x.shape
            c, m = self.chunk, self.n_chunks
            pad = m * c + 2 - length
            if pad:
                x = torch.nn.functional.pad(x, (0, pad))
            pieces = x.unfold(3, c + 2, c)  # (B, F, n, m, C + 2) view
            return pieces.permute(0, 2, 3, 1, 4).contiguous()

        def body(self, x: Any, pre_activation: bool = False) -> Any:
            """Features of each asset, (B, F, n, L) or prepared rows -> (B, 20, n, 1).

            ``pre_activation`` (the compiled CPU path only): conv2's output before its
            ReLU, one row per (member, asset), (B n, 20), as :class:`HeadReLU` reads it.

            The 1×3 convolution with its ReLU is the compiled loop on a CPU, elsewhere
            one matrix product of the chunk rows (see :meth:`prepare`) with a small banded
            matrix shared by all chunks; the full-width one is a dense product over each
            asset's flattened outputs. The same function as the two convolutions, several
            times faster on a CPU than torch's convolution kernels at these odd shapes
            (``bench/models.py``).
            """
            if x.dim() == 4:
                x = self.prepare(x)
            out = self.conv2.out_channels
            if self._compiled(x):  # (B, n, 1, F, L)
                b, n, f, length = x.shape[0], x.shape[1], x.shape[3], x.shape[4]
                h1 = Conv1ReLU.apply(
                    x.reshape(b * n, f, length), self.conv1.weight.reshape(2, f, 3), self.conv1.bias
                )  # (B n, 2, L - 2): conv2's input layout
                w2 = self.conv2.weight.reshape(out, -1)
                h2 = torch.addmm(self.conv2.bias, h1.reshape(b * n, -1), w2.t())
                if pre_activation:  # (B n, 20) for the compiled head
                    return h2
                return h2.relu_().reshape(b, n, -1).permute(0, 2, 1)[..., None]
            b, n, m = x.shape[:3]
            k = x.shape[3] * x.shape[4]
            c = self.chunk
            w1 = self.conv1.weight.reshape(-1)
            band = torch.cat([w1, w1.new_zeros(1)])[self.chunk_index]  # (F (C+2), 2 C)
            bias1 = self.conv1.bias.repeat_interleave(c)
            # ReLU in place on the products (their backward needs only the factors): no
            # second (B n m, 2 C) tensor, about a sixth of the step on a CPU
            h1 = torch.addmm(bias1, x.reshape(-1, k), band).relu_()  # (B n m, 2 C)
            w2 = self.conv2.weight.reshape(out, 2, -1)
            spare = m * c - w2.shape[-1]
            if spare:  # padded outputs of the last chunk meet zero weights
                w2 = torch.nn.functional.pad(w2, (0, spare))
            w2 = w2.reshape(out, 2, m, c).permute(0, 2, 1, 3).reshape(out, -1)
            h2 = torch.addmm(self.conv2.bias, h1.reshape(b * n, -1), w2.t()).relu_()
            return h2.reshape(b, n, -1).permute(0, 2, 1)[..., None]

        def _compiled(self, x: Any) -> bool:
            return bool(self.cpu_kernel) and x.device.type == "cpu"

        def forward(self, x: Any, previous: Any) -> Any:
            if x.dim() == 4:
                x = self.prepare(x)
            if self._compiled(x):  # conv2's ReLU and the head as one compiled function
                head = self.head
                prev = previous if head.use_previous else torch.zeros_like(previous)
                return HeadReLU.apply(self.body(x, pre_activation=True), prev,
                                      head.conv.weight, head.conv.bias, head.cash_bias)  # fmt: skip
            return self.head(self.body(x), previous)

    class Recurrent(nn.Module):
        """EIIE recurrent network (LSTM or plain RNN shared by the assets)."""

        def __init__(self, n_features: int, hidden: int, cell: str, use_previous: bool) -> None:
            super().__init__()
            kind = nn.LSTM if cell == "lstm" else nn.RNN
            self.rnn = kind(n_features, hidden, batch_first=True)
            self.head = Head(hidden, use_previous)

        def prepare(self, x: Any) -> Any:
            """Return the windows as they are: training keeps (B, F, n, L) for this network."""
            return x

        def body(self, x: Any) -> Any:
            """Last hidden state of each asset, (B, F, n, L) -> (B, H, n, 1)."""
            b, f, n, length = x.shape
            seq = x.permute(0, 2, 3, 1).reshape(b * n, length, f)
            out, _ = self.rnn(seq)
            return out[:, -1].reshape(b, n, -1).permute(0, 2, 1)[..., None]

        def forward(self, x: Any, previous: Any) -> Any:
            return self.head(self.body(x), previous)

    return {"cnn": CNN, "recurrent": Recurrent, "reward": Reward}


def _adam(net: Any, lr: float, weight_decay: float) -> Any:
    """Adam over ``net``'s parameters, torch's fused kernel on a CPU or CUDA device.

    The fused step updates every parameter in one kernel instead of a loop of small ones;
    on this small network it is a fifth of a training step on a CPU (``bench/models.py``).
    Same update rule, so the same trajectories up to rounding.
    """
    import torch

    device = next(net.parameters()).device.type
    fused = True if device in ("cpu", "cuda") else None
    return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)


CNN_CHUNK = 16
"""Outputs of the 1×3 convolution per chunk row (:meth:`CNN.prepare`)."""


def _chunk_index(n_features: int, chunk: int) -> Any:
    """Gather index of the banded matrix of a 2-filter 1×3 convolution over one chunk.

    Entry ``[f (C + 2) + j + k, c C + j]`` points at ``weight[c, f, 0, k]`` (flattened);
    every other entry at one extra zero after the weights.
    """
    import torch

    C, F = int(chunk), int(n_features)
    index = np.full((F * (C + 2), 2 * C), 2 * F * 3, dtype=np.int64)
    j = np.arange(C)
    for c in range(2):
        for f in range(F):
            for k in range(3):
                index[f * (C + 2) + j + k, c * C + j] = (c * F + f) * 3 + k
    return torch.as_tensor(index)


def _append(buffers: dict[str, Any], key: str, current: Any, new: Any, axis: int = 0) -> Any:
    """``concatenate([current, new], axis)`` as a view of a buffer with spare room.

    Amortized O(``new``) for a torch tensor or a NumPy array. ``buffers[key]`` holds the
    buffer; ``current`` is used in place when it starts that buffer with room for ``new``,
    otherwise it is copied into a new buffer twice its length (a tensor replaced meanwhile,
    e.g. a restored PVM, just starts one).
    """
    buf = buffers.get(key)
    n0, k = current.shape[axis], new.shape[axis]
    lead = (slice(None),) * axis
    rest = tuple(current.shape[:axis]) + tuple(current.shape[axis + 1 :])
    if (
        buf is None
        or _address(buf) != _address(current)
        or tuple(buf.shape[:axis]) + tuple(buf.shape[axis + 1 :]) != rest
        or buf.shape[axis] < n0 + k
    ):
        shape = (*current.shape[:axis], max(2 * n0, n0 + k, 16), *current.shape[axis + 1 :])
        if isinstance(current, np.ndarray):
            buf = np.empty(shape, dtype=current.dtype)
        else:
            buf = current.new_empty(shape)
        buf[(*lead, slice(0, n0))] = current
        buffers[key] = buf
    buf[(*lead, slice(n0, n0 + k))] = new
    return buf[(*lead, slice(0, n0 + k))]


def _address(a: Any) -> int:
    """Address of the first element of a NumPy array or a torch tensor."""
    if isinstance(a, np.ndarray):
        return int(a.__array_interface__["data"][0])
    return int(a.data_ptr())


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
        Steps between validation rollouts (and between reads of the mean reward).
    cost_reference : {"batch", "pvm"}
        Held weights of the training cost term: the batch's previous output drifted
        (PGPortfolio's default; the PVM row for the batch's first period) or every one
        from the PVM (detached).
    deterministic : bool
        Deterministic torch algorithms, cuDNN flags and the cuBLAS workspace setting
        during the fit (bit-identical reruns on CUDA; CPU fits are bit-identical anyway).

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : list of dict
        Mean training reward of each block of ``eval_every`` steps (``step``, ``reward``)
        and, with validation, ``val_log_growth``.
    best_step_ : int
        Step whose parameters were kept. On restore the Adam moments and the PVM rows
        are reset to their state at that step too (the discarded trajectory leaves
        nothing behind).
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
        cost_reference: str = "batch",
        deterministic: bool = False,
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
        self.cost_reference = cost_reference
        self.deterministic = deterministic

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
        if self.cost_reference not in COST_REFERENCES:
            raise InputError(
                f"cost_reference must be one of {COST_REFERENCES}, got {self.cost_reference!r}"
            )
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

    # ------------------------------------------------------------ device state
    def _build_state(self, feats: np.ndarray) -> None:
        """Put the price tensor of every period, the relatives and a PVM on the device."""
        import torch

        self._grow_buffers: dict[str, Any] = {}
        self._feats = feats
        dev, L = self._device_, int(self.window)
        T, n = feats.shape[1], feats.shape[2]
        close = feats[0]
        rel = np.ones((T, n + 1))
        rel[1:, 1:] = close[1:] / close[:-1]  # row t: relatives of period t, cash first
        self._y64 = torch.as_tensor(rel, dtype=torch.float64, device=dev)
        self._y32 = self._y64.float()
        # row j: the window ending at period j + L - 1 (a batch is a slice of it), in the
        # network's own input layout (the CNN's chunk rows), so a step copies nothing
        windows = torch.as_tensor(self._tensor(feats, np.arange(L - 1, T)), device=dev)
        self._x = self.module_.prepare(windows)
        self._pvm = torch.full((T, n + 1), 1.0 / (n + 1), dtype=torch.float64, device=dev)

    def _extend_state(self, new: np.ndarray) -> None:
        """Append the periods ``new`` (F, k, n) after those the device state holds.

        Every array grows inside a buffer with spare room (doubling when full), so a test
        day's append costs O(k), not a copy of the whole history: on chapter 13's 8 000
        days of history an online agent otherwise spent a third of its time in copies.
        """
        import torch

        dev, old = self._device_, self._feats.shape[1]
        k, n = new.shape[1], new.shape[2]
        T = old + k
        grow = self._grow_buffers
        self._feats = _append(grow, "feats", self._feats, new, axis=1)
        close = self._feats[0]
        rel = np.ones((k, n + 1))
        rel[:, 1:] = close[old:T] / close[old - 1 : T - 1]
        new_y = torch.as_tensor(rel, dtype=torch.float64, device=dev)
        self._y64 = _append(grow, "y64", self._y64, new_y)
        self._y32 = _append(grow, "y32", self._y32, new_y.float())
        ends = np.arange(max(old, int(self.window) - 1), T)
        if len(ends):
            windows = torch.as_tensor(self._tensor(self._feats, ends), device=dev)
            self._x = _append(grow, "x", self._x, self.module_.prepare(windows))
        pad = torch.full((k, n + 1), 1.0 / (n + 1), dtype=torch.float64, device=dev)
        self._pvm = _append(grow, "pvm", self._pvm, pad)

    @property
    def pvm_(self) -> np.ndarray:
        """The Portfolio-Vector Memory, shape (T, n + 1) (a host copy)."""
        self._check_fitted()
        return self._pvm.detach().cpu().numpy().copy()

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
        seed = derive_seed(self.random_state)
        with seeded(seed, device, deterministic=bool(self.deterministic)) as rng:
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
            self._opt = _adam(net, float(self.lr), float(self.weight_decay))
            self._build_state(feats)
            T = feats.shape[1]
            self.history_ = []
            self.batch_log_: list[tuple[int, int]] = []
            from tqdm import tqdm

            n_val = int(round(float(self.validation_fraction) * T))
            self._train_end = T - n_val  # batches use periods (and relatives) before this row
            if n_val and self._train_end - int(self.window) < int(self.batch_size) + 1:
                raise InputError("too few training periods left after the validation share")
            best, checkpoint, self.best_step_ = -np.inf, None, int(self.steps)
            every = max(1, int(self.eval_every))
            starts = self.batch_starts(int(self.steps))
            acc, count = torch.zeros((), device=device), 0
            bar = tqdm(
                range(int(self.steps)),
                disable=not self.progress,
                desc=f"EIIE[{self.network}]",
                leave=False,
            )
            for step in bar:
                acc = acc + self._train_step(int(starts[step]))
                count += 1
                if (step + 1) % every == 0 or step + 1 == int(self.steps):
                    rec: dict[str, Any] = {"step": step + 1, "reward": float(acc) / count}
                    acc, count = torch.zeros((), device=device), 0
                    if n_val:
                        v = self._validate(self._train_end - 1, T - 1)
                        rec["val_log_growth"] = v
                        if v > best:
                            best, self.best_step_ = v, step + 1
                            checkpoint = self._checkpoint()
                    self.history_.append(rec)
            if checkpoint is not None:
                self._restore(checkpoint)
            self._fit_train_end = self._train_end
            self._train_end = T
        net.eval()
        self._publish_last_batch()
        dates = close.index
        self.train_dates_ = {
            "first_price": date_label(dates[0]),
            "last_price": date_label(dates[-1]),
            "last_training_target": date_label(dates[len(dates) - n_val - 1]),
            "validation_first_target": date_label(dates[len(dates) - n_val]) if n_val else None,
        }
        self.seed_ = seed
        self.n_periods_ = int(T)
        return self

    def train_more(self, steps: int) -> EIIE:
        """Take ``steps`` more gradient steps on the fit's training periods.

        The same trajectory as a longer fit without checkpoint choice: the same batch
        sampler, Adam state and PVM continue (validation periods stay untouched). The
        training-budget study evaluates one long run at several step counts this way.

        Returns
        -------
        EIIE
            ``self``.
        """
        import torch

        self._check_fitted()
        if not hasattr(self, "_opt") or not hasattr(self, "_fit_train_end"):
            raise ModelStateError("train_more needs a model fitted in this session")
        T = self._feats.shape[1]
        self._train_end = self._fit_train_end
        every = max(1, int(self.eval_every))
        done = int(self.history_[-1]["step"]) if self.history_ else 0
        acc, count = torch.zeros((), device=self._device_), 0
        self.module_.train()
        try:
            for i, s in enumerate(self.batch_starts(int(steps))):
                acc = acc + self._train_step(int(s))
                count += 1
                if (i + 1) % every == 0 or i + 1 == int(steps):
                    self.history_.append({"step": done + i + 1, "reward": float(acc) / count})
                    acc, count = torch.zeros((), device=self._device_), 0
        finally:
            self._train_end = T
            self.module_.eval()
        self._publish_last_batch()
        return self

    def rollout(self, prices: Any, held: Any = None) -> pd.DataFrame:
        """Weights the agent chooses period by period over ``prices``, holding its own.

        The network body runs once for all windows; the head runs period by period on
        the weights held after the last choice drifted by the period's relatives (the
        state the backtester hands it; drift does not depend on costs).

        Parameters
        ----------
        prices : DataFrame of closes, or mapping feature -> DataFrame
            At least ``window`` rows of the fitted assets.
        held : array-like, shape (n + 1,), optional
            Weights held before the first choice (default: all cash, the backtester's start).

        Returns
        -------
        pandas.DataFrame, shape (T - window + 1, n + 1)
            Row ``t`` (indexed by the price row's label): the weights chosen after the close
            of row ``t``, cash first.
        """
        import torch

        self._check_fitted()
        feats, close = self._stack(prices, self.min_predict_rows, fitting=False)
        L, T = int(self.window), feats.shape[1]
        dev = self._dev()
        x = torch.as_tensor(self._tensor(feats, np.arange(L - 1, T)), device=dev)
        rel = torch.as_tensor(feats[0, 1:] / feats[0, :-1], dtype=torch.float64, device=dev)
        h_all = torch.as_tensor(self._previous(held), dtype=torch.float64, device=dev)
        out = torch.empty((T - L + 1, h_all.shape[0]), dtype=torch.float64, device=dev)
        self.module_.eval()
        with torch.no_grad():
            body = self.module_.body(x)
            held_t = h_all
            for i in range(T - L + 1):
                w = self.module_.head(body[i : i + 1], held_t[1:][None].float())[0].double()
                w = w.clamp_min(0.0)
                w = w / w.sum()
                out[i] = w
                t = L - 1 + i
                if t < T - 1:
                    grown = w * torch.cat([rel.new_ones(1), rel[t]])
                    held_t = grown / grown.sum()
        return pd.DataFrame(
            out.cpu().numpy(), index=close.index[L - 1 :], columns=self._output_index()
        )

    def _checkpoint(self) -> dict[str, Any]:
        """Parameters, Adam state, PVM and last batch at this step (device copies)."""
        return {
            "module": {k: v.detach().clone() for k, v in self.module_.state_dict().items()},
            "optimizer": copy.deepcopy(self._opt.state_dict()),
            "pvm": self._pvm.clone(),
            "last": self._last,
        }

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Return to a checkpoint: parameters, Adam moments and the PVM rows."""
        self.module_.load_state_dict(checkpoint["module"])
        self._opt.load_state_dict(checkpoint["optimizer"])
        self._pvm = checkpoint["pvm"]
        self._last = checkpoint["last"]

    def _periods(self) -> tuple[int, int]:
        """First and last+1 period a batch may use (a window behind, a relative ahead)."""
        end = getattr(self, "_train_end", self._feats.shape[1])
        return int(self.window) - 1, min(end, self._feats.shape[1]) - 1

    def _validate(self, first: int, stop: int) -> float:
        """Mean log growth of a sequential rollout over periods ``first .. stop - 1``.

        The network body runs once for all periods; only the head (which reads the held
        weights) runs period by period.
        """
        import torch

        L, n = int(self.window), self._feats.shape[2]
        c = float(self.commission)
        dev = self._device_
        held = torch.full((n + 1,), 1.0 / (n + 1), dtype=torch.float64, device=dev)
        logs = []
        self.module_.eval()
        with torch.no_grad():
            h = self.module_.body(self._x[first - L + 1 : stop - L + 1])
            for i, t in enumerate(range(first, stop)):
                w = self.module_.head(h[i : i + 1], held[1:][None].float())[0].double()
                y = self._y64[t + 1]
                mu = 1.0 - c * (w[1:] - held[1:]).abs().sum()
                g = (w * y).sum()
                logs.append(torch.log(mu * g))
                held = w * y / g
        self.module_.train()
        return float(torch.stack(logs).mean())

    def batch_starts(self, count: int) -> np.ndarray:
        """Draw batch starts over the data the model holds (see :func:`geometric_starts`)."""
        lo, hi = self._periods()
        n_starts = hi - lo - int(self.batch_size) + 1
        return lo + geometric_starts(self._rng, n_starts, count, float(self.sample_bias))

    def _train_step(self, s: int) -> Any:
        """One gradient step on the batch of periods ``s .. s + batch_size - 1``.

        Returns the batch's reward as a detached device scalar (no host sync).
        """
        B, L = int(self.batch_size), int(self.window)
        self.batch_log_.append((s, self._feats.shape[1]))  # start, rows held then
        x = self._x[s - L + 1 : s - L + 1 + B]  # windows ending at t = s .. s + B - 1
        # PVM: what period t reads is what t-1 wrote, drifted by the prices of period t
        before = self._pvm[s - 1 : s - 1 + B].clone()
        y_prev = self._y64[s : s + B]  # relatives of periods t (cash first)
        drifted = before * y_prev
        drifted = drifted / drifted.sum(dim=1, keepdim=True)
        prev_t = drifted.float()
        w = self.module_(x, prev_t[:, 1:])  # (B, n + 1)
        yt = self._y32[s + 1 : s + 1 + B]  # next relatives y_{t+1}
        reward = training_reward(
            w, prev_t, yt, float(self.commission), self.reward, self.cost_reference
        )
        self._opt.zero_grad(set_to_none=True)
        (-reward).backward()
        self._opt.step()
        written = w.detach().double()
        written = written / written.sum(dim=1, keepdim=True)
        self._pvm[s : s + B] = written
        self._last = (s, before, y_prev, drifted, written)
        return reward.detach()

    def _publish_last_batch(self) -> None:
        """Copy the last mini-batch's record to the host (once, after training)."""
        last = getattr(self, "_last", None)
        if last is None:
            return
        s, before, y_prev, drifted, written = last
        B = int(self.batch_size)
        self.last_batch_ = {
            "periods": np.arange(s, s + B),
            "pvm_read": before.cpu().numpy(),  # PVM rows t - 1 as read
            "relatives_read": y_prev.cpu().numpy(),  # relatives of periods t (cash first)
            "previous": drifted.cpu().numpy(),  # what the network was given
            "written": written.cpu().numpy(),  # what it wrote for periods t
        }

    # ------------------------------------------------------------ online learning
    def update_relatives(self, relatives: np.ndarray) -> None:
        """Append newly seen close relatives, then take ``online_steps`` gradient steps.

        Parameters
        ----------
        relatives : numpy.ndarray, shape (k, n)
            Close relatives after the last period the model holds (only closes: the
            backtester's policy path).

        Raises
        ------
        ModelStateError
            The model was loaded from a folder without its training state (price history,
            PVM, optimizer), so it cannot learn online.
        """
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)
        if rel.size == 0:
            return
        if not hasattr(self, "_opt"):
            raise ModelStateError(
                "this EIIE was loaded without its training state (price history, PVM, Adam "
                "moments), so it cannot learn online; save it with training_state=True or "
                "set online_steps=0"
            )
        if self._feats.shape[0] != 1:
            raise InputError("online learning through the backtester supports features=('close',)")
        last = self._feats[0, -1]
        new = last * np.cumprod(rel, axis=0)
        self._extend_state(new[None])
        self._train_end = self._feats.shape[1]
        if int(self.online_steps) and self._feats.shape[1] - 1 - (int(self.window) - 1) >= int(
            self.batch_size
        ):
            self.module_.train()
            for s in self.batch_starts(int(self.online_steps)):
                self._train_step(int(s))
            self.module_.eval()
            self._publish_last_batch()

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
            Weights held now, cash first (default: all cash; ``portfolio-lab predict``
            requires them explicitly, since the agent trades from what it holds).

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
        if len(tuple(self.features)) != 1:
            raise InputError("the array path supports features=('close',) only; call predict")
        closes = np.vstack([np.ones((1, rel.shape[1])), np.cumprod(rel, axis=0)])
        return self._weights(closes[None], self._previous(previous))

    # ------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str], *, training_state: bool = True) -> Path:
        """Write the fitted agent to the folder ``path`` (safetensors + JSON, no pickle).

        Parameters
        ----------
        path : path-like
        training_state : bool
            Also write what online learning needs: the price history, the PVM, the Adam
            moments and the batch sampler's state (a loaded agent then learns online
            exactly as the saved one would).

        Returns
        -------
        pathlib.Path
        """
        self._check_fitted()
        params = self.get_params()
        params["features"] = list(params["features"])
        tensors: dict[str, Any] = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        meta: dict[str, Any] = {
            "class": type(self).__name__,
            "params": params,
            "assets": self.assets_,
            "train_dates": self.train_dates_,
            "history": self.history_,
            "seed": self.seed_,
            "best_step": getattr(self, "best_step_", None),
            "training_state": False,
        }
        if training_state and hasattr(self, "_opt"):
            tensors["state.features"] = np.ascontiguousarray(self._feats)
            tensors["state.pvm"] = self._pvm
            opt = self._opt.state_dict()
            for i, st in opt["state"].items():
                for key, value in st.items():
                    tensors[f"optimizer.{i}.{key}"] = value
            meta["training_state"] = True
            meta["optimizer_groups"] = opt["param_groups"]
            meta["sampler_state"] = self._rng.bit_generator.state
        return save_folder(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | None = None) -> EIIE:
        """Read an agent written by :meth:`save`.

        With its training state saved, the loaded agent also learns online (the same
        steps as the saved one would take); without it, :meth:`update_relatives` raises
        :class:`~portfolio_lab.exceptions.ModelStateError`.
        """
        import torch

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
        dev = resolve_device(device)
        model.module_ = net.to(dev).eval()
        model.assets_ = [str(a) for a in meta["assets"]]
        model.history_ = list(meta.get("history", []))
        model.train_dates_ = dict(meta.get("train_dates", {}))
        model.seed_ = meta.get("seed")
        model.best_step_ = meta.get("best_step")
        model._device_ = dev
        if meta.get("training_state"):
            try:
                hist = tensors["state.features"].numpy().astype(float)
                model._build_state(hist)
                model._pvm = tensors["state.pvm"].to(device=dev, dtype=torch.float64)
                opt = _adam(model.module_, float(model.lr), float(model.weight_decay))
                st: dict[int, dict[str, Any]] = {}
                for name, value in tensors.items():
                    if name.startswith("optimizer."):
                        _, i, key = name.split(".", 2)
                        st.setdefault(int(i), {})[key] = value
                opt.load_state_dict({"state": st, "param_groups": meta["optimizer_groups"]})
                model._opt = opt
                rng = np.random.default_rng()
                rng.bit_generator.state = meta["sampler_state"]
                model._rng = rng
                model._train_end = hist.shape[1]
                model.batch_log_ = []
            except (KeyError, TypeError, RuntimeError, ValueError) as err:
                raise ModelFileError(f"{path} holds an unreadable training state: {err}") from err
        else:
            model._feats = np.ones((len(feats), 1, len(model.assets_)))
        return model
