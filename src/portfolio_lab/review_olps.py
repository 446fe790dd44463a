"""The online-portfolio baselines written a second time, plainly, for the reviews.

The reviews of chapters 11 and 12 compare every agent with the OLPS strategies of Li & Hoi's
survey. Their final wealth is a claim of the chapters, so a review recomputes it with code
that shares nothing with :mod:`portfolio_lab.backtest.baselines`: the rules as the papers
state them, one period at a time, in plain NumPy loops (no cumulative-sum windows, no
batched experts, no incremental state), the Euclidean simplex projection by sorting, and
the A-norm projection of ONS by Clarabel (an interior-point solver) instead of the package's
exact active-set solver. The costs are charged by :func:`portfolio_lab.review.wealth_by_loop`
(a root of the cash account).

Every function returns the weights of each period, row ``t`` chosen from the relatives of
periods ``0 .. t-1`` only, starting from 1/N.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OLPS_DEFAULTS", "olps_weights_by_loop", "simplex_projection"]

#: The survey's parameters (Li & Hoi 2014, Table 3), as the chapters use them.
OLPS_DEFAULTS: dict[str, dict[str, float]] = {
    "eg": {"eta": 0.05},
    "ons": {"eta": 0.0, "beta": 1.0, "delta": 0.125},
    "anticor": {"max_window": 30},
    "pamr": {"eps": 0.5},
    "olmar": {"eps": 10.0, "window": 5},
}

# window means closer than this count as equal (prices quoted in fractions tie exactly)
_TIE = 1e-13


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``v`` onto the probability simplex (sort and threshold)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, len(v) + 1)
    rho = int(np.nonzero(u - css / k > 0)[0][-1])
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def _run(x: np.ndarray, update) -> np.ndarray:
    """Weights of each period: 1/N first, then ``b = update(t, b)`` after relative ``t``."""
    T, n = x.shape
    W = np.empty((T, n))
    b = np.full(n, 1.0 / n)
    for t in range(T):
        W[t] = b
        b = update(t, b)
    return W


def _eg(x: np.ndarray, eta: float) -> np.ndarray:
    def update(t: int, b: np.ndarray) -> np.ndarray:
        z = eta * x[t] / float(b @ x[t])
        g = b * np.exp(z - z.max())
        return g / g.sum()

    return _run(x, update)


def _pamr(x: np.ndarray, eps: float) -> np.ndarray:
    def update(t: int, b: np.ndarray) -> np.ndarray:
        loss = max(0.0, float(b @ x[t]) - eps)
        d = x[t] - x[t].mean()
        tau = 0.0 if not (d @ d) > 0 else loss / float(d @ d)
        return simplex_projection(b - tau * d)

    return _run(x, update)


def _olmar(x: np.ndarray, eps: float, window: int) -> np.ndarray:
    n = x.shape[1]

    def update(t: int, b: np.ndarray) -> np.ndarray:
        seen = t + 1  # relatives known after period t
        if seen < 2:
            return b
        if seen < window + 1:
            pred = x[t].copy()
        else:
            # moving average of the last `window` prices over today's price
            pred = np.zeros(n)
            ratio = np.ones(n)
            for i in range(window):
                pred += ratio
                ratio = ratio / x[t - i]
            pred /= window
        d = pred - pred.mean()
        if d @ d == 0.0:
            return b
        lam = max(0.0, (eps - float(b @ pred)) / float(d @ d))
        return simplex_projection(b + lam * d)

    return _run(x, update)


def _ons_projection(A: np.ndarray, y_lin: np.ndarray) -> np.ndarray:
    """``argmin ½ bᵀAb − y_linᵀb`` over the simplex, by Clarabel at tight tolerances."""
    import clarabel
    from scipy import sparse

    n = len(y_lin)
    P = sparse.csc_matrix(np.triu(A))
    Aeq = sparse.csc_matrix(np.vstack([np.ones((1, n)), -np.eye(n)]))
    rhs = np.concatenate([[1.0], np.zeros(n)])
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-13
    settings.tol_ktratio = 1e-12
    sol = clarabel.DefaultSolver(P, -y_lin, Aeq, rhs, cones, settings).solve()
    b = np.maximum(np.asarray(sol.x), 0.0)
    return b / b.sum()


def _ons(x: np.ndarray, eta: float, beta: float, delta: float) -> np.ndarray:
    n = x.shape[1]
    A = np.eye(n)
    c = np.zeros(n)

    def update(t: int, b: np.ndarray) -> np.ndarray:
        nonlocal A, c
        grad = x[t] / (b @ x[t])
        A = A + np.outer(grad, grad)
        c = c + (1.0 + 1.0 / beta) * grad
        return (1.0 - eta) * _ons_projection(A, delta * c) + eta / n

    return _run(x, update)


def _anticor_move(logs: np.ndarray, b: np.ndarray, w: int) -> np.ndarray:
    """One Anticor_w move (Borodin, El-Yaniv & Gogan 2004), the toolbox's ``>=`` comparison."""
    l1, l2 = logs[:w], logs[w:]
    m2 = l2.mean(axis=0)
    d1, d2 = l1 - l1.mean(axis=0), l2 - m2
    # a sum of squares below 1e-28 per observation is rounding: no variance, no correlation
    q1, q2 = (d1 * d1).sum(axis=0), (d2 * d2).sum(axis=0)
    s1 = np.sqrt(np.where(q1 > 1e-28 * w, q1, 0.0) / (w - 1))
    s2 = np.sqrt(np.where(q2 > 1e-28 * w, q2, 0.0) / (w - 1))
    both = (s1[:, None] > 0) & (s2[None, :] > 0)
    scale = np.where(both, np.outer(s1, s2), 1.0)
    cor = np.where(both, (d1.T @ d2) / (w - 1) / scale, 0.0)
    neg_self = np.maximum(0.0, -np.diag(cor))
    wins = (m2[:, None] - m2[None, :] >= -_TIE) & (cor > 0)
    claim = np.where(wins, cor + neg_self[:, None] + neg_self[None, :], 0.0)
    total = claim.sum(axis=1)
    share = np.where(total > 0, b / np.where(total > 0, total, 1.0), 0.0)
    moved = claim * share[:, None]  # moved[i, j]: wealth i hands to j
    return np.maximum(b - moved.sum(axis=1) + moved.sum(axis=0), 0.0)


def _bah_anticor(x: np.ndarray, max_window: int) -> np.ndarray:
    T, n = x.shape
    W = np.empty((T, n))
    windows = range(2, int(max_window) + 1)
    experts = {w: np.full(n, 1.0 / n) for w in windows}
    wealth = {w: 1.0 for w in windows}
    b = np.full(n, 1.0 / n)
    for t in range(T):
        W[t] = b
        for w in windows:
            wealth[w] *= float(experts[w] @ x[t])
        seen = t + 1
        for w in windows:
            if seen >= 2 * w:
                experts[w] = _anticor_move(np.log(x[seen - 2 * w : seen]), experts[w], w)
        total = sum(wealth.values())
        mix = sum(wealth[w] / total * experts[w] for w in windows)
        b = mix / mix.sum()
    return W


def olps_weights_by_loop(name: str, relatives: np.ndarray, **params: float) -> np.ndarray:
    """Weights of an OLPS baseline, period by period, by the plain rules above.

    Parameters
    ----------
    name : {"eg", "ons", "anticor", "pamr", "olmar"}
        EG (Helmbold et al. 1998), ONS (Agarwal et al. 2006), BAH_W(Anticor) (Borodin et
        al. 2004, experts w = 2..W mixed by their wealth), PAMR (Li et al. 2012), OLMAR-1
        (Li & Hoi 2012), each from the portfolio it chose last.
    relatives : numpy.ndarray, shape (T, n)
    **params
        Overrides of :data:`OLPS_DEFAULTS`.

    Returns
    -------
    numpy.ndarray, shape (T, n)
    """
    key = name.lower()
    if key not in OLPS_DEFAULTS:
        raise ValueError(f"unknown OLPS baseline {name!r}; use one of {sorted(OLPS_DEFAULTS)}")
    p = {**OLPS_DEFAULTS[key], **params}
    x = np.asarray(relatives, dtype=float)
    if key == "eg":
        return _eg(x, float(p["eta"]))
    if key == "pamr":
        return _pamr(x, float(p["eps"]))
    if key == "olmar":
        return _olmar(x, float(p["eps"]), int(p["window"]))
    if key == "ons":
        return _ons(x, float(p["eta"]), float(p["beta"]), float(p["delta"]))
    return _bah_anticor(x, int(p["max_window"]))
