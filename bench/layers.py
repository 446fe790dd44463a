"""Differentiable Markowitz layers: forward + backward of a batch, ours against peers.

The problem of every method: ``max μᵀw − (γ/2) wᵀΣw s.t. 1ᵀw = 1, w ≥ 0`` (γ = 5) on a
batch of seeded daily-scale factor-model problems (``_common.make_factor_problem``, one
seed per member), float64; the loss is the same fixed random linear functional of the
weights, and the gradients with respect to μ and Σ are compared member by member.

- ours: :func:`portfolio_lab.layers.markowitz` (exact active-set forward, free-set KKT
  backward), the whole batch, median of ``--repeats``, on ``--threads`` threads (default:
  every core, as the peers: diffcp solves cvxpylayers' batch on a thread pool of
  ``cpu_count()`` workers whatever the BLAS limit); beside it the same on one thread
  (``ours_1_thread``) and on the batched torch engine (``ours_torch_engine``, the
  engine of a GPU run) on the CPU;
- cvxpylayers (diffcp + SCS, Σ passed as its Cholesky factor, the gradient reaching Σ
  through ``torch.linalg.cholesky``): at its default tolerance and at ``eps = 1e-12``
  (``--peers cvxpylayers-clarabel`` adds diffcp's Clarabel at its default tolerances,
  which are looser: 5e-4 in the weights at n = 20);
- qpth (batched interior point; ``scripts/install.sh`` installs it with the ``bench`` extra,
  without its requirements, which would replace numpy; recorded as an error when it is not
  installed): ``eps = 1e-12``.

Peers are timed on the first ``peer_batch`` members (all of them where affordable), median
of ``--peer-repeats``, and their time per problem is scaled to the batch (marked
``scaled_from``); their gradients
are compared with ours on exactly those members. Memory: the bytes ours keeps for the
backward pass per problem, and the peak resident-memory growth of a fresh process that
runs each method once (``ru_maxrss``). Each method runs in its own spawned process.
Writes results/benchmarks/layers_<machine>.json.

    .venv/bin/python bench/layers.py [--sizes 20 100 500] [--batch 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
GAMMA = 5.0
PEER_BATCH = {20: 256, 100: 64, 500: 8}


def problems(n: int, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from _common import make_factor_problem

    pairs = [make_factor_problem(n, seed=1000 * n + i) for i in range(batch)]
    probe = np.random.default_rng(n).normal(size=(batch, n))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), probe


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(method: str, n: int, batch: int, keep: int, repeats: int, threads: int,
           device: str, queue) -> None:  # fmt: skip
    """Run one method on one size in this (fresh) process; put a result dict on ``queue``."""
    import torch

    from portfolio_lab.timing import limit_threads

    mu_np, cov_np, probe_np = problems(n, batch)
    out: dict = {"method": method, "n": n, "batch": batch}
    with limit_threads(threads):
        rss0 = _rss_mb()
        mu0 = torch.tensor(mu_np, device=device)
        cov0 = torch.tensor(cov_np, device=device)
        probe = torch.tensor(probe_np, device=device)

        def sync() -> None:
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        if method.startswith("ours"):
            from portfolio_lab import layers

            engine = "torch" if method == "ours-torch" else "auto"
            out["engine"] = "torch" if engine == "torch" or device != "cpu" else "compiled"

            def run():
                m = mu0.clone().requires_grad_(True)
                c = cov0.clone().requires_grad_(True)
                t0 = time.perf_counter()
                w = layers.markowitz(m, c, risk_aversion=GAMMA, engine=engine)
                sync()
                t1 = time.perf_counter()
                (probe * w).sum().backward()
                sync()
                t2 = time.perf_counter()
                return w, m.grad, c.grad, t1 - t0, t2 - t0

            run()  # warm-up
            times, fwd = [], []
            for _ in range(repeats):
                w, gm, gc, tf, tt = run()
                times.append(tt)
                fwd.append(tf)
            sol = layers.solve(mu0, cov0, risk_aversion=GAMMA)
            red = sol.kkt_residual
            # distance of each member from a tie: smallest free weight, smallest |ζ| at a bound
            zs = sol.bound_multipliers.abs().where(sol.fixed != 0, torch.tensor(float("inf")))
            ws = sol.weights.where(sol.fixed == 0, torch.tensor(float("inf")))
            scale_z = sol.bound_multipliers.abs().amax(dim=1).clamp_min(1e-300)
            margin = torch.minimum(ws.amin(dim=1), zs.amin(dim=1) / scale_z)
            out["_margin"] = margin[:keep].cpu().numpy()
            if out["engine"] == "torch":  # the padded factors the torch engine keeps
                from portfolio_lab.layers._active_set import solve_active_set
                from portfolio_lab.layers._function import standard_form

                q, C, cc = standard_form("utility", mu0, None)
                lo = torch.zeros(n, dtype=torch.float64, device=device)
                hi = torch.full((n,), float("inf"), dtype=torch.float64, device=device)
                s = solve_active_set("utility", torch.full((batch,), GAMMA, dtype=torch.float64,
                                     device=device), cov0, q, C, cc, lo, hi)  # fmt: skip
                sysm = s.system
                saved = sum(int(t.numel() * t.element_size()) for t in
                            (s.weights, s.nu, sysm.factor, sysm.v, sysm.schur_pinv, sysm.index,
                             sysm.valid))  # fmt: skip
            else:  # the compiled engine keeps w, ν and the bound flags (and refers to μ, Σ)
                saved = batch * (n * 8 + 8 + n)
            out.update(
                seconds_median=statistics.median(times),
                forward_seconds_median=statistics.median(fwd),
                repeats=repeats,
                kkt_residual_max=float(red.max()),
                active_set_steps_median=float(np.median(sol.n_iter)),
                active_set_steps_max=int(sol.n_iter.max()),
                critical_line_fallbacks=int(sum(m == "critical-line" for m in sol.method)),
                free_assets_mean=float((sol.fixed == 0).sum(dim=1).double().mean()),
                saved_for_backward_bytes_per_problem=saved / batch,
                input_bytes_per_problem=(n * n + n) * 8,
            )
        else:
            mu0, cov0, probe = mu0[:keep], cov0[:keep], probe[:keep]
            if method.startswith("cvxpylayers"):
                import warnings

                import cvxpy as cp
                from cvxpylayers.torch import CvxpyLayer

                warnings.simplefilter("ignore")
                wv = cp.Variable(n)
                mp_ = cp.Parameter(n)
                lp = cp.Parameter((n, n))
                prob = cp.Problem(cp.Maximize(mp_ @ wv - GAMMA / 2 * cp.sum_squares(lp.T @ wv)),
                                  [cp.sum(wv) == 1, wv >= 0])  # fmt: skip
                t_build = time.perf_counter()
                layer = CvxpyLayer(prob, parameters=[mp_, lp], variables=[wv])
                out["build_seconds"] = time.perf_counter() - t_build
                args = {
                    "cvxpylayers": {},
                    "cvxpylayers-tight": {"eps": 1e-12, "max_iters": 200000},
                    "cvxpylayers-clarabel": {"solve_method": "Clarabel"},
                }[method]
                out["solver_args"] = args or "default"

                def forward(m, c):
                    return layer(m, torch.linalg.cholesky(c), solver_args=args)[0]
            elif method == "qpth":
                from qpth.qp import QPFunction

                G = -torch.eye(n, dtype=torch.float64).expand(keep, n, n)
                h = torch.zeros(keep, n, dtype=torch.float64)
                A = torch.ones(keep, 1, n, dtype=torch.float64)
                b = torch.ones(keep, 1, dtype=torch.float64)

                def forward(m, c):
                    return QPFunction(verbose=-1, eps=1e-12, maxIter=60)(GAMMA * c, -m, G, h, A, b)
            else:
                raise ValueError(f"unknown peer {method!r}")
            totals, fwds = [], []
            for _ in range(repeats):  # the same problems each time, as for ours
                m = mu0.clone().requires_grad_(True)
                c = cov0.clone().requires_grad_(True)
                t0 = time.perf_counter()
                w = forward(m, c)
                t1 = time.perf_counter()
                (probe * w).sum().backward()
                t2 = time.perf_counter()
                totals.append(t2 - t0)
                fwds.append(t1 - t0)
            gm, gc = m.grad, c.grad
            out.update(
                seconds_measured=statistics.median(totals),
                forward_seconds_measured=statistics.median(fwds),
                repeats=repeats,
                members_timed=keep,
                seconds_median=statistics.median(totals) * batch / keep,
                scaled_from=keep if keep < batch else None,
            )
        out["peak_rss_growth_mb"] = _rss_mb() - rss0
        k = min(keep, batch)
        gc_sym = 0.5 * (gc[:k] + gc[:k].transpose(1, 2))
        out["_w"] = w[:k].detach().cpu().numpy()
        out["_gmu"] = gm[:k].detach().cpu().numpy()
        out["_gcov"] = gc_sym.detach().cpu().numpy()
    queue.put(out)


def directional_reference(n: int, batch: int, keep: int, directions: int = 3) -> dict:
    """Central differences of the exact map (our forward) along random directions of μ.

    Returns the directions (keep, d, n) and the derivatives of the probe loss (keep, d):
    the reference that both our gradient and a peer's are compared with.
    """
    import torch

    from portfolio_lab import layers

    mu, cov, probe = problems(n, batch)
    mu, cov, probe = mu[:keep], cov[:keep], probe[:keep]
    rng = np.random.default_rng(7)
    dirs = rng.normal(size=(keep, directions, n))
    h = 1e-7 * np.abs(mu).max()
    out = np.zeros((keep, directions))
    with torch.no_grad():
        c = torch.tensor(cov)
        for j in range(directions):
            up = layers.markowitz(torch.tensor(mu + h * dirs[:, j]), c, risk_aversion=GAMMA).numpy()
            dn = layers.markowitz(torch.tensor(mu - h * dirs[:, j]), c, risk_aversion=GAMMA).numpy()
            out[:, j] = ((up - dn) * probe).sum(axis=1) / (2 * h)
    return {"dirs": dirs, "fd": out}


def fd_error(grad_mu: np.ndarray, ref: dict) -> float:
    """Largest relative error of ``grad·d`` against the central differences."""
    k = grad_mu.shape[0]
    dd = np.einsum("kn,kdn->kd", grad_mu, ref["dirs"][:k])
    return float(
        np.max(np.abs(dd - ref["fd"][:k]) / np.abs(ref["fd"][:k]).max(axis=1, keepdims=True))
    )


def _safe_worker(*args) -> None:
    """Run :func:`worker`; a failure (e.g. qpth not installed) comes back as an error record."""
    queue = args[-1]
    try:
        worker(*args)
    except Exception as err:  # noqa: BLE001 - reported in the JSON, never silently dropped
        queue.put({"error": repr(err)})


def spawn(*args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_safe_worker, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    if "error" in res:
        raise RuntimeError(res["error"])
    return res


def main() -> None:
    from portfolio_lab._io import write_json
    from portfolio_lab.timing import machine_name, machine_record

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7, help="timed runs of ours (median)")
    ap.add_argument("--peer-repeats", type=int, default=3, help="timed runs of a peer (median)")
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads of ours (default: every core, as the peers' thread pool)",
    )
    ap.add_argument("--peers", nargs="*",
                    default=["cvxpylayers", "cvxpylayers-tight", "qpth"])  # fmt: skip
    ap.add_argument("--machine", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks",
                    help="folder of layers_<machine>.json")  # fmt: skip
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (scripts/gpu_check.sh --dry-run): n = 20, batch 16, "
                    "one repeat, cvxpylayers only")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.batch, args.repeats, args.peer_repeats = [20], 16, 1, 1
        args.peers = [p for p in args.peers if p == "cvxpylayers"]
    record = {
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "gamma": GAMMA,
        "threads": args.threads,
        "peer_threads": "cvxpylayers: diffcp's ThreadPool of cpu_count() = "
        f"{os.cpu_count()} workers (SCS per problem); qpth: torch with --threads threads",
        "device": args.device,
        "load_average_1m_start": os.getloadavg()[0],
        "machine": machine_record(),
        "cases": [],
    }
    for n in args.sizes:
        keep = min(args.batch, PEER_BATCH.get(n, 8))
        ours = spawn("ours", n, args.batch, keep, args.repeats, args.threads, args.device)
        case = {"n": n, "batch": args.batch, "ours": {k: v for k, v in ours.items()
                                                      if not k.startswith("_")}}  # fmt: skip
        ref = directional_reference(n, args.batch, keep)
        case["reference"] = (
            "central differences of the exact map (our forward, step 1e-7 max|μ|) along 3 random "
            f"directions of μ for each of the first {keep} members"
        )
        case["ours"]["grad_mu_vs_central_differences"] = fd_error(ours["_gmu"][:keep], ref)
        print(f"n={n}: ours {ours['seconds_median']:.4f} s", flush=True)
        for variant, threads in (("ours-1-thread", 1), ("ours-torch", args.threads)):
            if variant == "ours-1-thread" and args.threads == 1:
                continue
            if variant == "ours-torch" and args.device != "cpu":
                continue  # a GPU run is the torch engine already
            res = spawn("ours" if variant == "ours-1-thread" else variant, n, args.batch, keep,
                        args.repeats, threads, args.device)  # fmt: skip
            key = variant.replace("-", "_").replace("ours_torch", "ours_torch_engine")
            case[key] = {
                "threads": threads,
                "engine": res["engine"],
                "seconds_median": res["seconds_median"],
                "forward_seconds_median": res["forward_seconds_median"],
                "weights_max_abs_diff_vs_ours": float(np.abs(res["_w"] - ours["_w"]).max()),
                "grad_mu_max_abs_diff_vs_ours": float(np.abs(res["_gmu"] - ours["_gmu"]).max()),
            }
            print(f"  {variant}: {res['seconds_median']:.4f} s", flush=True)
        for peer in args.peers:
            if args.device != "cpu":
                continue
            try:
                res = spawn(peer, n, args.batch, keep, args.peer_repeats, args.threads, "cpu")
                res["threads"] = args.threads
            except Exception as err:  # noqa: BLE001 - a peer that fails is recorded as such
                if args.threads == 1:
                    case[peer] = {"error": repr(err)}
                    continue
                # qpth's batched LU fails on two MKL threads at n = 500: retry on one
                try:
                    res = spawn(peer, n, args.batch, keep, args.peer_repeats, 1, "cpu")
                except Exception as err1:  # noqa: BLE001
                    case[peer] = {"error": repr(err1), "error_on_threads": repr(err)}
                    continue
                res["threads"] = 1
                res["error_on_threads"] = f"{args.threads} threads: {err!r}"
            k = res["_w"].shape[0]
            gm, gc = ours["_gmu"][:k], ours["_gcov"][:k]
            res["weights_max_abs_diff"] = float(np.abs(res["_w"] - ours["_w"][:k]).max())
            res["grad_mu_max_rel_diff"] = float(np.abs(res["_gmu"] - gm).max() / np.abs(gm).max())
            res["grad_cov_max_rel_diff"] = float(np.abs(res["_gcov"] - gc).max() / np.abs(gc).max())
            per = np.abs(res["_gmu"] - gm).max(axis=1) / np.abs(gm).max(axis=1)
            res["grad_mu_rel_diff_per_member"] = {
                "median": float(np.median(per)),
                "max": float(per.max()),
                "share_le_1e-6": float((per <= 1e-6).mean()),
                "share_le_1e-4": float((per <= 1e-4).mean()),
                "tie_margin_of_worst_member": float(ours["_margin"][int(np.argmax(per))]),
                "tie_margin_median": float(np.median(ours["_margin"][:k])),
            }
            res["speedup_ours"] = res["seconds_median"] / ours["seconds_median"]
            if "ours_1_thread" in case:
                res["speedup_ours_1_thread"] = (
                    res["seconds_median"] / case["ours_1_thread"]["seconds_median"]
                )
            res["grad_mu_vs_central_differences"] = fd_error(res["_gmu"], ref)
            case[peer] = {kk: v for kk, v in res.items() if not kk.startswith("_")}
            print(f"  {peer}: {res['seconds_median']:.2f} s (x{res['speedup_ours']:.0f}), "
                  f"grad mu rel diff {res['grad_mu_max_rel_diff']:.1e}, vs central differences "
                  f"{res['grad_mu_vs_central_differences']:.1e} (ours "
                  f"{case['ours']['grad_mu_vs_central_differences']:.1e})", flush=True)  # fmt: skip
        record["cases"].append(case)
    record["load_average_1m_end"] = os.getloadavg()[0]
    name = args.machine or machine_name()
    path = args.out / f"layers_{name}.json"
    write_json(path, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
