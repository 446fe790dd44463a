"""The simulator: hand a policy only the past, apply costs, accumulate wealth.

Period ``t`` (one price relative ``x_t``, dated by the later of its two prices):

1. the policy sees ``history = x_0 .. x_{t-1}`` and the held weights ``w'_t`` and returns
   the target ``w_t``;
2. rebalancing from ``w'_t`` to ``w_t`` keeps the fraction ``μ_t`` of wealth
   (:mod:`portfolio_lab.backtest.costs`);
3. the market moves: ``W_t = W_{t-1} μ_t (w_tᵀ x_t)`` and ``w'_{t+1} = w_t ⊙ x_t / (w_tᵀ x_t)``.

Look-ahead is impossible by construction: the policy receives a read-only view of a buffer
into which the engine copies each relative only after the period it belongs to, so even
``history.base`` holds no future data. Policies that implement ``weights_vectorized``
(constant-rebalanced, buy-and-hold) skip the loop; the costs of all periods are then
computed at once by a fixed point vectorized across periods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..exceptions import InputError, InvalidPricesError, NonFiniteError, ShapeError
from .costs import check_fees, remainder_factor, remainder_factor_linear
from .policy import Policy
from .result import BacktestResult

__all__ = ["run", "prepare_relatives", "drift"]

_SUM_TOL = 1e-6


def _as_frame(data: Any, label: str) -> pd.DataFrame:
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        frame = data.astype(float)
    else:
        arr = np.asarray(data, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ShapeError(f"{label} must be 2-D (T, n), got shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[f"asset_{i}" for i in range(arr.shape[1])])
    if frame.shape[1] == 0:
        raise ShapeError(f"{label} has no columns")
    values = frame.to_numpy()
    if not np.isfinite(values).all():
        raise NonFiniteError(f"{label} holds NaN or infinite values; drop or fill them first")
    if (values <= 0).any():
        raise InvalidPricesError(f"{label} must be strictly positive")
    return frame


def prepare_relatives(
    prices: Any, *, relatives: bool = False, cash: bool | Any = False
) -> pd.DataFrame:
    """Turn prices (or price relatives) into the (T, n) relatives the engine consumes.

    Parameters
    ----------
    prices : DataFrame, Series or array, shape (T + 1, n) or (T, n) when ``relatives``
        Positive prices indexed by date, or price relatives when ``relatives=True``.
    relatives : bool
        Whether ``prices`` already holds price relatives.
    cash : bool, Series or array
        ``True`` adds a first column ``"cash"`` with relative 1; a Series (indexed like
        the relatives) or an array of shape (T,) of per-period simple risk-free returns
        adds a cash column with relative ``1 + r``.

    Returns
    -------
    pandas.DataFrame, shape (T, n) or (T, n + 1)
        Price relatives, dated by the later price of each pair.
    """
    frame = _as_frame(prices, "prices")
    if relatives:
        rel = frame
    else:
        if len(frame) < 2:
            raise ShapeError("prices need at least two rows to give one price relative")
        values = frame.to_numpy()
        rel = pd.DataFrame(values[1:] / values[:-1], index=frame.index[1:], columns=frame.columns)
    if cash is False or cash is None:
        return rel
    if cash is True:
        cash_rel = np.ones(len(rel))
    else:
        if isinstance(cash, pd.Series):
            aligned = cash.reindex(rel.index)
            if aligned.isna().any():
                raise InputError("the risk-free series does not cover every date of the prices")
            cash_rel = 1.0 + aligned.to_numpy(dtype=float)
        else:
            cash_arr = np.asarray(cash, dtype=float)
            if cash_arr.shape != (len(rel),):
                raise ShapeError(
                    f"cash returns must have shape ({len(rel)},), got {cash_arr.shape}"
                )
            cash_rel = 1.0 + cash_arr
        if not np.isfinite(cash_rel).all() or (cash_rel <= 0).any():
            raise InputError("risk-free returns must be finite and greater than -1")
    if "cash" in rel.columns:
        raise InputError("prices already have a column named 'cash'; rename it or pass cash=False")
    out = rel.copy()
    out.insert(0, "cash", cash_rel)
    return out


def drift(weights: np.ndarray, relatives: np.ndarray) -> np.ndarray:
    """Weights after the market moves: ``w ⊙ x / (wᵀ x)`` row by row.

    Parameters
    ----------
    weights : numpy.ndarray, shape (n,) or (T, n)
    relatives : numpy.ndarray, same shape

    Returns
    -------
    numpy.ndarray, same shape
    """
    grown = weights * relatives
    return grown / grown.sum(axis=-1, keepdims=True)


def _benchmark_returns(
    benchmark: Any, prices: Any, rel_index: pd.Index, relatives: bool
) -> pd.Series:
    bench = benchmark
    if isinstance(bench, pd.DataFrame):
        if bench.shape[1] != 1:
            raise ShapeError(f"benchmark must have one column, got {bench.shape[1]}")
        bench = bench.iloc[:, 0]
    if not isinstance(bench, pd.Series):
        arr = np.asarray(bench, dtype=float)
        expected = len(rel_index) if relatives else len(rel_index) + 1
        if arr.shape != (expected,):
            raise ShapeError(f"benchmark must have shape ({expected},), got {arr.shape}")
        values = arr if relatives else arr[1:] / arr[:-1]
        return pd.Series(values - 1.0, index=rel_index, name="benchmark")
    if relatives:
        aligned = bench.reindex(rel_index)
        values = aligned.to_numpy(dtype=float)
    else:
        price_index = prices.index if isinstance(prices, (pd.DataFrame, pd.Series)) else None
        if price_index is None:
            raise InputError("a benchmark Series needs prices indexed by date")
        aligned = bench.reindex(price_index).to_numpy(dtype=float)
        values = aligned[1:] / aligned[:-1]
    if not np.isfinite(values).all():
        raise InputError(
            "the benchmark does not cover every date of the prices; restrict the prices to "
            "the benchmark's dates (or forward-fill the benchmark) first"
        )
    return pd.Series(values - 1.0, index=rel_index, name="benchmark")


def _check_weights(w: Any, n: int, allow_short: bool, where: str) -> np.ndarray:
    arr = np.asarray(w, dtype=float)
    if arr.shape != (n,):
        raise ShapeError(f"{where}: the policy returned shape {arr.shape}, expected ({n},)")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{where}: the policy returned non-finite weights")
    if abs(arr.sum() - 1.0) > _SUM_TOL:
        raise InputError(f"{where}: weights sum to {arr.sum():.10g}, not one")
    if not allow_short and (arr < -1e-12).any():
        raise InputError(f"{where}: negative weights from a policy with allow_short=False")
    return arr


def _factor(
    held: np.ndarray, target: np.ndarray, c_p: float, c_s: float, cash_index: int | None, model: str
) -> np.ndarray:
    if model == "exact":
        return np.asarray(
            remainder_factor(held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash_index)
        )
    return np.asarray(
        remainder_factor_linear(held, target, buy_fee=c_p, sell_fee=c_s, cash_index=cash_index)
    )


def _turnover(held: np.ndarray, target: np.ndarray) -> np.ndarray:
    implicit = np.abs(held.sum(axis=-1) - target.sum(axis=-1))
    return 0.5 * (np.abs(target - held).sum(axis=-1) + implicit)


def run(
    policy: Policy,
    prices: Any,
    *,
    fee: float = 0.0,
    buy_fee: float | None = None,
    sell_fee: float | None = None,
    benchmark: Any = None,
    cash: bool | Any = False,
    relatives: bool = False,
    costs: str = "exact",
    initial: str = "cash",
    periods_per_year: int = 252,
    vectorized: bool = True,
    progress: bool = False,
) -> BacktestResult:
    """Backtest ``policy`` on ``prices``.

    Parameters
    ----------
    policy : Policy
        The strategy; gets only the past (see :class:`~portfolio_lab.backtest.Policy`).
    prices : DataFrame, shape (T + 1, n)
        Positive prices indexed by date (or relatives of shape (T, n) with
        ``relatives=True``).
    fee : float
        Proportional rate charged on each side (purchases and sales) when ``buy_fee`` /
        ``sell_fee`` are not given. The survey of Li & Hoi (2014) charges
        ``γ/2 Σ|Δw|``, i.e. its rate ``γ`` equals ``2 * fee`` with ``costs="linear"``.
    buy_fee, sell_fee : float, optional
        Separate purchase and sale rates (override ``fee``).
    benchmark : Series, DataFrame (one column) or array, optional
        Benchmark prices on the same dates (relatives when ``relatives=True``); gives
        alpha and beta in the metrics.
    cash : bool, Series or array
        Add a risk-free asset (first column ``"cash"``): ``True`` for relative 1, or
        per-period simple risk-free returns.
    relatives : bool
        ``prices`` already holds price relatives.
    costs : {"exact", "linear"}
        Jiang et al.'s fixed-point factor or its first-order form (the OLPS toolbox's).
    initial : {"cash", "uniform"}
        Position before the first rebalancing: all cash (the first trade pays to enter
        the market) or the uniform portfolio. The policy is shown uniform ``held`` at
        ``t = 0`` either way.
    periods_per_year : int
        Annualization factor of the metrics.
    vectorized : bool
        Use the policy's ``weights_vectorized`` fast path when it offers one.
    progress : bool
        Show a tqdm progress bar in the per-period loop.

    Returns
    -------
    BacktestResult
        ``.wealth`` starts from 1 before the first relative; its first date is the
        second row of ``prices``.
    """
    if not isinstance(policy, Policy):
        raise InputError(f"policy must be a portfolio_lab.backtest.Policy, got {type(policy)!r}")
    if costs not in ("exact", "linear"):
        raise InputError(f"costs must be 'exact' or 'linear', got {costs!r}")
    if initial not in ("cash", "uniform"):
        raise InputError(f"initial must be 'cash' or 'uniform', got {initial!r}")
    c_p, c_s = check_fees(
        fee if buy_fee is None else buy_fee, fee if sell_fee is None else sell_fee
    )
    rel_frame = prepare_relatives(prices, relatives=relatives, cash=cash)
    x = np.ascontiguousarray(rel_frame.to_numpy(dtype=float))
    T, n = x.shape
    cash_index = 0 if "cash" in rel_frame.columns and cash is not False else None
    bench = None
    if benchmark is not None:
        bench = _benchmark_returns(benchmark, prices, rel_frame.index, relatives)

    if policy.hindsight:
        full = x.copy()
        full.flags.writeable = False
        policy.fit_hindsight(full)
    policy.reset(n)
    if initial == "uniform":
        start = np.full(n, 1.0 / n)
    else:
        start = np.zeros(n)  # everything in (implicit or explicit) cash
        if cash_index is not None:
            start[cash_index] = 1.0

    weights = policy.weights_vectorized(x.copy()) if vectorized else None
    if weights is not None:
        weights, held, remainder, path = _vectorized(
            policy, x, weights, start, c_p, c_s, cash_index, costs
        )
    else:
        weights, held, remainder = _loop(policy, x, start, c_p, c_s, cash_index, costs, progress)
        path = "loop"

    gross = np.einsum("ij,ij->i", weights, x)
    period = remainder * gross
    index = rel_frame.index
    if (period <= 0).any():
        bad = index[int(np.argmax(period <= 0))]
        raise InputError(
            f"the portfolio lost everything on {bad} (period return <= -100%); a leveraged "
            "policy cannot be simulated past bankruptcy"
        )
    wealth = np.cumprod(period)
    return BacktestResult(
        name=str(policy.name),
        wealth=pd.Series(wealth, index=index, name="wealth"),
        weights=pd.DataFrame(weights, index=index, columns=rel_frame.columns),
        returns=pd.Series(period - 1.0, index=index, name="returns"),
        turnover=pd.Series(_turnover(held, weights), index=index, name="turnover"),
        remainder=pd.Series(remainder, index=index, name="remainder"),
        buy_fee=c_p,
        sell_fee=c_s,
        cost_model=costs,
        hindsight=bool(policy.hindsight),
        benchmark_returns=bench,
        periods_per_year=int(periods_per_year),
        params={"engine": path, "cash": cash_index is not None, "initial": initial},
    )


def _vectorized(
    policy: Policy,
    x: np.ndarray,
    weights: Any,
    start: np.ndarray,
    c_p: float,
    c_s: float,
    cash_index: int | None,
    costs: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    T, n = x.shape
    w = np.asarray(weights, dtype=float)
    if w.shape != (T, n):
        raise ShapeError(f"weights_vectorized returned shape {w.shape}, expected {(T, n)}")
    if not np.isfinite(w).all():
        raise NonFiniteError("weights_vectorized returned non-finite weights")
    if np.abs(w.sum(axis=1) - 1.0).max(initial=0.0) > _SUM_TOL:
        raise InputError("weights_vectorized returned rows that do not sum to one")
    if not policy.allow_short and (w < -1e-12).any():
        raise InputError("weights_vectorized returned negative weights (allow_short=False)")
    held = np.empty_like(w)
    held[0] = start
    if T > 1:
        held[1:] = drift(w[:-1], x[:-1])
    if c_p == 0.0 and c_s == 0.0:
        remainder = np.ones(T)
    else:
        remainder = _factor(held, w, c_p, c_s, cash_index, costs)
    return w, held, remainder, "vectorized"


def _loop(
    policy: Policy,
    x: np.ndarray,
    start: np.ndarray,
    c_p: float,
    c_s: float,
    cash_index: int | None,
    costs: str,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    T, n = x.shape
    # The policy sees views of this buffer; row t is written only after period t.
    buffer = np.full((T, n), np.nan)
    view = buffer.view()
    view.flags.writeable = False
    weights = np.empty((T, n))
    held_all = np.empty((T, n))
    remainder = np.ones(T)
    shown = np.full(n, 1.0 / n)
    held = start.copy()
    free = c_p == 0.0 and c_s == 0.0
    for t in tqdm(range(T), disable=not progress, desc=policy.name, leave=False):
        w = _check_weights(policy.step(view[:t], shown.copy()), n, policy.allow_short, f"t={t}")
        weights[t] = w
        held_all[t] = held
        if not free:
            remainder[t] = float(_factor(held, w, c_p, c_s, cash_index, costs))
        buffer[t] = x[t]
        grown = w * x[t]
        total = grown.sum()
        if total <= 0:
            raise InputError(
                f"t={t}: the portfolio lost everything (gross relative {total:.3g}); a "
                "leveraged policy cannot be simulated past bankruptcy"
            )
        held = grown / total
        shown = held
    return weights, held_all, remainder
