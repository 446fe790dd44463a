"""Pattern-matching baselines: B^K (kernel), B^NN (nearest neighbour) and CORN.

All three look for past market windows similar to the latest one, take the relatives
that *followed* those windows and hold the log-optimal portfolio of that sample
(:func:`~portfolio_lab.backtest.baselines.solve_bcrp`, warm-started from the previous
period's solution; B^K and B^NN solve their 51 experts' samples of a day together with
:func:`~portfolio_lab.backtest.baselines.solve_bcrp_batch`). They differ in the
similarity (Euclidean ball, nearest neighbours, correlation coefficient) and in how
experts are combined.

The pattern search is vectorized: :class:`WindowSearch` keeps the Gram columns
``y_s · y_{T-1-l}`` (``y = x - 1``) of the last ``K`` relatives against the whole history,
updated once per new relative (one matrix-vector product), so the distance or the
correlation of the latest window against *every* past window is a handful of vector
operations per period, not a Python loop over windows.

Timing and warm-up follow the OLPS toolbox (``bk_run.m``, ``bnn_run.m``, ``corn_run.m``):
with ``T`` relatives known, the windows compared with the latest one end at days
``k-1 .. T-2`` (0-based) and the sample is the relatives of the following days; with
``T <= k + 1`` an expert holds the uniform portfolio.
"""

from __future__ import annotations

import numpy as np

from ...exceptions import InputError
from ._base import OnlinePolicy
from .benchmarks import hessian_method, packed_outer, solve_bcrp, solve_bcrp_batch

__all__ = ["WindowSearch", "log_optimal", "BK", "BNN", "CORN", "EXPERT_TOL"]

#: Newton-decrement tolerance of the B^K and B^NN experts' log-optimal solves.
EXPERT_TOL = 1e-10


def log_optimal(sample: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Log-optimal portfolio of a sample of relatives (uniform for an empty sample).

    Parameters
    ----------
    sample : numpy.ndarray, shape (m, n)
        Relatives; the objective is ``sum_i log(sample_i · b)`` over the simplex.
    start : numpy.ndarray, shape (n,), optional
        Warm start.

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    n = sample.shape[1]
    if sample.shape[0] == 0:
        return np.full(n, 1.0 / n)
    return solve_bcrp(sample, start=start).weights


class WindowSearch:
    """Incremental similarity of the latest market window against all past windows.

    Holds the history ``y_s = x_s - 1`` (a growing buffer), ``|y_s|²`` and the Gram
    columns ``G[s, l] = y_s · y_{T-1-l}`` for ``l < depth``; :meth:`append` costs one
    product ``Y[:T] @ y_{T-1}``.

    Parameters
    ----------
    n : int
        Number of assets.
    depth : int
        Longest window that will be compared.
    """

    def __init__(self, n: int, depth: int) -> None:
        self.n, self.depth = int(n), int(depth)
        self.T = 0
        cap = 256
        self._Y = np.empty((cap, self.n))
        self._sq = np.empty(cap)
        self._G = np.zeros((cap, self.depth))

    def append(self, x: np.ndarray) -> None:
        """Add the newest relative ``x`` (shape (n,))."""
        T = self.T
        if T == self._Y.shape[0]:
            cap = 2 * T
            for attr, shape in (("_Y", (cap, self.n)), ("_sq", (cap,)), ("_G", (cap, self.depth))):
                old = getattr(self, attr)
                new = np.zeros(shape)
                new[:T] = old[:T]
                setattr(self, attr, new)
        y = np.asarray(x, dtype=np.float64) - 1.0
        self._Y[T] = y
        self._sq[T] = y @ y
        T += 1
        G = self._G
        if self.depth > 1:
            G[:T, 1:] = G[:T, :-1].copy()
        G[:T, 0] = self._Y[:T] @ y
        # the new row: G[T-1, l] = y_{T-1} · y_{T-1-l} = G[T-1-l, 0] by symmetry
        lags = np.arange(1, min(self.depth, T))
        G[T - 1, lags] = G[T - 1 - lags, 0]
        self.T = T

    def squared_distances(self, k_max: int) -> np.ndarray:
        """Squared Euclidean distance of every past window to the latest, per length.

        Parameters
        ----------
        k_max : int
            Longest window length (at most ``depth``).

        Returns
        -------
        numpy.ndarray, shape (k_max, T)
            Row ``k - 1``, column ``j``: ``Σ_{l<k} |x_{j-1-l} - x_{T-1-l}|²``, the distance
            between the length-``k`` window ending at day ``j - 1`` and the latest one
            (whose next day is ``j``); ``inf`` where the window does not fit
            (``j < k``).
        """
        T = self.T
        out = np.full((k_max, T), np.inf)
        acc = np.zeros(T)
        j = np.arange(T)
        for lag in range(k_max):  # a loop over lags (k_max of them), never over windows
            ok = j >= lag + 1
            s = j[ok] - 1 - lag  # day compared with day T - 1 - lag
            term = np.full(T, np.inf)
            term[ok] = self._sq[s] + self._sq[T - 1 - lag] - 2.0 * self._G[s, lag]
            acc = acc + term
            out[lag] = np.maximum(acc, 0.0)
        return out

    def correlations(self, w: int) -> np.ndarray:
        """Pearson correlation of each past length-``w`` window with the latest window.

        The windows are flattened to ``w n`` numbers (the toolbox's ``corr(d1(:), d2(:))``;
        the correlation is invariant to the order of flattening and to the shift by 1).

        Parameters
        ----------
        w : int
            Window length (at most ``depth``).

        Returns
        -------
        numpy.ndarray, shape (T,)
            Entry ``j``: correlation of the window ending at day ``j - 1`` with the latest;
            NaN where the window does not fit (``j < w``) or either window is constant.
        """
        T = self.T
        Y = self._Y[:T]
        N = w * self.n
        if T <= w:
            return np.full(T, np.nan)
        j = np.arange(w, T)
        # window ending j - 1 covers days j - w .. j - 1; its sums over w rows directly
        # (cumulative sums over the whole history would cancel in the differences)
        s1 = np.lib.stride_tricks.sliding_window_view(Y.sum(axis=1), w)[j - w].sum(axis=1)
        raw = np.lib.stride_tricks.sliding_window_view(self._sq[:T], w)[j - w].sum(axis=1)
        dots = np.zeros(j.size)
        for lag in range(w):
            dots += self._G[j - 1 - lag, lag]
        latest = Y[T - w :]
        s1_t = latest.sum()
        ss_t = np.sum((latest - s1_t / N) ** 2)  # a NumPy scalar: the ratio below may be inf
        # centred sums of squares Σ y² - (Σ y)² / N and cross products: they lose about
        # log10(raw/ss · raw_t/ss_t) digits where a window barely varies about its mean, so
        # those windows (all of them when the latest barely varies) are recomputed from
        # their centred values; on returns this is rare and costs O(w n) per window
        ss = raw - s1 * s1 / N
        cov = dots - s1 * s1_t / N
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            loss = raw / ss * (np.sum(latest * latest) / ss_t)
        redo = np.flatnonzero(~(loss < 1e4))
        if redo.size:
            win = np.lib.stride_tricks.sliding_window_view(Y, w, axis=0)[j[redo] - w]  # (m, n, w)
            flat = win.reshape(redo.size, N)
            c = flat - flat.mean(axis=1, keepdims=True)
            ss[redo] = np.einsum("mk,mk->m", c, c)
            cov[redo] = c @ (latest.T.reshape(N) - s1_t / N)
        out = np.full(T, np.nan)
        den = np.sqrt(np.maximum(ss, 0.0) * ss_t)
        ok = (ss > 1e-14 * N) & (ss_t > 1e-14 * N)
        vals = np.full(j.size, np.nan)
        np.divide(cov, den, out=vals, where=ok)
        out[w:] = np.clip(vals, -1.0, 1.0)  # |ρ| <= 1 (rounding can step past it)
        return out


class CORN(OnlinePolicy):
    """Correlation-driven nonparametric learning, CORN (Li, Hoi & Gopalkrishnan 2011).

    The single expert of the survey's tables and of the OLPS toolbox ``corn.m``: with
    ``T`` relatives known, every past window of ``window`` days whose (flattened)
    correlation with the latest window is at least ``rho`` contributes the relative of
    the day after it; the portfolio is the log-optimal one of those relatives (uniform
    if there are none, and while ``T <= window + 1``).

    Parameters
    ----------
    window : int, default 5
        Window length w.
    rho : float, default 0.1
        Correlation threshold ρ in [-1, 1].
    """

    def __init__(self, window: int = 5, rho: float = 0.1) -> None:
        if int(window) < 1 or not -1.0 <= rho <= 1.0:
            raise InputError(f"CORN needs window >= 1 and -1 <= rho <= 1, got {window}, {rho}")
        self.window, self.rho = int(window), float(rho)
        self.name = f"CORN(w={self.window}, rho={self.rho:g})"

    def _start(self, n: int) -> np.ndarray:
        self._search = WindowSearch(n, self.window)
        return np.full(n, 1.0 / n)

    def _update(self, history: np.ndarray) -> np.ndarray:
        self._search.append(history[-1])
        T, n = history.shape
        if T <= self.window + 1:
            return np.full(n, 1.0 / n)
        corr = self._search.correlations(self.window)
        rows = np.flatnonzero(corr >= self.rho)
        return log_optimal(history[rows], self.weights_)

    def matches(self, history: np.ndarray) -> np.ndarray:
        """Return the days CORN would learn from after ``history`` (shape (T, n)).

        Returns
        -------
        numpy.ndarray of int
            Days ``j`` whose preceding window correlates at least ``rho`` with the latest.
        """
        search = WindowSearch(history.shape[1], self.window)
        for x in history:
            search.append(x)
        return np.flatnonzero(search.correlations(self.window) >= self.rho)


class _ExpertMixture(OnlinePolicy):
    """Experts indexed by (k, l) plus the (0, 0) log-optimal expert, mixed by wealth.

    A subclass's ``_masks`` names each expert's sample of past days (a boolean mask over
    the history, or None for the uniform portfolio); experts with the same sample share
    one problem, and the distinct problems of a day are solved together by
    :func:`~portfolio_lab.backtest.baselines.solve_bcrp_batch`, each warm-started from
    its expert's previous portfolio, with the Hessian product that
    :func:`~portfolio_lab.backtest.baselines.hessian_method` expects to be faster for the
    day's samples (the packed outer products of the history, which the dense product
    needs, are kept incrementally: one new row a day, filled only once it is used).
    """

    K: int
    L: int

    def _start(self, n: int) -> np.ndarray:
        self._search = WindowSearch(n, self.K)
        self._experts = np.full((self.K * self.L + 1, n), 1.0 / n)  # last row: (0, 0)
        self._wealth = np.ones(self.K * self.L + 1)
        self._packed = np.empty((0, n * (n + 1) // 2))
        self._packed_rows = 0
        return np.full(n, 1.0 / n)

    def _packed_history(self, history: np.ndarray) -> np.ndarray:
        """Packed outer products of ``history`` (rows appended since the last call)."""
        T = history.shape[0]
        if T > self._packed.shape[0]:
            grown = np.empty((max(2 * self._packed.shape[0], T, 256), self._packed.shape[1]))
            grown[: self._packed_rows] = self._packed[: self._packed_rows]
            self._packed = grown
        if self._packed_rows < T:
            self._packed[self._packed_rows : T] = packed_outer(history[self._packed_rows : T])
            self._packed_rows = T
        return self._packed[:T]

    def _masks(self, history: np.ndarray) -> list[np.ndarray | None]:  # pragma: no cover
        raise NotImplementedError

    def _freeze_bcrp_wealth(self) -> bool:
        return False

    def _update(self, history: np.ndarray) -> np.ndarray:
        x = history[-1]
        growth = self._experts @ x
        if self._freeze_bcrp_wealth():
            growth[-1] = 1.0
        self._wealth = self._wealth * growth
        self._wealth /= self._wealth.max()
        self._search.append(x)
        T, n = history.shape
        masks = self._masks(history)
        # the toolbox's T <= k + 1 rule holds for k = 0 too: uniform after one relative
        masks.append(np.ones(T, dtype=bool) if T >= 2 else None)
        new = np.full_like(self._experts, 1.0 / n)
        keys: dict[bytes, int] = {}
        owner: list[int] = []  # expert of each distinct problem (its warm start)
        problem = np.full(len(masks), -1)
        for e, mask in enumerate(masks):
            if mask is None or not mask.any():
                continue
            key = np.packbits(mask).tobytes()
            if key not in keys:  # experts with the same sample share one problem
                keys[key] = len(owner)
                owner.append(e)
            problem[e] = keys[key]
        if owner:
            stack = np.array([masks[e] for e in owner])
            method = hessian_method(T, n, stack.sum(axis=1))
            packed = self._packed_history(history) if method == "dense" else None
            # decrement 1e-10 (solve_bcrp's default 1e-12 costs about a tenth more Newton
            # steps): after the last step an expert's weights are within about 1e-10 of its
            # optimum, far inside what the mixture's wealth can show
            solved = solve_bcrp_batch(
                history,
                stack,
                starts=self._experts[owner],
                hessian=method,
                packed=packed,
                tol=EXPERT_TOL,
            )
            has = problem >= 0
            new[has] = solved[problem[has]]
        self._experts = new
        mix = self._wealth @ new
        return mix / mix.sum()


class BK(_ExpertMixture):
    """Nonparametric kernel-based log-optimal strategy B^K (Györfi, Lugosi & Udina 2006).

    The toolbox's ``bk.m`` (the survey's variant): experts ``(k, l)``, ``k = 1..K``,
    ``l = 1..L``, each the log-optimal portfolio of the days that followed a past
    length-``k`` window within Euclidean distance ``c / l`` of the latest one (uniform
    when there is none, or while ``T <= k + 1``), plus the expert ``(0, 0)``, the
    log-optimal portfolio of the whole history (uniform while ``T <= 1``). The experts
    are mixed with uniform prior weights ``q = 1 / (K L + 1)`` by the wealth each has accumulated.

    Parameters
    ----------
    K : int, default 5
        Longest window.
    L : int, default 10
        Number of radii ``c/1 .. c/L``.
    c : float, default 1.0
        Largest radius.
    """

    def __init__(self, K: int = 5, L: int = 10, c: float = 1.0) -> None:
        if int(K) < 1 or int(L) < 1 or not c > 0:
            raise InputError(f"BK needs K >= 1, L >= 1 and c > 0, got {K}, {L}, {c}")
        self.K, self.L, self.c = int(K), int(L), float(c)
        self.name = f"B^K(K={self.K}, L={self.L}, c={self.c:g})"

    def _masks(self, history: np.ndarray) -> list[np.ndarray | None]:
        T = history.shape[0]
        dist = np.sqrt(self._search.squared_distances(self.K))
        radii = self.c / np.arange(1, self.L + 1)
        out: list[np.ndarray | None] = []
        for k in range(1, self.K + 1):
            if T <= k + 1:
                out.extend([None] * self.L)
            else:
                out.extend(dist[k - 1][None, :] <= radii[:, None])
        return out


class BNN(_ExpertMixture):
    """Nonparametric nearest-neighbour log-optimal strategy B^NN (Györfi et al. 2008).

    The toolbox's ``bnn.m`` (the survey's variant): experts ``(k, l)``, ``k = 1..K``,
    ``l = 1..L``, each the log-optimal portfolio of the days that followed the
    ``floor(p_l T)`` past length-``k`` windows nearest (Euclidean) to the latest one, with
    ``p_l = 0.02 + 0.5 (l - 1) / (L - 1)``, plus the expert ``(0, 0)`` (log-optimal on the
    whole history), mixed by wealth with uniform prior. Ties are broken by date (stable
    sort); as in the toolbox, the ``k`` days without a full window before them count as
    infinitely far and are taken only when ``floor(p_l T)`` exceeds the windows available.

    Parameters
    ----------
    K : int, default 5
        Longest window.
    L : int, default 10
        Number of neighbourhood sizes (at least 2).
    freeze_bcrp_wealth : bool, default True
        The toolbox never updates the wealth of the ``(0, 0)`` expert in ``bnn_run.m``
        (it stays 1, unlike in ``bk_run.m``); True reproduces that, False treats it like
        the other experts.
    """

    def __init__(self, K: int = 5, L: int = 10, freeze_bcrp_wealth: bool = True) -> None:
        if int(K) < 1 or int(L) < 2:
            raise InputError(f"BNN needs K >= 1 and L >= 2, got {K}, {L}")
        self.K, self.L = int(K), int(L)
        self.freeze_bcrp_wealth = bool(freeze_bcrp_wealth)
        self.name = f"B^NN(K={self.K}, L={self.L})"

    def _freeze_bcrp_wealth(self) -> bool:
        return self.freeze_bcrp_wealth

    def _masks(self, history: np.ndarray) -> list[np.ndarray | None]:
        T = history.shape[0]
        dist = self._search.squared_distances(self.K)
        sizes = np.floor((0.02 + 0.5 * np.arange(self.L) / (self.L - 1)) * T).astype(int)
        out: list[np.ndarray | None] = []
        for k in range(1, self.K + 1):
            if T <= k + 1:
                out.extend([None] * self.L)
                continue
            rank = np.empty(T, dtype=int)
            rank[np.argsort(dist[k - 1], kind="stable")] = np.arange(T)
            out.extend(rank[None, :] < sizes[:, None])
        return out
