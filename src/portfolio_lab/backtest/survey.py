"""Reproduce the final-wealth table of Li & Hoi's survey of online portfolio selection.

Li, B. and Hoi, S. C. H. (2014), "Online Portfolio Selection: A Survey", ACM Computing
Surveys 46(3), article 35 (arXiv:1212.2129). The six datasets are the bundled
``olps:*`` sources; every baseline comes from :func:`portfolio_lab.backtest.baseline`
with the survey's default parameters and is run by :func:`portfolio_lab.backtest.run`.

Published values
----------------
:data:`PUBLISHED` must hold the numbers printed in the survey's table of cumulative
wealth. The table text could not be retrieved here: the reachable copies of the paper
(arXiv:1212.2129 v1/v2 mirrors on scribd.com, fdocuments.us and a Hugging Face text
dump) are indexed only by their first pages, and searches for the table
(``"Online Portfolio Selection: A Survey" cumulative wealth NYSE``, ``1212.2129``, the
table caption and dataset columns) in the page, documentation and code corpora returned
no excerpt of it. Every cell of :data:`PUBLISHED` is therefore NaN, deliberately: no
value is filled from memory. :func:`compare` shows NaN ratios for them.

As an independent reference by the survey's authors we record instead the final
"Total return" of the run logs that ship with their OLPS toolbox
(:data:`OLPS_TOOLBOX_DJIA`, DJIA only, no costs, six decimals as printed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..exceptions import InputError
from .baselines import BASELINES, baseline
from .engine import run
from .policy import Policy

__all__ = [
    "DATASETS",
    "SURVEY_BASELINES",
    "PUBLISHED",
    "PUBLISHED_SOURCE",
    "OLPS_TOOLBOX_DJIA",
    "OLPS_TOOLBOX_SOURCE",
    "VARIANT_NOTES",
    "ReplayPolicy",
    "SurveyRun",
    "run_survey",
    "compare",
]

#: survey column label -> ``load_prices`` source
DATASETS: dict[str, str] = {
    "NYSE (O)": "olps:nyse_o",
    "NYSE (N)": "olps:nyse_n",
    "TSE": "olps:tse",
    "SP500": "olps:sp500",
    "MSCI": "olps:msci",
    "DJIA": "olps:djia",
}

#: the survey's baselines (contract names of :func:`baseline`), in the survey's order
SURVEY_BASELINES: tuple[str, ...] = (
    "ubah",
    "best_stock",
    "bcrp",
    "ucrp",
    "eg",
    "ons",
    "anticor",
    "pamr",
    "cwmr",
    "olmar",
    "rmr",
    # the rest of the survey's set (issue 10)
    "up",
    "m0",
    "t0",
    "bk",
    "bnn",
    "corn",
    "wmamr",
    "olmar2",
    "bah_olmar",
)

PUBLISHED_SOURCE = (
    "Li & Hoi (2014), Online Portfolio Selection: A Survey, ACM Computing Surveys 46(3):35, "
    "arXiv:1212.2129, table of cumulative wealth on the six datasets: NOT RETRIEVED "
    "(see the module docstring); every cell left NaN on purpose."
)

#: published final wealth, baselines x datasets; NaN = not found in the paper's text
PUBLISHED: pd.DataFrame = pd.DataFrame(
    np.nan, index=list(SURVEY_BASELINES), columns=list(DATASETS), dtype=float
)

OLPS_TOOLBOX_SOURCE = (
    "OLPS toolbox of Li, Sahoo & Hoi, https://github.com/OLPS/OLPS, commit "
    "8769d34245a3b2f6add352724eefa91566746939, files Log/Log/<strategy>-djia-2015-0129-*.txt "
    "(last line, column 'Total return'; tc = 0, default parameters as logged)."
)

#: the toolbox's own final wealth on DJIA, by our baseline name (6 decimals as printed)
OLPS_TOOLBOX_DJIA: dict[str, float] = {
    "ubah": 0.764361,
    "best_stock": 1.188360,
    "bcrp": 1.239928,
    "ucrp": 0.812726,
    "eg": 0.810030,
    "ons": 1.532990,
    "anticor": 1.625955,
    "pamr": 0.680050,
    "pamr1": 0.680050,
    "pamr2": 0.705395,
    "cwmr": 0.687124,
    "cwmr_var": 0.688125,
    "olmar": 2.537232,
    "olmar2": 1.161133,
    "up": 0.811691,
    "bk": 0.686963,
}
# (the B^NN log of that commit stops after 36 days: tests/backtest/data/olps_bnn_djia.txt)

#: where our variant (the OLPS toolbox's) may differ from other implementations
VARIANT_NOTES: dict[str, str] = {
    "anticor": "BAH over Anticor experts w = 2..30 (toolbox anticor.m, >= comparison, exact "
    "ties of window means treated as ties: the toolbox's direction there depends on MATLAB's "
    "last-bit rounding, 1.5e-5 relative on DJIA); universal-portfolios has the single-window "
    "Anticor with a different rolling alignment",
    "olmar": "OLMAR-1 (SMA, w = 5, eps = 10); toolbox warm-up: 1/n until two relatives, then "
    "the last relative until w + 1 (universal-portfolios predicts with price levels there)",
    "rmr": "L1 median by Weiszfeld/Vardi-Zhang to 1e-9 on prices compounded from the second "
    "relative (toolbox rmr_run.m); universal-portfolios' RMR divides by one Frobenius norm, "
    "so its 'median' is the mean",
    "cwmr": "CWMR-Stdev, deterministic (mu traded), toolbox Sigma rescaling; "
    "universal-portfolios implements a log-return variant",
    "ons": "exact A-norm projection (active set); universal-portfolios uses cvxopt (~1e-7)",
    "pamr": "PAMR with eps = 0.5; loss on the cost-free return (toolbox: net of costs)",
    "bk": "B^K of the toolbox bk.m: experts (k, l), k = 1..5, radius c/l, l = 1..10, c = 1, "
    "plus the (0, 0) log-optimal expert, uniform prior, wealth mixture; experts solved "
    "exactly (the toolbox's fmincon stops short: 0.3% on DJIA); universal-portfolios has no B^K",
    "bnn": "B^NN of the toolbox bnn.m: experts (k, l), k = 1..5, floor(p_l T) nearest windows, "
    "p_l = 0.02 + 0.5 (l-1)/9, plus the (0, 0) expert whose wealth the toolbox never updates "
    "(kept); universal-portfolios' BNN is one expert with 10 neighbours",
    "corn": "CORN single expert (toolbox corn.m, w = 5, rho = 0.1), learning from T = w + 2; "
    "universal-portfolios: same expert, one day earlier, SLSQP optimizer that may hold cash",
    "up": "Cover's UP, uniform prior, 10^4 Monte Carlo points, seed 0 (toolbox: a 10-sample "
    "random walk; universal-portfolios: 10^4 points from its global generator)",
    "wmamr": "PAMR step on the 5-day mean relative, eps = 0.5 (universal-portfolios' WMAMR)",
    "olmar2": "OLMAR-2 (EMA, alpha = 0.5, eps = 10) from x_1 = 1 as in olmar2_run.m "
    "(universal-portfolios starts its EMA from its row of ones after a w-day warm-up)",
    "bah_olmar": "BAH over OLMAR-1 experts w = 3..30, eps = 10 (the OLMAR paper's mixture)",
    "m0": "M0: counts of daily winners (ties to the first asset), b = (c + 1/2) / (t + n/2), "
    "the OLPS toolbox's m0_run.m with its default beta = 0.5",
    "t0": "T0 read as M0 conditioned on the last winner (transition counts); neither the 2000 "
    "paper's text nor an implementation was available (the toolbox lists t0.m but never "
    "shipped it)",
}


class ReplayPolicy(Policy):
    """Replay recorded weights (to charge costs on weights that do not depend on them).

    The baselines here choose their weights from the relatives only (their state never
    uses the costs), so the weights of a cost-free run are also those of a run with
    costs; replaying them through :func:`run`'s vectorized path charges the costs without
    recomputing the policy.

    Parameters
    ----------
    weights : numpy.ndarray, shape (T, n)
        Recorded weights (row ``t`` chosen before relative ``t``).
    name : str
        Label of the replayed policy.
    hindsight : bool, default False
    """

    def __init__(self, weights: np.ndarray, name: str, hindsight: bool = False) -> None:
        self.recorded = np.asarray(weights, dtype=float)
        self.name = name
        self.hindsight = bool(hindsight)

    def fit_hindsight(self, relatives: np.ndarray) -> None:
        """Nothing to fit: the recorded weights already are the fitted ones."""

    def step(self, history: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Return the recorded weights of period ``len(history)``, shape (n,)."""
        return self.recorded[history.shape[0]].copy()

    def weights_vectorized(self, relatives: np.ndarray) -> np.ndarray:
        """Return every recorded row, shape (T, n)."""
        if relatives.shape != self.recorded.shape:
            raise InputError(
                f"replayed weights have shape {self.recorded.shape}, the run {relatives.shape}"
            )
        return self.recorded.copy()


@dataclass
class SurveyRun:
    """Final wealth of every baseline on every dataset, with and without costs.

    Attributes
    ----------
    wealth : pandas.DataFrame, shape (n_baselines, n_datasets)
        Final wealth without costs (index: baseline names; columns: dataset labels).
    wealth_fee : pandas.DataFrame, shape (n_baselines, n_datasets)
        Final wealth with ``fee`` (NaN everywhere when ``fee`` is 0).
    fee : float
        Proportional rate per purchase and per sale passed to :func:`run`.
    costs : str
        Cost model of :func:`run` (``"exact"`` or ``"linear"``).
    curves : dict[str, pandas.DataFrame]
        Per dataset: the cost-free wealth curve of each baseline (columns named by
        baseline), shape (T, k).
    weights : dict[str, dict[str, pandas.DataFrame]]
        Per dataset, per baseline: the weights, shape (T, n).
    names : dict[str, str]
        Baseline name -> the policy's variant label.
    seconds : pandas.DataFrame, shape (n_baselines, n_datasets)
        Wall-clock seconds of each cost-free run.
    """

    wealth: pd.DataFrame
    wealth_fee: pd.DataFrame
    fee: float
    costs: str
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    weights: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    seconds: pd.DataFrame | None = None


def run_survey(
    datasets: Sequence[str] = tuple(DATASETS),
    baselines: Sequence[str] = SURVEY_BASELINES,
    *,
    fee: float = 0.0025,
    costs: str = "exact",
    params: dict[str, dict[str, Any]] | None = None,
    keep_weights: Iterable[str] = (),
    progress: bool = True,
    only: dict[str, Sequence[str]] | None = None,
) -> SurveyRun:
    """Backtest ``baselines`` on ``datasets`` without costs and with ``fee``.

    Parameters
    ----------
    datasets : sequence of str
        Labels of :data:`DATASETS` (e.g. ``"DJIA"``) or ``load_prices`` sources.
    baselines : sequence of str
        Names of :data:`portfolio_lab.backtest.BASELINES`.
    fee : float, default 0.0025
        Rate per purchase and per sale for the second run (0 skips it). The survey's
        rate ``γ`` (cost ``γ/2 Σ|Δb|``) corresponds to ``fee = γ/2`` with ``costs="linear"``.
    costs : {"exact", "linear"}, default "exact"
        Cost model of :func:`run`.
    params : dict, optional
        Per-baseline parameter overrides, ``{"olmar": {"eps": 5}}``.
    keep_weights : iterable of str
        Datasets whose weights are kept in :attr:`SurveyRun.weights`.
    progress : bool, default True
        Show a tqdm bar over the runs.
    only : dict, optional
        Baseline -> the datasets it runs on (elsewhere its cells stay NaN), for the
        quadratic-time pattern-matching experts, ``{"bk": ["DJIA"]}``.

    Returns
    -------
    SurveyRun
    """
    from ..data import load_prices

    params = params or {}
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baselines {unknown}; choose from {sorted(BASELINES)}")
    labels = list(datasets)
    sources = {d: DATASETS.get(d, d) for d in labels}
    keep = set(keep_weights)
    wealth = pd.DataFrame(np.nan, index=list(baselines), columns=labels)
    wealth_fee = wealth.copy()
    seconds = wealth.copy()
    out = SurveyRun(wealth, wealth_fee, float(fee), costs, seconds=seconds)
    bar = tqdm(total=len(labels) * len(baselines), disable=not progress, desc="survey")
    for label in labels:
        prices = load_prices(sources[label])
        curves = {}
        for name in baselines:
            if only is not None and name in only and label not in only[name]:
                bar.update()
                continue
            bar.set_postfix_str(f"{label} {name}")
            policy = baseline(name, **params.get(name, {}))
            start = pd.Timestamp.now()
            res = run(policy, prices, fee=0.0, costs=costs)
            seconds.loc[name, label] = (pd.Timestamp.now() - start).total_seconds()
            out.names[name] = res.name
            wealth.loc[name, label] = float(res.wealth.iloc[-1])
            curves[name] = res.wealth
            if fee > 0:
                replay = ReplayPolicy(res.weights.to_numpy(), res.name, policy.hindsight)
                res_fee = run(replay, prices, fee=fee, costs=costs)
                wealth_fee.loc[name, label] = float(res_fee.wealth.iloc[-1])
            if label in keep:
                out.weights.setdefault(label, {})[name] = res.weights
            bar.update()
        out.curves[label] = pd.DataFrame(curves)
    bar.close()
    return out


def compare(ours: pd.DataFrame, published: pd.DataFrame = PUBLISHED) -> pd.DataFrame:
    """Put our final wealth beside the published one, dataset by dataset.

    Parameters
    ----------
    ours : pandas.DataFrame, shape (n_baselines, n_datasets)
        From :attr:`SurveyRun.wealth`.
    published : pandas.DataFrame, default :data:`PUBLISHED`

    Returns
    -------
    pandas.DataFrame
        Index: baselines; columns: a MultiIndex ``(dataset, {"ours", "published",
        "ratio"})`` with ``ratio = ours / published`` (NaN where nothing was published).
    """
    pub = published.reindex(index=ours.index, columns=ours.columns)
    parts = {}
    for col in ours.columns:
        parts[(col, "ours")] = ours[col]
        parts[(col, "published")] = pub[col]
        parts[(col, "ratio")] = ours[col] / pub[col]
    return pd.DataFrame(parts)
