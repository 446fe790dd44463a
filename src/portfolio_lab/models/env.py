"""A Gymnasium environment on the package's own simulator: one cost formula, one past.

:class:`PortfolioEnv` is a thin adapter over the backtester's bookkeeping
(:mod:`portfolio_lab.backtest.engine`): period ``t`` is the engine's period ``t``, the
cost of a rebalancing is the backtester's exact remainder factor
(:func:`portfolio_lab.backtest.costs.remainder_factor`), and the observation is the EIIE
price tensor (:func:`portfolio_lab.models.eiie.price_tensor`) of the window ending at price
row ``t``, so an episode played with a weight schedule earns, period by period, the net
returns :func:`portfolio_lab.backtest.run` gives that schedule.

Timeline of one step at period ``t`` (prices ``p_0 .. p_T``, relatives ``x_t = p_{t+1} / p_t``):

1. the agent has seen the observation of period ``t``: the price tensor of rows
   ``t - window + 1 .. t`` and the weights ``w'_t`` held after the last drift;
2. its action becomes the target ``w_t`` (softmax, below); rebalancing keeps the fraction
   ``μ_t`` of wealth;
3. the market moves by ``x_t``: reward ``μ_t w_tᵀ x_t − 1`` (``reward="simple"``) or
   ``log(μ_t w_tᵀ x_t)`` (``reward="log"``), wealth ``W_t = W_{t−1} μ_t w_tᵀ x_t``, held
   weights ``w'_{t+1} = w_t ⊙ x_t / (w_tᵀ x_t)``; the next observation is period ``t + 1``'s.

The observation of period ``t`` is built from price rows ``<= t`` only (the feature array is
cut at row ``t`` before the tensor is formed); the reward of period ``t`` reads row ``t + 1``,
the outcome of the action, as a reward must.

Reward scale: one period's net simple return (a fraction: ``0.001`` is 0.1 % a day), or
its log; unscaled. Agents that want another scale wrap the environment
(:class:`~portfolio_lab.models.SB3Allocator` multiplies by its ``reward_scale``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as err:  # pragma: no cover - the rl extra is part of make install
    raise ImportError(
        "portfolio_lab.models.env needs gymnasium: pip install 'portfolio-lab[rl]'"
    ) from err

from ..backtest.costs import check_fees, remainder_factor
from ..data._yahoo import FIELDS
from ..exceptions import InputError, InsufficientHistoryError, NonFiniteError, ShapeError
from ._validation import check_prices
from .eiie import price_tensor

__all__ = [
    "ACTION_SCALE",
    "PortfolioEnv",
    "action_to_weights",
    "weights_to_action",
    "stack_features",
    "observation_space",
    "REWARDS",
]

#: Logits are ``ACTION_SCALE * a`` for an action ``a`` clipped to ``[-1, 1]``: one asset can
#: then take up to ``1 / (1 + n e^{-10})`` of the portfolio (0.999 with 20 others), and the
#: zero action is the uniform portfolio over the outputs.
ACTION_SCALE = 5.0
REWARDS = ("simple", "log")


def action_to_weights(action: Any) -> np.ndarray:
    """Map an action to the simplex: ``softmax(ACTION_SCALE * clip(action, -1, 1))``.

    Parameters
    ----------
    action : array_like, shape (m,) or (k, m)
        Real numbers (any finite values: outside ``[-1, 1]`` they are clipped first).

    Returns
    -------
    numpy.ndarray, same shape, float64
        Non-negative weights summing to one along the last axis.

    Raises
    ------
    NonFiniteError
        The action holds NaN or infinite values.
    """
    a = np.asarray(action, dtype=float)
    if not np.isfinite(a).all():
        raise NonFiniteError(f"the action holds NaN or infinite values: {a}")
    z = ACTION_SCALE * np.clip(a, -1.0, 1.0)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def weights_to_action(weights: Any) -> np.ndarray:
    """Inverse of :func:`action_to_weights` for weights it can reach.

    Parameters
    ----------
    weights : array_like, shape (m,) or (k, m)
        Positive weights summing to one whose log-ratios to their geometric mean lie within
        ``±ACTION_SCALE``.

    Returns
    -------
    numpy.ndarray, same shape
        ``(log w − mean log w) / ACTION_SCALE``, inside ``[-1, 1]``.

    Raises
    ------
    InputError
        A weight is not positive, or the weights are too concentrated to be reached.
    """
    w = np.asarray(weights, dtype=float)
    if not np.isfinite(w).all() or (w <= 0).any():
        raise InputError("weights_to_action needs finite, strictly positive weights")
    lw = np.log(w)
    a = (lw - lw.mean(axis=-1, keepdims=True)) / ACTION_SCALE
    if np.abs(a).max() > 1.0:
        raise InputError(
            "these weights are too concentrated for the action box (a log-ratio to the "
            f"geometric mean exceeds {ACTION_SCALE:g})"
        )
    return a


def stack_features(
    prices: Any, features: Sequence[str], *, min_rows: int, what: str = "prices"
) -> tuple[np.ndarray, pd.DataFrame]:
    """Validate closes (a DataFrame) or a mapping feature -> DataFrame into (F, T + 1, n).

    Parameters
    ----------
    prices : pandas.DataFrame or mapping of str to DataFrame
        Closes, or one frame per feature on the same dates and assets.
    features : sequence of str
        ``"close"`` first.
    min_rows : int
        Fewest price rows accepted.
    what : str
        Name used in messages.

    Returns
    -------
    tuple
        ``(array (F, T + 1, n), closes frame)``.

    Raises
    ------
    NonFiniteError, InvalidPricesError, InsufficientHistoryError, ShapeError, InputError
        See :func:`portfolio_lab.models._validation.check_prices`.
    """
    feats = tuple(str(f) for f in features)
    if not feats or feats[0] != "close" or len(set(feats)) != len(feats):
        raise InputError(f"features must start with 'close' and not repeat, got {feats}")
    unknown = [f for f in feats if f not in FIELDS]
    if unknown:
        raise InputError(f"unknown features {unknown}; use some of {FIELDS}")
    need = "one window and at least one period after it"
    if isinstance(prices, Mapping):
        missing = [f for f in feats if f not in prices]
        if missing:
            raise InputError(f"the price mapping lacks the features {missing}")
        close = check_prices(prices["close"], min_rows=min_rows, what=f"close {what}", need=need)
        frames = []
        for f in feats:
            fr = check_prices(prices[f], min_rows=min_rows, what=f"{f} {what}", need=need)
            if not fr.index.equals(close.index) or list(fr.columns) != list(close.columns):
                raise ShapeError(f"the {f} frame is not on the close frame's dates and assets")
            frames.append(fr)
    else:
        if feats != ("close",):
            raise InputError(f"features={feats} need a mapping feature -> DataFrame of prices")
        close = check_prices(prices, min_rows=min_rows, what=what, need=need)
        frames = [close]
    return np.stack([f.to_numpy() for f in frames]), close


def observation_space(
    n_features: int, n_assets: int, window: int, n_outputs: int
) -> tuple[Any, Any]:
    """Return the observation and action boxes of an environment of this shape.

    Parameters
    ----------
    n_features, n_assets, window : int
        Shape ``(F, n, window)`` of the price tensor.
    n_outputs : int
        Weights per portfolio (``n + 1`` with cash).

    Returns
    -------
    tuple
        ``(observation_space, action_space)``, both ``gymnasium.spaces.Box`` of float32.
    """
    n_tensor = n_features * n_assets * window
    low = np.concatenate([np.full(n_tensor, -1.0), np.zeros(n_outputs)])
    high = np.concatenate([np.full(n_tensor, np.inf), np.ones(n_outputs)])
    obs = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
    act = spaces.Box(-1.0, 1.0, shape=(n_outputs,), dtype=np.float32)
    return obs, act


def _period(value: Any, index: pd.Index, label: str) -> int:
    """Return a period number from an int or a date (the first price row on or after it)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{label} must be a period number or a date, got {value!r}") from err
    return int(index.searchsorted(stamp))


class PortfolioEnv(gym.Env):
    """Portfolio allocation over cash and ``n`` assets as a Gymnasium environment.

    Parameters
    ----------
    prices : pandas.DataFrame, shape (T + 1, n), or mapping feature -> DataFrame
        Positive, finite prices, oldest first (``T`` periods of price relatives).
    window : int
        Price rows per observation (the EIIE window).
    features : tuple of str
        Price features, ``"close"`` first (a mapping of frames beyond ``("close",)``).
    normalize : {"close", "open"}
        Divisor of the price tensor (:func:`~portfolio_lab.models.eiie.price_tensor`).
    commission : float
        Proportional cost per side (purchases and sales), in ``[0, 1)``.
    reward : {"simple", "log"}
        Net simple return of the period, or its log.
    cash : bool
        Whether the portfolio holds a cash asset (relative 1, first weight). Without it
        the weights cover the assets only, and the start is the backtester's implicit cash.
    start, end : int or date, optional
        Periods ``[start, end)`` of an episode (default ``window - 1`` and ``T``); a date
        means the first price row on or after it (period ``t``'s window ends at row ``t``).
    random_start : bool
        Draw each episode's first period uniformly in ``[start, end - 1]`` (from the
        generator seeded by ``reset(seed=...)``), instead of ``start``.
    seed : int, optional
        Seed of the first ``reset`` that is given none.

    Notes
    -----
    Observation: a flat ``float32`` box of ``F·n·window + m`` numbers, ``m = n + cash``:
    first the price tensor of the window ending at the current period, shape
    ``(F, n, window)`` in C order (prices divided by the divisor, minus one; bounded
    below by −1), then the weights held after the last drift (``m`` numbers in
    ``[0, 1]``, cash first; all cash, or all zeros without a cash asset, at the start
    unless ``reset(options={"weights": w})``). :meth:`split_observation` undoes the layout.

    Action: a box ``[-1, 1]^m``; the target weights are
    ``softmax(ACTION_SCALE · clip(a, -1, 1))`` (:func:`action_to_weights`), so any finite
    output of any policy is a valid long-only portfolio. NaN raises
    :class:`~portfolio_lab.exceptions.NonFiniteError`.

    Episode: ``terminated`` is True only if wealth reaches zero (a terminal state of the
    investor's problem; with long-only weights, positive prices and a cost rate below one
    it cannot happen). The end of the period range is a time limit outside the problem (the
    investor would go on investing), so it sets ``truncated``: agents bootstrap there.

    ``info`` of a step: ``period`` (the ``t`` just played), ``date`` (of price row
    ``t + 1``), ``weights`` (the target ``w_t``), ``held`` (``w'_t``), ``turnover``
    (the backtester's one-way turnover), ``remainder`` (``μ_t``), ``cost`` (wealth
    paid, ``W_{t−1}(1 − μ_t)``), ``net_return``, ``log_return`` and ``wealth``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        prices: Any,
        *,
        window: int = 50,
        features: Sequence[str] = ("close",),
        normalize: str = "close",
        commission: float = 0.0025,
        reward: str = "simple",
        cash: bool = True,
        start: Any = None,
        end: Any = None,
        random_start: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        window = int(window)
        if window < 1:
            raise InputError(f"window must be at least 1 price row, got {window}")
        if normalize not in ("close", "open"):
            raise InputError(f"normalize must be 'close' or 'open', got {normalize!r}")
        if reward not in REWARDS:
            raise InputError(f"reward must be one of {REWARDS}, got {reward!r}")
        self.commission = check_fees(commission, commission)[0]
        feats, close = stack_features(prices, features, min_rows=window + 1)
        names = tuple(str(f) for f in features)
        if normalize == "open" and "open" not in names:
            raise InputError("normalize='open' needs the 'open' feature")
        self._open_index = names.index("open") if normalize == "open" else None
        self.window = window
        self.features = names
        self.normalize = normalize
        self.reward_kind = reward
        self.cash = bool(cash)
        self.random_start = bool(random_start)
        self._feats = feats
        self._close = feats[0]
        self.dates = close.index
        self.assets = [str(c) for c in close.columns]
        n_periods = feats.shape[1] - 1
        self.n_periods = n_periods
        lo = window - 1 if start is None else _period(start, close.index, "start")
        hi = n_periods if end is None else _period(end, close.index, "end")
        if lo < window - 1:
            raise InsufficientHistoryError(
                f"start={lo} is before period {window - 1}, the first with a full window of "
                f"{window} rows"
            )
        if hi > n_periods or lo >= hi:
            raise InsufficientHistoryError(
                f"the episode range [{lo}, {hi}) is empty or runs past the {n_periods} periods "
                f"of the prices (window {window}); pass more rows or a shorter window"
            )
        self.start, self.end = lo, hi
        self._seed = seed
        self._seeded = False
        n = len(self.assets)
        self.n_outputs = n + int(self.cash)
        self.observation_space, self.action_space = observation_space(
            len(names), n, window, self.n_outputs
        )
        self._t = lo
        self._held = self._cash_position()
        self._wealth = 1.0

    # ----------------------------------------------------------------- helpers
    def _cash_position(self) -> np.ndarray:
        held = np.zeros(self.n_outputs)
        if self.cash:
            held[0] = 1.0
        return held

    def _tensor(self, t: int) -> np.ndarray:
        past = self._feats[:, : t + 1]  # rows 0 .. t: nothing after period t is read
        return price_tensor(past, np.array([t]), self.window, self.normalize, 0, self._open_index)[
            0
        ]

    def _observation(self) -> np.ndarray:
        return np.concatenate(
            [self._tensor(self._t).ravel(), self._held.astype(np.float32)]
        ).astype(np.float32)

    def split_observation(self, observation: Any) -> tuple[np.ndarray, np.ndarray]:
        """Split a flat observation into its price tensor and held weights.

        Parameters
        ----------
        observation : array_like, shape (F·n·window + m,)

        Returns
        -------
        tuple
            ``(tensor (F, n, window), weights (m,))``.
        """
        obs = np.asarray(observation)
        k = len(self.features) * len(self.assets) * self.window
        return obs[:k].reshape(len(self.features), len(self.assets), self.window), obs[k:]

    def relatives(self, t: int) -> np.ndarray:
        """Price relatives of period ``t`` (cash first when the portfolio has cash)."""
        x = self._close[t + 1] / self._close[t]
        return np.concatenate([[1.0], x]) if self.cash else x

    @property
    def period(self) -> int:
        """Period the environment is at (its next action trades at this period)."""
        return self._t

    def _info(self) -> dict[str, Any]:
        return {
            "period": self._t,
            "date": str(self.dates[self._t]),
            "held": self._held.copy(),
            "wealth": self._wealth,
        }

    # ------------------------------------------------------------------- API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: all cash (or ``options["weights"]``), wealth one.

        Parameters
        ----------
        seed : int, optional
            Seeds the environment's generator (random starts) and the action space.
        options : dict, optional
            ``"weights"``: holdings before the first trade (``m`` non-negative numbers
            summing to one, or zeros without cash); ``"start"``: first period (overrides
            the range's start and ``random_start``).

        Returns
        -------
        tuple
            ``(observation, info)``.
        """
        if seed is None and not self._seeded:
            seed = self._seed
        super().reset(seed=seed)
        if seed is not None:
            self._seeded = True
            self.action_space.seed(int(seed))
        options = dict(options or {})
        if "start" in options:
            t0 = int(options["start"])
            if not self.start <= t0 < self.end:
                raise InputError(f"options['start']={t0} is outside [{self.start}, {self.end})")
        elif self.random_start:
            t0 = int(self.np_random.integers(self.start, self.end))
        else:
            t0 = self.start
        held = self._cash_position()
        if options.get("weights") is not None:
            held = np.asarray(options["weights"], dtype=float)
            total = held.sum()
            ok_sum = abs(total - 1.0) < 1e-9 or (not self.cash and abs(total) < 1e-12)
            if held.shape != (self.n_outputs,) or not np.isfinite(held).all():
                raise InputError(f"options['weights'] must be {self.n_outputs} finite numbers")
            if (held < 0).any() or not ok_sum:
                raise InputError("options['weights'] must be non-negative and sum to one")
        self._t, self._held, self._wealth = t0, held.copy(), 1.0
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade to the action's weights at the current period, then let the market move.

        Returns
        -------
        tuple
            ``(observation, reward, terminated, truncated, info)``.

        Raises
        ------
        ShapeError
            The action does not have ``m`` entries.
        NonFiniteError
            The action holds NaN or infinite values.
        InputError
            The episode is over (call ``reset``).
        """
        a = np.asarray(action, dtype=float)
        if a.shape != (self.n_outputs,):
            raise ShapeError(f"the action must have shape ({self.n_outputs},), got {a.shape}")
        if self._t >= self.end:
            raise InputError("the episode is over; call reset() first")
        w = action_to_weights(a)
        return self.step_weights(w)

    def step_weights(self, weights: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade to ``weights`` directly (a point of the simplex), as :meth:`step` does.

        For replaying a weight schedule exactly (the softmax cannot reach zero weights).
        """
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.n_outputs,) or not np.isfinite(w).all():
            raise NonFiniteError(f"weights must be {self.n_outputs} finite numbers, got {w}")
        if (w < -1e-12).any() or abs(w.sum() - 1.0) > 1e-9:
            raise InputError("weights must be non-negative and sum to one")
        if self._t >= self.end:
            raise InputError("the episode is over; call reset() first")
        t, held = self._t, self._held
        c = self.commission
        remainder = float(
            remainder_factor(held, w, buy_fee=c, sell_fee=c, cash_index=0 if self.cash else None)
        )
        x = self.relatives(t)
        gross = float(w @ x)
        growth = remainder * gross
        before = self._wealth
        self._wealth = before * growth
        turnover = 0.5 * (float(np.abs(w - held).sum()) + abs(float(held.sum() - w.sum())))
        self._held = w * x / gross
        self._t = t + 1
        net = growth - 1.0
        reward = net if self.reward_kind == "simple" else float(np.log(growth))
        terminated = not self._wealth > 0.0
        truncated = self._t >= self.end and not terminated
        info = {
            "period": t,
            "date": str(self.dates[t + 1]),
            "weights": w.copy(),
            "held": held.copy(),
            "turnover": turnover,
            "remainder": remainder,
            "cost": before * (1.0 - remainder),
            "net_return": net,
            "log_return": float(np.log(growth)),
            "wealth": self._wealth,
        }
        return self._observation(), float(reward), bool(terminated), bool(truncated), info
