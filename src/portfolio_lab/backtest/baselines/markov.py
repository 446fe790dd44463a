"""Prediction-based baselines of Borodin, El-Yaniv & Gogan (2000): M0 and T0."""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy

__all__ = ["M0", "T0"]


class M0(OnlinePolicy):
    """Markov-of-order-zero prediction, M0 (Borodin, El-Yaniv & Gogan 2000).

    Counts how often each asset had the largest relative (ties to the first) and invests
    in proportion to the smoothed counts, ``b_i = (c_i + β) / (t + n β)``: the
    Krichevsky-Trofimov estimate (β = 1/2) of the probability that asset i is the
    next winner. This is the OLPS toolbox's ``m0_run.m`` (github.com/OLPS/OLPS: the same
    counts, ties to the first index, the same smoothed ratio and the default β = 0.5).

    Parameters
    ----------
    beta : float, default 0.5
        Additive smoothing β > 0.
    """

    def __init__(self, beta: float = 0.5) -> None:
        label = type(self).__name__
        if not beta > 0:
            raise InputError(f"{label} needs beta > 0, got {beta}")
        self.beta = float(beta)
        self.name = f"{label}(beta={self.beta:g})"

    def _start(self, n: int) -> np.ndarray:
        self._counts = np.zeros(n)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        self._counts[int(np.argmax(history[-1]))] += 1.0
        c = self._counts + self.beta
        return c / c.sum()


class T0(M0):
    """First-order ("transition") version of M0, our reading of T0 of Borodin et al. (2000).

    Counts the transitions between consecutive winners, ``C[i, j]`` = number of days
    asset j won right after a day asset i won, and invests in proportion to the smoothed
    row of the latest winner, ``b_j = (C[w, j] + β) / (Σ_j C[w, j] + n β)``. The text
    of the 2000 paper could not be consulted here, and no implementation exists to
    compare with (the OLPS toolbox's documentation lists ``t0.m``, but its repository
    never contained it); this definition (M0 conditioned on the last winner) is an
    assumption stated in the survey notes.

    Parameters
    ----------
    beta : float, default 0.5
        Additive smoothing β > 0.
    """

    def _start(self, n: int) -> np.ndarray:
        self._counts = np.zeros((n, n))
        self._last = -1
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        win = int(np.argmax(history[-1]))
        if self._last >= 0:
            self._counts[self._last, win] += 1.0
        self._last = win
        row = self._counts[win] + self.beta
        return row / row.sum()
