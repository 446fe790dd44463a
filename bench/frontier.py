"""Benchmark: constrained and unconstrained Markowitz problems, portfolio-lab vs the peers.

Cases (same problems and targets for every method): ``gmv`` (global minimum variance,
budget only), ``frontier_eq`` (100-point equality-constrained frontier, shorting allowed),
``frontier_long_only`` (100-point long-only frontier) and ``max_sharpe_long_only``; sizes
n = 20 (bundled S&P 500 data) and 100, 500, 2000 (seeded factor models).

Methods: portfolio-lab on numpy and torch-CPU (plus cupy / torch-cuda when a GPU is
visible), PyPortfolioOpt, skfolio, and cvxpy with Clarabel and with OSQP (one
parametrized problem re-solved per point, default tolerances). Accuracy is measured
against cvxpy + Clarabel at tight tolerances on a few frontier points. A peer whose full
frontier would take longer than ``--cap`` seconds is timed on fewer points and scaled to
100, marked ``extrapolated_from_points``.

Case ``cla_long_only`` (issue 9): every corner portfolio of the long-only frontier plus
the 100 long-only targets interpolated on the path, by portfolio-lab's critical line
(numpy, torch-CPU), against PyPortfolioOpt's ``CLA.efficient_frontier(points=100)`` (its
turning points and ~100 points between them; its accuracy is measured on the turning points
interpolated at our targets) and portfolio-lab's batched ADMM path on the same 100 targets,
in one run. A
PyPortfolioOpt CLA run longer than ``--cla-cap`` seconds is stopped and recorded as a
lower bound (``timed_out_after``).

Case ``cla_long_only_dense`` (issue 20): the same on :func:`portfolio_lab.timing.dense_problem`
(Σ and μ estimated from 3n days of a 10-factor model: nearly every asset enters, about n
corners), with the 100 targets running from the GMV return as Clarabel reports it to the
largest return; also timed as the user's call ``efficient_frontier(..., long_only=True)``,
against PyPortfolioOpt's CLA (n <= 500) and cvxpy + OSQP on the same 100 targets.

Usage: ``python bench/frontier.py [--quick] [--sizes 20 100] [--cap 8] [--only-cla]
[--no-peers] [--machine NAME]``.
Writes ``results/benchmarks/frontier_<machine>.json`` and ``.png``; ``--only-cla`` reruns
the critical-line case alone and replaces its rows in the existing JSON.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_factor_problem, matmul_gflops, sp500_problem  # noqa: E402

from portfolio_lab._io import read_json, write_json  # noqa: E402
from portfolio_lab.backend import get_backend, gpu_available, to_numpy  # noqa: E402
from portfolio_lab.solvers import critical_line, efficient_frontier, min_variance  # noqa: E402
from portfolio_lab.solvers.qp import qp_frontier, qp_max_sharpe, return_range  # noqa: E402
from portfolio_lab.timing import (  # noqa: E402
    dense_problem,
    device_sync,
    machine_name,
    machine_record,
    time_calls,
)

K_POINTS = 100
CASES = ("gmv", "frontier_eq", "frontier_long_only", "max_sharpe_long_only")
CLA_CASE = "cla_long_only"
#: issue 20: the same measurement on timing.dense_problem (Σ, μ estimated from 3n days of a
#: 10-factor model, daily scale): nearly every asset enters, about n corners
CLA_DENSE_CASE = "cla_long_only_dense"
RF = 0.0


# ----------------------------------------------------------------------------- problems
def problem(n: int) -> dict[str, Any]:
    if n == 20:
        mu, cov, names = sp500_problem()
        source = "bundled sp500 (20 stocks, daily log returns 1990-2022)"
    else:
        mu, cov = make_factor_problem(n, seed=n)
        source = f"make_factor_problem(n={n}, seed={n})"
    lo, hi = np.zeros(n), np.full(n, np.inf)
    ref_lo_gmv = reference_qp(mu, cov, None, lo, hi)
    r0 = float(ref_lo_gmv @ mu)
    _, r_max = return_range(mu, lo, hi)
    t_lo = np.linspace(r0, r_max - 0.02 * (r_max - r0), K_POINTS)
    gmv_ret = float(reference_qp(mu, cov, None, None, None) @ mu)
    t_eq = np.linspace(gmv_ret, float(mu.max()), K_POINTS)
    return {"mu": mu, "cov": cov, "source": source, "t_lo": t_lo, "t_eq": t_eq}


def reference_qp(mu, cov, target, lo, hi, kind="eq"):
    """cvxpy + Clarabel at tight tolerances on Σ scaled to unit mean diagonal."""
    import cvxpy as cp

    n = cov.shape[0]
    d = float(np.mean(np.diag(cov)))
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1]
    if lo is not None:
        cons.append(w >= lo)
    if hi is not None and np.isfinite(hi).any():
        cons.append(w <= hi)
    if target is not None:
        cons.append(mu @ w == target if kind == "eq" else mu @ w >= target)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(w, cp.psd_wrap(cov / d))), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(w.value)


def reference_max_sharpe(mu, cov, rf):
    import cvxpy as cp

    n = cov.shape[0]
    d = float(np.mean(np.diag(cov)))
    y, k = cp.Variable(n), cp.Variable()
    cons = [(mu - rf) @ y == 1, cp.sum(y) == k, y >= 0, k >= 0]
    prob = cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov / d))), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(y.value) / float(k.value)


def synthetic_returns(mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Returns whose sample mean and (ddof=1) covariance equal ``mu`` and ``cov`` exactly."""
    n = mu.size
    t = n + 2
    rng = np.random.default_rng(0)
    z = rng.standard_normal((t, n))
    z -= z.mean(axis=0)
    q, _ = np.linalg.qr(z)  # orthonormal, centred columns
    low = np.linalg.cholesky(cov)
    return mu + np.sqrt(t - 1) * q @ low.T


# ----------------------------------------------------------------------------- methods
# Each solver takes (prob, case, idx) and returns weights (len(idx), n) for those points.
def ours(backend: str):
    name, device = {"torch-cpu": ("torch", "cpu"), "torch-cuda": ("torch", "cuda")}.get(
        backend, (backend, None)
    )
    conv, _ = get_backend(name, device)

    def run(p, case, idx):
        mu, cov = conv(p["mu"]), conv(p["cov"])
        if case == "gmv":
            return to_numpy(min_variance(cov).weights)[None, :]
        if case == "frontier_eq":
            return to_numpy(efficient_frontier(mu, cov, p["t_eq"][idx]).weights)
        if case == "frontier_long_only":  # the batched ADMM path (the GPU default)
            n = p["mu"].size
            res = qp_frontier(mu, cov, p["t_lo"][idx], lower=conv(np.zeros(n)), upper=None)
            return to_numpy(res.weights)
        res = qp_max_sharpe(mu, cov, RF, lower=conv(np.zeros(p["mu"].size)), upper=None)
        return to_numpy(res.weights)[None, :]

    return run, device_sync(name, device)


def pypfopt_run(p, case, idx):
    from pypfopt import EfficientFrontier

    mu, cov = p["mu"], p["cov"]
    if case == "gmv":
        ef = EfficientFrontier(mu, cov, weight_bounds=(None, None))
        ef.min_volatility()
        return _vec(ef.weights)[None, :]
    if case == "max_sharpe_long_only":
        ef = EfficientFrontier(mu, cov, weight_bounds=(0, 1))
        ef.max_sharpe(risk_free_rate=RF)
        return _vec(ef.weights)[None, :]
    lo_only = case == "frontier_long_only"
    # (-10, 10) instead of (None, None): PyPortfolioOpt needs a bounded max-return LP first
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 1) if lo_only else (-10, 10))
    targets = p["t_lo"] if lo_only else p["t_eq"]
    out = []
    for r in targets[idx]:
        try:
            ef.efficient_return(float(r))
            out.append(_vec(ef.weights))
        except Exception:  # noqa: BLE001 - a failed point is recorded as NaN weights
            out.append(np.full(mu.size, np.nan))
    return np.array(out)


def _vec(w: Any) -> np.ndarray:
    return np.asarray(list(w.values()) if isinstance(w, dict) else w, dtype=float)


def skfolio_run(p, case, idx):
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    x = p.setdefault("_x", synthetic_returns(p["mu"], p["cov"]))
    kw: dict[str, Any] = {"risk_measure": RiskMeasure.VARIANCE}
    if case == "gmv":
        model = MeanRisk(min_weights=None, max_weights=None, **kw)
    elif case == "max_sharpe_long_only":
        model = MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
            risk_free_rate=RF,
            min_weights=0.0,
            max_weights=1.0,
            **kw,
        )
    else:
        lo_only = case == "frontier_long_only"
        targets = (p["t_lo"] if lo_only else p["t_eq"])[idx]
        model = MeanRisk(
            min_return=np.asarray(targets) if len(idx) > 1 else float(targets[0]),
            min_weights=0.0 if lo_only else None,
            max_weights=1.0 if lo_only else None,
            **kw,
        )
    model.fit(x)
    return np.atleast_2d(np.asarray(model.weights_, dtype=float))


def cvxpy_run(solver: str):
    def run(p, case, idx):
        import cvxpy as cp

        mu, cov = p["mu"], p["cov"]
        n = mu.size
        if case == "max_sharpe_long_only":
            y, k = cp.Variable(n), cp.Variable()
            prob = cp.Problem(
                cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov))),
                [(mu - RF) @ y == 1, cp.sum(y) == k, y >= 0, k >= 0],
            )
            prob.solve(solver=solver)
            return (np.asarray(y.value) / float(k.value))[None, :]
        w = cp.Variable(n)
        cons = [cp.sum(w) == 1]
        if case == "gmv":
            cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(cov))), cons).solve(solver=solver)
            return np.asarray(w.value)[None, :]
        r = cp.Parameter()
        lo_only = case == "frontier_long_only"
        cons.append(mu @ w == r)
        if lo_only:
            cons.append(w >= 0)
        prob = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(cov))), cons)
        out = []
        for t in (p["t_lo"] if lo_only else p["t_eq"])[idx]:
            r.value = float(t)
            try:
                prob.solve(solver=solver)
            except cp.SolverError:
                w.value = None
            out.append(np.asarray(w.value) if w.value is not None else np.full(n, np.nan))
        return np.array(out)

    return run


# ----------------------------------------------------------------------------- critical line
def cla_ours(backend: str):
    """All corners, then the 100 long-only targets on the path (one timed call)."""
    name, device = {"torch-cpu": ("torch", "cpu")}.get(backend, (backend, None))
    conv, _ = get_backend(name, device)

    def run(p):
        path = critical_line(conv(p["mu"]), conv(p["cov"]))
        return to_numpy(path.weights_at(conv(p["t_lo"])).weights), len(path)

    return run


def cla_admm(p):
    n = p["mu"].size
    res = qp_frontier(p["mu"], p["cov"], p["t_lo"], lower=np.zeros(n), upper=None)
    return np.asarray(res.weights), 0


def interpolate_turning_points(weights: np.ndarray, mu: np.ndarray, targets: np.ndarray):
    """Weights at ``targets`` by linear interpolation in return between turning points."""
    rets = weights @ mu
    order = np.argsort(rets, kind="stable")
    r, w = rets[order], weights[order]
    out = np.full((targets.size, mu.size), np.nan)
    for k, t in enumerate(targets):
        j = int(np.clip(np.searchsorted(r, t), 1, r.size - 1))
        if r[j] == r[j - 1]:
            out[k] = w[j]
            continue
        a = (t - r[j - 1]) / (r[j] - r[j - 1])
        out[k] = (1 - a) * w[j - 1] + a * w[j]
    return out


def _pypfopt_cla_child(conn, mu, cov, budget):
    import time as _time

    from pypfopt.cla import CLA

    times = []
    while len(times) < 5 and sum(times) * (len(times) + 1) / max(len(times), 1) <= budget:
        t0 = _time.perf_counter()
        cla = CLA(mu, cov, weight_bounds=(0, 1))
        cla.efficient_frontier(points=100)  # every turning point, then ~100 points between them
        times.append(_time.perf_counter() - t0)
    conn.send((times, np.hstack(cla.w).T))
    conn.close()


def pypfopt_cla(p, cap: float) -> dict[str, Any]:
    """PyPortfolioOpt's CLA in a child process, stopped after ``cap`` seconds."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_pypfopt_cla_child, args=(child, p["mu"], p["cov"], cap / 4))
    proc.start()
    child.close()
    if not parent.poll(cap):
        proc.kill()
        proc.join()
        return {"timed_out_after": cap}
    times, tp = parent.recv()
    proc.join()
    # accuracy at our targets: the turning points interpolated in return (untimed)
    w = interpolate_turning_points(tp, p["mu"], p["t_lo"])
    return {"times": times, "weights": w, "corners": int(tp.shape[0])}


def corner_kkt(mu: np.ndarray, cov: np.ndarray) -> float:
    """Largest relative KKT violation over the corners, from weights and multipliers."""
    path = critical_line(mu, cov)
    W = np.asarray(path.weights)
    worst = 0.0
    scale = np.max(np.abs(cov))
    for w, lam, gam in zip(W, path.lambdas, path.gammas, strict=True):
        z = cov @ w - lam * mu - gam
        free = w > 1e-13
        viol = max(float(np.max(np.abs(z[free]))), float(np.max(-z[~free], initial=0.0)))
        worst = max(worst, viol / scale)
    return worst


def run_cla_case(sizes, cla_cap: float, progress: bool) -> list[dict[str, Any]]:
    rows = []
    for n in tqdm(sizes, disable=not progress, desc="critical line"):
        p = problem(n)
        p["acc"] = accuracy_indices(n)
        ref = np.array(
            [reference_qp(p["mu"], p["cov"], t, np.zeros(n), None) for t in p["t_lo"][p["acc"]]]
        )
        obj_ref = np.einsum("ki,ij,kj->k", ref, p["cov"], ref)
        methods = {
            "portfolio-lab-cla[numpy]": cla_ours("numpy"),
            "portfolio-lab-cla[torch-cpu]": cla_ours("torch-cpu"),
            "portfolio-lab-admm[numpy]": cla_admm,
        }
        reps = 7 if n <= 500 else 3
        for name, run in methods.items():
            times, (w, k) = time_calls(lambda run=run, p=p: run(p), repeats=reps, warmup=1)
            rows.append(_accuracy_row(n, name, p, w, ref, obj_ref, times, corners=k))
        rows[-3]["max_rel_corner_kkt"] = corner_kkt(p["mu"], p["cov"])
        res = pypfopt_cla(p, cla_cap)
        if "timed_out_after" in res:
            rows.append({"n": n, "case": CLA_CASE, "method": "pypfopt-cla", **res})
        else:
            rows.append(
                _accuracy_row(
                    n,
                    "pypfopt-cla",
                    p,
                    res["weights"],
                    ref,
                    obj_ref,
                    res["times"],
                    corners=res["corners"],
                )
            )
    return rows


def _accuracy_row(n, name, p, w, ref, obj_ref, times, corners):
    got = w[p["acc"]]
    obj = np.einsum("ki,ij,kj->k", got, p["cov"], got)
    row = {
        "n": n,
        "case": CLA_CASE,
        "method": name,
        "source": p["source"],
        "seconds": float(np.median(times)),
        "times": [float(t) for t in times],
        "max_abs_weight_error": float(np.max(np.abs(got - ref))),
        "max_rel_objective_error": float(np.max(np.abs(obj - obj_ref) / obj_ref)),
        "accuracy_points": len(got),
    }
    if corners:
        row["corners"] = corners
    return row


def cla_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, each with the measured value and whether it was met."""
    by = {(r["n"], r["method"]): r for r in rows if r.get("case") == CLA_CASE}
    out = []
    for n, limit in ((500, 0.1), (2000, 3.0)):
        r = by.get((n, "portfolio-lab-cla[numpy]"))
        if r:
            out.append(
                {
                    "goal": f"all corners + 100 points at n = {n} in <= {limit} s (one thread)",
                    "measured_seconds": r["seconds"],
                    "met": r["seconds"] <= limit,
                }
            )
    ours, peer = by.get((100, "portfolio-lab-cla[numpy]")), by.get((100, "pypfopt-cla"))
    if ours and peer:
        if "seconds" in peer:
            sp, bound = peer["seconds"] / ours["seconds"], False
        else:
            sp, bound = peer["timed_out_after"] / ours["seconds"], True
        out.append(
            {
                "goal": ">= 100x faster than PyPortfolioOpt's CLA at n = 100",
                "measured_speedup": sp,
                "speedup_is_lower_bound": bound,
                "met": sp >= 100,
            }
        )
    errs = [
        r["max_abs_weight_error"]
        for r in by.values()
        if r["method"].startswith("portfolio-lab-cla")
    ]
    if errs:
        out.append(
            {
                "goal": "exact (weights vs Clarabel at 1e-12 tolerances)",
                "max_abs_weight_error": max(errs),
                "met": max(errs) <= 1e-8,
            }
        )
    return out


# ----------------------------------------------------------------------------- dense case
def dense_case_problem(n: int) -> dict[str, Any]:
    """``timing.dense_problem(n, seed=n)`` with 100 targets from the GMV return (as Clarabel
    reports it, at tight tolerances) to the largest return, as a user would pass them."""
    mu, cov = dense_problem(n, seed=n)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    r0 = float(reference_qp(mu, cov, None, lo, hi) @ mu)
    _, r_max = return_range(mu, lo, hi)
    return {
        "mu": mu,
        "cov": cov,
        "source": f"timing.dense_problem(n={n}, seed={n}): 10 factors, 3n days, sample moments",
        "t_lo": np.linspace(r0, r_max, K_POINTS),
    }


def ef_ours(p):
    """The user's call: ``efficient_frontier(..., long_only=True)`` on the 100 targets."""
    res = efficient_frontier(p["mu"], p["cov"], p["t_lo"], long_only=True)
    return to_numpy(res.weights), 0


def run_cla_dense_case(sizes, cla_cap: float, cap: float, progress: bool) -> list[dict[str, Any]]:
    """Critical line on the dense case against PyPortfolioOpt's CLA and cvxpy + OSQP."""
    rows = []
    for n in tqdm(sizes, disable=not progress, desc="critical line (dense)"):
        p = dense_case_problem(n)
        p["acc"] = accuracy_indices(n)
        lo = np.zeros(n)
        ref = np.array([reference_qp(p["mu"], p["cov"], t, lo, None) for t in p["t_lo"][p["acc"]]])
        obj_ref = np.einsum("ki,ij,kj->k", ref, p["cov"], ref)
        methods = {
            "portfolio-lab-cla[numpy]": cla_ours("numpy"),
            "portfolio-lab-efficient_frontier[numpy]": ef_ours,
            "portfolio-lab-cla[torch-cpu]": cla_ours("torch-cpu"),
        }
        reps = 7 if n <= 500 else 3
        for name, run in methods.items():
            times, (w, k) = time_calls(lambda run=run, p=p: run(p), repeats=reps, warmup=1)
            row = _accuracy_row(n, name, p, w, ref, obj_ref, times, corners=k)
            row["case"] = CLA_DENSE_CASE
            if name == "portfolio-lab-cla[numpy]":
                row["max_rel_corner_kkt"] = corner_kkt(p["mu"], p["cov"])
            rows.append(row)
        # cvxpy + OSQP on the same 100 targets (fewer points and scaled when over the cap)
        res = time_method(cvxpy_run("OSQP"), p, "frontier_long_only", cap, 1)
        row = {"n": n, "case": CLA_DENSE_CASE, "method": "cvxpy-osqp", "source": p["source"]}
        if "error" in res:
            row["error"] = res["error"]
        else:
            w, idx = res.pop("weights"), res.pop("idx")
            pos = {int(j): i for i, j in enumerate(idx)}
            sel = [k for k, j in enumerate(p["acc"]) if int(j) in pos]
            got = w[[pos[int(p["acc"][k])] for k in sel]]
            row.update(res)
            if np.isfinite(got).all() and sel:
                row["max_abs_weight_error"] = float(np.max(np.abs(got - ref[sel])))
                obj = np.einsum("ki,ij,kj->k", got, p["cov"], got)
                row["max_rel_objective_error"] = float(
                    np.max(np.abs(obj - obj_ref[sel]) / obj_ref[sel])
                )
            row["accuracy_points"] = len(sel)
        rows.append(row)
        if n <= 500:
            res = pypfopt_cla(p, cla_cap)
            if "timed_out_after" in res:
                rows.append({"n": n, "case": CLA_DENSE_CASE, "method": "pypfopt-cla", **res})
            else:
                row = _accuracy_row(
                    n,
                    "pypfopt-cla",
                    p,
                    res["weights"],
                    ref,
                    obj_ref,
                    res["times"],
                    corners=res["corners"],
                )
                row["case"] = CLA_DENSE_CASE
                rows.append(row)
    return rows


def cla_dense_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 20's goals on the dense case, each with the measured value and whether met."""
    by = {(r["n"], r["method"]): r for r in rows if r.get("case") == CLA_DENSE_CASE}
    out = []
    for n, limit in ((500, 0.1), (2000, 3.0)):
        for m in ("portfolio-lab-cla[numpy]", "portfolio-lab-efficient_frontier[numpy]"):
            r = by.get((n, m))
            if r:
                out.append(
                    {
                        "goal": f"dense: all corners + 100 points at n = {n} in <= {limit} s",
                        "method": m,
                        "measured_seconds": r["seconds"],
                        "met": r["seconds"] <= limit,
                    }
                )
    for n, peer, need in ((500, "cvxpy-osqp", 200), (100, "pypfopt-cla", 100)):
        ours, other = by.get((n, "portfolio-lab-cla[numpy]")), by.get((n, peer))
        if ours and other and ("seconds" in other or "timed_out_after" in other):
            bound = "seconds" not in other
            sp = (other["timed_out_after"] if bound else other["seconds"]) / ours["seconds"]
            out.append(
                {
                    "goal": f"dense: >= {need}x faster than {peer} at n = {n}",
                    "measured_speedup": sp,
                    "speedup_is_lower_bound": bound,
                    "peer_extrapolated_from_points": other.get("extrapolated_from_points"),
                    "met": sp >= need,
                }
            )
    kkt = [r["max_rel_corner_kkt"] for r in by.values() if "max_rel_corner_kkt" in r]
    if kkt:
        out.append(
            {
                "goal": "dense: KKT <= 1e-10 at every corner",
                "max": max(kkt),
                "met": max(kkt) <= 1e-10,
            }
        )
    return out


# ----------------------------------------------------------------------------- harness
def accuracy_indices(n: int) -> np.ndarray:
    m = 2 if n >= 2000 else 5
    return np.unique(np.linspace(0, K_POINTS - 1, m).round().astype(int))


def point_order(acc: np.ndarray) -> np.ndarray:
    rest = np.setdiff1d(np.arange(K_POINTS), acc)
    return np.r_[acc, rest]


def time_method(run, p, case, cap, repeats, sync=None) -> dict[str, Any]:
    """Time one method on one case; frontier peers beyond ``cap`` s use fewer points."""
    is_frontier = case.startswith("frontier")
    order = point_order(p["acc"]) if is_frontier else np.array([0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        try:
            w1 = run(p, case, order[:1])
        except Exception as exc:  # noqa: BLE001 - a peer failing is a result to record
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
        t1 = time.perf_counter() - t0
        if not is_frontier:
            times, w = [t1], w1
            if t1 * repeats <= 2 * cap:
                more, w = time_calls(
                    lambda: run(p, case, order[:1]), repeats=repeats - 1, warmup=0, sync=sync
                )
                times = [t1, *more]
            return {
                "seconds": float(np.median(times)),
                "times": times,
                "weights": w,
                "idx": order[:1],
            }
        m = K_POINTS if t1 * K_POINTS <= cap else int(np.clip(cap / max(t1, 1e-9), 1, K_POINTS))
        if t1 * len(p["acc"]) <= 3 * cap:  # cover the accuracy points when affordable
            m = max(m, len(p["acc"]))
        idx = order[:m]
        if m == 1:
            times, w = [t1], w1
        else:
            reps = repeats if t1 * m * repeats <= 2 * cap else 1
            times, w = time_calls(lambda: run(p, case, idx), repeats=reps, warmup=0, sync=sync)
        sec = float(np.median(times))
        out = {"seconds": sec * K_POINTS / m, "times": times, "weights": w, "idx": idx}
        if m < K_POINTS:
            out["extrapolated_from_points"] = int(m)
            out["measured_seconds"] = sec
        return out


def flops_bound(case: str, n: int) -> float:
    """Flop count that any dense method needs: one Cholesky plus the solves it implies."""
    chol = n**3 / 3.0
    if case == "gmv":
        return chol + 2 * n**2
    if case == "frontier_eq":
        return chol + 4 * n**2 + 2 * K_POINTS * n
    if case == "frontier_long_only":
        return chol + 2 * K_POINTS * n**2
    return chol + 2 * n**2


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: n in (20, 100), tiny cap")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--cap", type=float, default=None, help="seconds per peer frontier")
    ap.add_argument("--out", default="results/benchmarks")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--replot", default=None, help="redraw the PNG of an existing JSON and exit")
    ap.add_argument(
        "--only-cla", action="store_true", help="rerun the critical-line case and merge it"
    )
    ap.add_argument("--cla-cap", type=float, default=None, help="seconds for PyPortfolioOpt CLA")
    ap.add_argument(
        "--no-peers",
        action="store_true",
        help="portfolio-lab's backends only (GPU sizes): no peers, no Clarabel references "
        "(accuracy against portfolio-lab[numpy]), no critical-line cases",
    )
    ap.add_argument("--machine", default=None, help="tag of the JSON name (default: detected)")
    ap.add_argument(
        "--backends",
        nargs="+",
        default=None,
        choices=["numpy", "torch-cpu", "cupy", "torch-cuda"],
        help="portfolio-lab backends to time (default: numpy, torch-cpu and the GPU ones "
        "visible); unavailable GPU backends are dropped",
    )
    args = ap.parse_args(argv)
    if args.replot:
        saved = read_json(Path(args.replot))
        plot(saved["results"], Path(args.replot).with_suffix(".png"), saved["machine"])
        return saved
    sizes = args.sizes or ([20, 100] if args.quick else [20, 100, 500, 2000])
    cap = args.cap if args.cap is not None else (2.0 if args.quick else 8.0)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    cla_cap = args.cla_cap if args.cla_cap is not None else (10.0 if args.quick else 120.0)
    machine = args.machine or machine_name()
    folder = Path(args.out)
    suffix = "_quick" if args.quick else ""
    if args.only_cla:
        return merge_cla(folder / f"frontier_{machine}{suffix}.json", sizes, cla_cap, args)
    backends = ["numpy", "torch-cpu"]
    if gpu_available("cupy"):
        backends.append("cupy")
    if gpu_available("torch"):
        backends.append("torch-cuda")
    if args.backends:
        backends = [b for b in args.backends if b in backends]
    info = machine_record()
    info["threads"] = 1
    info["gflops_matmul_float64"] = matmul_gflops(1500)
    gpu_runs = any(b in ("cupy", "torch-cuda") for b in backends)
    info["gpu_note"] = "GPU runs included" if gpu_runs else "no GPU backend run"
    info["backends"] = backends
    peers = {
        "pypfopt": pypfopt_run,
        "skfolio": skfolio_run,
        "cvxpy-clarabel": cvxpy_run("CLARABEL"),
        "cvxpy-osqp": cvxpy_run("OSQP"),
    }
    if args.no_peers:
        peers = {}
    rows = []
    jobs = [(n, c) for n in sizes for c in CASES]
    bar = tqdm(total=len(jobs), disable=args.no_progress, desc="frontier bench")
    for n in sizes:
        p = problem(n)
        p["acc"] = accuracy_indices(n)
        refs: dict[str, np.ndarray] = {}
        for case in CASES:
            if args.no_peers:  # accuracy against our NumPy path (GPU sizes: no Clarabel)
                idx = p["acc"] if case.startswith("frontier") else np.array([0])
                refs[case] = ours("numpy")[0](p, case, idx)
            elif case == "gmv":
                refs[case] = reference_qp(p["mu"], p["cov"], None, None, None)[None, :]
            elif case == "max_sharpe_long_only":
                refs[case] = reference_max_sharpe(p["mu"], p["cov"], RF)[None, :]
            else:
                lo_only = case == "frontier_long_only"
                tg = (p["t_lo"] if lo_only else p["t_eq"])[p["acc"]]
                lo = np.zeros(n) if lo_only else None
                refs[case] = np.array([reference_qp(p["mu"], p["cov"], t, lo, None) for t in tg])
            methods: dict[str, tuple[Any, Any]] = {}
            for b in backends:
                run, sync = ours("torch-cpu" if b == "torch-cpu" else b)
                methods[f"portfolio-lab[{b}]"] = (run, sync)
            for name, run in peers.items():
                methods[name] = (run, None)
            bound = flops_bound(case, n) / (info["gflops_matmul_float64"] * 1e9)
            for name, (run, sync) in methods.items():
                is_ours = name.startswith("portfolio-lab")
                reps = 3 if n >= 500 else 5
                res = time_method(run, p, case, float("inf") if is_ours else cap, reps, sync)
                row = {"n": n, "case": case, "method": name, "source": p["source"]}
                if "error" in res:
                    row["error"] = res["error"]
                    rows.append(row)
                    continue
                w, idx = res.pop("weights"), res.pop("idx")
                ref = refs[case]
                if case.startswith("frontier"):
                    pos = {int(j): i for i, j in enumerate(idx)}
                    sel = [pos[int(j)] for j in p["acc"] if int(j) in pos]
                    got, ref_sel = w[sel], ref[[k for k, j in enumerate(p["acc"]) if int(j) in pos]]
                else:
                    got, ref_sel = w[:1], ref
                row["failed_points"] = int(np.sum(~np.isfinite(w).all(axis=1)))
                err = float(np.nanmax(np.abs(got - ref_sel))) if np.isfinite(got).all() else np.inf
                obj = np.einsum("ki,ij,kj->k", got, p["cov"], got)
                obj_ref = np.einsum("ki,ij,kj->k", ref_sel, p["cov"], ref_sel)
                row.update(res)
                row["max_abs_weight_error"] = err
                row["max_rel_objective_error"] = float(np.max(np.abs(obj - obj_ref) / obj_ref))
                row["accuracy_points"] = len(got)
                row["lower_bound_seconds"] = bound
                rows.append(row)
            bar.update(1)
    bar.close()
    if not args.no_peers:
        rows += run_cla_case(sizes, cla_cap, not args.no_progress)
        rows += run_cla_dense_case(sizes, cla_cap, cap, not args.no_progress)
    summary = speedups(rows)
    out = {
        "machine": info,
        "k_points": K_POINTS,
        "cases": [*CASES, CLA_CASE, CLA_DENSE_CASE],
        "sizes": sizes,
        "peer_cap_seconds": cap,
        "notes": (
            "Medians of repeats; peers whose full frontier exceeds the cap are timed on fewer "
            "points and scaled to 100 (extrapolated_from_points). Accuracy: max |w - w_ref| and "
            "relative objective error vs cvxpy+Clarabel at 1e-12 tolerances on the listed "
            "frontier points. All BLAS/torch work single-threaded (shared 2-core machine). "
            "PyPortfolioOpt and skfolio use a >= return constraint, identical to = for targets "
            "above the minimum-variance return (all targets here)."
        ),
        "results": rows,
        "speedups": summary,
        "cla_goals": cla_goals(rows),
        "cla_dense_goals": cla_dense_goals(rows),
        "cla_peer_cap_seconds": cla_cap,
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"frontier_{machine}{suffix}.json", _clean(out))
    plot(rows, folder / f"frontier_{machine}{suffix}.png", info)
    return out


def merge_cla(path: Path, sizes, cla_cap: float, args) -> dict[str, Any]:
    """Rerun the critical-line cases (sparse and dense) and replace their rows in the JSON."""
    saved = read_json(path) if path.exists() else {"results": [], "machine": machine_record()}
    cap = args.cap if args.cap is not None else 8.0
    new = run_cla_case(sizes, cla_cap, not args.no_progress)
    new += run_cla_dense_case(sizes, cla_cap, cap, not args.no_progress)
    cases = (CLA_CASE, CLA_DENSE_CASE)
    saved["results"] = [r for r in saved["results"] if r.get("case") not in cases] + new
    saved["cla_goals"] = cla_goals(saved["results"])
    saved["cla_dense_goals"] = cla_dense_goals(saved["results"])
    saved["cla_peer_cap_seconds"] = cla_cap
    info = machine_record()
    info["threads"] = 1
    saved["cla_machine"] = info
    saved["cases"] = [*CASES, CLA_CASE, CLA_DENSE_CASE]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, _clean(saved))
    plot(saved["results"], path.with_suffix(".png"), saved["machine"])
    return saved


def speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r["method"] != "portfolio-lab[numpy]" or "seconds" not in r:
            continue
        for q in rows:
            if q["n"] == r["n"] and q["case"] == r["case"] and "seconds" in q:
                if not q["method"].startswith("portfolio-lab"):
                    out.append(
                        {
                            "n": r["n"],
                            "case": r["case"],
                            "peer": q["method"],
                            "speedup": q["seconds"] / r["seconds"],
                            "peer_weight_error": q["max_abs_weight_error"],
                            "ours_weight_error": r["max_abs_weight_error"],
                        }
                    )
    return out


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


def plot(rows: list[dict[str, Any]], path: Path, info: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a script, not a notebook
    import matplotlib.pyplot as plt

    from portfolio_lab._io import atomic_path

    cases = [c for c in (*CASES, CLA_CASE, CLA_DENSE_CASE) if any(r.get("case") == c for r in rows)]
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.8), sharey=False)
    axes = np.atleast_1d(axes)
    methods = sorted({r["method"] for r in rows if "seconds" in r})
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, case in zip(axes, cases, strict=True):
        for m in methods:
            pts = sorted(
                (r["n"], r["seconds"], "extrapolated_from_points" in r)
                for r in rows
                if r["case"] == case and r["method"] == m and "seconds" in r
            )
            if not pts:
                continue
            ns, ts, ex = zip(*pts, strict=True)
            style = "-o" if m.startswith("portfolio-lab") else "--s"
            ax.plot(ns, ts, style, label=m, ms=4, color=colors[m])
            for x, y, e in pts:
                if e:
                    ax.plot(x, y, "o", mfc="none", mec=colors[m], ms=9)
        bounds = sorted(
            {
                (r["n"], r["lower_bound_seconds"])
                for r in rows
                if r["case"] == case and "lower_bound_seconds" in r
            }
        )
        if bounds:
            ax.plot(*zip(*bounds, strict=True), ":", color="k", label="flop lower bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(case)
        ax.set_xlabel("n assets")
    axes[0].set_ylabel("seconds (median; open circle = extrapolated)")
    for ax in axes[-2:]:  # the peer methods of the first cases, then the critical-line case
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{info['machine']}: {info['cpu_model']}, 1 thread", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    res = main()
    for s in res.get("speedups", []):
        if s["case"] == "frontier_long_only":
            print(s)
    for g in res.get("cla_goals", []) + res.get("cla_dense_goals", []):
        print(g)
