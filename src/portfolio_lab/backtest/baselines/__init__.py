"""Online portfolio selection baselines of the Li & Hoi survey, constructible by name.

``baseline(name, **params)`` builds a :class:`~portfolio_lab.backtest.policy.Policy` with
the survey's default parameters (overridable). Names of the contract:
``ubah best_stock bcrp ucrp eg ons anticor pamr olmar cwmr rmr``; extra variants:
``anticor_single`` (one window), ``pamr1``, ``pamr2``, ``cwmr_var``; the rest of the survey's
set: ``bk bnn corn up wmamr olmar2 bah_olmar m0 t0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...exceptions import InputError
from ..policy import Policy
from ._simplex import project_simplex, simplex_qp, simplex_qp_batch
from .anticor import Anticor, BAHAnticor, anticor_transfer, anticor_transfer_batch
from .benchmarks import (
    BCRP,
    HESSIANS,
    UBAH,
    UCRP,
    BCRPSolution,
    BestStock,
    hessian_method,
    packed_outer,
    solve_bcrp,
    solve_bcrp_batch,
)
from .follow_winner import EG, ONS
from .markov import M0, T0
from .moving_average import BAHOLMAR, OLMAR, OLMAR2, RMR, l1_median
from .passive_aggressive import CWMR, PAMR, WMAMR
from .pattern_matching import BK, BNN, CORN, WindowSearch, log_optimal
from .universal import UP

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
    "solve_bcrp_batch",
    "packed_outer",
    "hessian_method",
    "HESSIANS",
    "EG",
    "ONS",
    "Anticor",
    "BAHAnticor",
    "anticor_transfer",
    "anticor_transfer_batch",
    "PAMR",
    "CWMR",
    "OLMAR",
    "OLMAR2",
    "BAHOLMAR",
    "WMAMR",
    "BK",
    "BNN",
    "CORN",
    "WindowSearch",
    "log_optimal",
    "UP",
    "M0",
    "T0",
    "RMR",
    "l1_median",
    "project_simplex",
    "simplex_qp",
    "simplex_qp_batch",
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
    "bk": BK,
    "bnn": BNN,
    "corn": CORN,
    "up": UP,
    "wmamr": WMAMR,
    "olmar2": OLMAR2,
    "bah_olmar": BAHOLMAR,
    "m0": M0,
    "t0": T0,
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
    "bk": {"K": 5, "L": 10, "c": 1.0},
    "bnn": {"K": 5, "L": 10},
    "corn": {"window": 5, "rho": 0.1},
    "up": {"n_samples": 10000, "seed": 0},
    "wmamr": {"eps": 0.5, "window": 5},
    "olmar2": {"eps": 10.0, "alpha": 0.5},
    "bah_olmar": {"max_window": 30, "eps": 10.0},
    "m0": {"beta": 0.5},
    "t0": {"beta": 0.5},
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
