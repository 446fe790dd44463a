"""Differentiable portfolio objectives on torch tensors shaped (batch, time, assets).

``weights[b, t]`` is the allocation held over period ``t`` and ``returns[b, t]`` the simple
returns of that period, so the portfolio return is ``R[b, t] = Σ_i w[b,t,i] r[b,t,i]``
(Zhang, Zohren & Roberts, 2020: the weights chosen at ``t-1`` earn the returns of ``t``).
A proportional cost ``c Σ_i |w[b,t,i] - w[b,t-1,i]|`` is charged on each change of
weights inside a sequence; ``previous[b]`` (optional) gives the weights before the first
period, otherwise the first period of each sequence pays nothing. These are the
first-order costs (the backtester charges the exact remainder factor).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "portfolio_returns",
    "turnover",
    "sharpe_loss",
    "log_return_loss",
    "turnover_penalty",
]


def _check(weights: Any, returns: Any) -> None:
    if weights.ndim != 3 or weights.shape != returns.shape:
        raise ValueError(
            "weights and returns must both be (batch, time, assets); got "
            f"{tuple(weights.shape)} and {tuple(returns.shape)}"
        )


def turnover(weights: Any, previous: Any = None) -> Any:
    """One-norm of the weight changes ``Σ_i |w_t - w_{t-1}|``, shape (batch, time).

    Parameters
    ----------
    weights : torch.Tensor, shape (B, T, n)
    previous : torch.Tensor, shape (B, n), optional
        Weights before period 0; without it period 0 has zero turnover.

    Returns
    -------
    torch.Tensor, shape (B, T)
    """
    import torch

    if previous is None:
        first = torch.zeros_like(weights[:, :1, 0])
    else:
        first = (weights[:, 0] - previous).abs().sum(dim=-1, keepdim=True)
    rest = (weights[:, 1:] - weights[:, :-1]).abs().sum(dim=-1)
    return torch.cat([first, rest], dim=1)


def portfolio_returns(
    weights: Any, returns: Any, *, cost: float = 0.0, previous: Any = None
) -> Any:
    """Net portfolio returns ``Σ w r - c Σ |Δw|``, shape (batch, time).

    Parameters
    ----------
    weights, returns : torch.Tensor, shape (B, T, n)
    cost : float
        Proportional rate per unit of one-norm turnover.
    previous : torch.Tensor, shape (B, n), optional

    Returns
    -------
    torch.Tensor, shape (B, T)
    """
    _check(weights, returns)
    gross = (weights * returns).sum(dim=-1)
    if cost == 0.0:
        return gross
    return gross - cost * turnover(weights, previous)


def sharpe_loss(
    weights: Any,
    returns: Any,
    *,
    cost: float = 0.0,
    previous: Any = None,
    periods_per_year: float = 1.0,
    eps: float = 1e-12,
) -> Any:
    """Minus the Sharpe ratio of each sequence's net returns, averaged over the batch.

    ``-mean_b [ mean_t R / sqrt(var_t R + eps) ] * sqrt(periods_per_year)`` with the
    population variance (as in Zhang et al.); ``eps`` only guards a constant sequence.

    Parameters
    ----------
    weights, returns : torch.Tensor, shape (B, T, n), T >= 2
    cost : float
        Proportional cost rate in the net returns.
    previous : torch.Tensor, shape (B, n), optional
    periods_per_year : float
        Annualization of the ratio (1: per period).
    eps : float

    Returns
    -------
    torch.Tensor, scalar
    """
    r = portfolio_returns(weights, returns, cost=cost, previous=previous)
    mean = r.mean(dim=1)
    var = ((r - mean[:, None]) ** 2).mean(dim=1)
    return -(mean / (var + eps).sqrt()).mean() * periods_per_year**0.5


def log_return_loss(weights: Any, returns: Any, *, cost: float = 0.0, previous: Any = None) -> Any:
    """Minus the mean log growth ``log(1 + Σ w r - c Σ|Δw|)`` over batch and time.

    Parameters
    ----------
    weights, returns : torch.Tensor, shape (B, T, n)
    cost : float
    previous : torch.Tensor, shape (B, n), optional

    Returns
    -------
    torch.Tensor, scalar
    """
    r = portfolio_returns(weights, returns, cost=cost, previous=previous)
    return -(r.clamp_min(-1.0 + 1e-12)).log1p().mean()


def turnover_penalty(weights: Any, previous: Any = None) -> Any:
    """Mean one-norm turnover per period (add ``λ *`` this to another loss).

    Parameters
    ----------
    weights : torch.Tensor, shape (B, T, n)
    previous : torch.Tensor, shape (B, n), optional

    Returns
    -------
    torch.Tensor, scalar
    """
    return turnover(weights, previous).mean()
