"""Online portfolio selection baselines of the Li & Hoi survey, constructible by name.

``baseline(name, **params)`` builds a :class:`~portfolio_lab.backtest.policy.Policy` with
the survey's default parameters (overridable). Names of the contract:
``ubah best_stock bcrp ucrp eg ons anticor pamr olmar cwmr rmr``; extra variants:
``anticor_single`` (one window), ``pamr1``, ``pamr2``, ``cwmr_var``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...exceptions import InputError
from ..policy import Policy
from ._simplex import project_simplex, simplex_qp
from .anticor import Anticor, BAHAnticor, anticor_transfer, anticor_transfer_batch
from .benchmarks import BCRP, UBAH, UCRP, BCRPSolution, BestStock, solve_bcrp
from .follow_winner import EG, ONS
from .moving_average import OLMAR, RMR, l1_median
from .passive_aggressive import CWMR, PAMR

__all__ = [
    "BASELINES",
    "DEFAULT_PARAMS",
    "baseline",
    "UBAH",
    "UCRP",
    "BestStock",
    "BCRP",
    "BCRPSolution",
    "solve_bcrp",
    "EG",
    "ONS",
    "Anticor",
    "BAHAnticor",
    "anticor_transfer",
    "anticor_transfer_batch",
    "PAMR",
    "CWMR",
    "OLMAR",
    "RMR",
    "l1_median",
    "project_simplex",
    "simplex_qp",
]

#: name -> policy class (the contract's eleven names first, then extra variants)
BASELINES: dict[str, type[Policy]] = {
    "ubah": UBAH,
    "best_stock": BestStock,
    "bcrp": BCRP,
    "ucrp": UCRP,
    "eg": EG,
    "ons": ONS,
    "anticor": BAHAnticor,
    "pamr": PAMR,
    "olmar": OLMAR,
    "cwmr": CWMR,
    "rmr": RMR,
    "anticor_single": Anticor,
    "pamr1": PAMR,
    "pamr2": PAMR,
    "cwmr_var": CWMR,
}

#: the survey's parameters per name (passed to the class; ``baseline`` lets callers override)
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "ubah": {},
    "best_stock": {},
    "bcrp": {},
    "ucrp": {},
    "eg": {"eta": 0.05},
    "ons": {"eta": 0.0, "beta": 1.0, "delta": 0.125},
    "anticor": {"max_window": 30},
    "pamr": {"eps": 0.5, "variant": "PAMR"},
    "olmar": {"eps": 10.0, "window": 5},
    "cwmr": {"phi": 2.0, "eps": 0.5, "variant": "stdev"},
    "rmr": {"eps": 5.0, "window": 5},
    "anticor_single": {"window": 30},
    "pamr1": {"eps": 0.5, "variant": "PAMR-1", "C": 500.0},
    "pamr2": {"eps": 0.5, "variant": "PAMR-2", "C": 500.0},
    "cwmr_var": {"phi": 2.0, "eps": 0.5, "variant": "var"},
}


def baseline(name: str, **params: Any) -> Policy:
    """Build the baseline ``name`` with the survey's defaults, overridden by ``params``.

    Parameters
    ----------
    name : str
        One of :data:`BASELINES` (case-insensitive).
    **params
        Constructor arguments replacing the defaults (e.g. ``eps=5`` for OLMAR).

    Returns
    -------
    Policy

    Raises
    ------
    InputError
        For an unknown name or a parameter the class does not take.
    """
    key = name.lower()
    if key not in BASELINES:
        raise InputError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    factory: Callable[..., Policy] = BASELINES[key]
    kwargs = {**DEFAULT_PARAMS[key], **params}
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise InputError(f"baseline {name!r} does not accept {sorted(params)}: {err}") from err
