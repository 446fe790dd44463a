"""The Markowitz layer against independent references.

Weights: cvxpy + Clarabel at tight tolerances and the layer's own KKT residuals.
Gradients: central finite differences of the layer's forward pass (float64, problems
chosen away from ties, where the solution map is smooth), ``torch.autograd.gradcheck``,
and cvxpylayers on the same problems. Ties: the documented one-sided derivative.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab import layers
from portfolio_lab.exceptions import (
    DegenerateReturnsError,
    InfeasibleTargetError,
    InputError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
)
from portfolio_lab.solvers import markowitz_lagrange

from ._problems import batch, clarabel, factor_problem

F64 = torch.float64

#: The layer's two engines: compiled member-by-member loops (CPU) and batched torch calls.
ENGINES = ["compiled", "torch"]


def lay(engine: str) -> SimpleNamespace:
    """``markowitz`` and ``solve`` of one engine."""
    return SimpleNamespace(
        markowitz=partial(layers.markowitz, engine=engine),
        solve=partial(layers.solve, engine=engine),
    )


CASES = [
    # (label, kwargs of the layer, kwargs of the reference)
    ("utility long-only", {"risk_aversion": 4.0}, {"gamma": 4.0}),
    (
        "utility box",
        {"risk_aversion": 2.0, "long_only": False, "bounds": (-0.1, 0.3)},
        {"gamma": 2.0, "lower": -0.1, "upper": 0.3},
    ),  # fmt: skip
    (
        "utility capped",
        {"risk_aversion": 8.0, "bounds": (None, 0.25)},
        {"gamma": 8.0, "lower": 0.0, "upper": 0.25},
    ),  # fmt: skip
    ("target long-only", {"target_return": "mid"}, {"target": "mid"}),
    (
        "target box",
        {"target_return": "mid", "long_only": False, "bounds": (-0.2, 0.4)},
        {"target": "mid", "lower": -0.2, "upper": 0.4},
    ),  # fmt: skip
]


def _resolve(kw: dict, mu: np.ndarray) -> dict:
    out = dict(kw)
    for key in ("target_return", "target"):
        if out.get(key) == "mid":
            out[key] = float(0.3 * mu.max() + 0.7 * np.median(mu))
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("label", "kw", "ref_kw"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("n", "seed"), [(5, 0), (20, 1), (60, 2)])
def test_weights_match_clarabel_and_kkt(engine, label, kw, ref_kw, n, seed):
    mu, cov = factor_problem(n, seed)
    kw, ref_kw = _resolve(kw, mu), _resolve(ref_kw, mu)
    sol = lay(engine).solve(torch.tensor(mu), torch.tensor(cov), **kw)
    w = sol.weights[0].numpy()
    ref = clarabel(mu, cov, **ref_kw)
    assert np.abs(w - ref).max() <= 1e-7
    assert sol.kkt_residual.max() <= 1e-10
    assert abs(w.sum() - 1.0) <= 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_unbounded_equals_closed_form_solver(engine):
    mu, cov = factor_problem(15, 3)
    r = float(np.median(mu))
    w = lay(engine).markowitz(torch.tensor(mu), torch.tensor(cov), target_return=r, long_only=False)
    ref = markowitz_lagrange(mu, cov, r).weights
    assert np.abs(w.numpy() - np.asarray(ref)).max() <= 1e-10
    g = 3.0
    wu = lay(engine).markowitz(
        torch.tensor(mu), torch.tensor(cov), risk_aversion=g, long_only=False
    )
    ref_u = clarabel(mu, cov, gamma=g, lower=None)
    assert np.abs(wu.numpy() - ref_u).max() <= 1e-7


@pytest.mark.parametrize("engine", ENGINES)
def test_critical_line_path_agrees_and_fallback_is_used(engine):
    mu, cov = batch(25, 6, seed=4)
    a = lay(engine).solve(torch.tensor(mu), torch.tensor(cov), risk_aversion=3.0)
    b = lay(engine).solve(
        torch.tensor(mu), torch.tensor(cov), risk_aversion=3.0, method="critical-line"
    )
    c = lay(engine).solve(torch.tensor(mu), torch.tensor(cov), risk_aversion=3.0, max_iter=1)
    assert set(b.method) == {"critical-line"}
    assert "critical-line" in c.method  # one step never settles every member
    for other in (b, c):
        assert torch.equal(other.fixed, a.fixed)
        assert (other.weights - a.weights).abs().max() <= 1e-12
    from portfolio_lab.layers._active_set import _critical_line_member

    lo, hi = np.zeros(25), np.full(25, np.inf)
    raw = _critical_line_member("utility", mu[0], cov[0], 3.0, np.nan, lo, hi)
    assert np.abs(raw - a.weights[0].numpy()).max() <= 1e-9
    raw_t = _critical_line_member("target", mu[0], cov[0], 1.0, float(np.median(mu[0])), lo, hi)
    ref_t = clarabel(mu[0], cov[0], target=float(np.median(mu[0])))
    assert np.abs(raw_t - ref_t).max() <= 1e-7


@pytest.mark.parametrize("engine", ENGINES)
def test_batch_equals_loop(engine):
    mu, cov = batch(12, 7, seed=5)
    gam = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dtype=F64)
    m = torch.tensor(mu, requires_grad=True)
    c = torch.tensor(cov, requires_grad=True)
    g = gam.clone().requires_grad_(True)
    probe = torch.tensor(np.random.default_rng(0).normal(size=(7, 12)))
    w = lay(engine).markowitz(m, c, risk_aversion=g)
    (w * probe).sum().backward()
    for i in range(7):
        mi = torch.tensor(mu[i], requires_grad=True)
        ci = torch.tensor(cov[i], requires_grad=True)
        gi = gam[i].clone().requires_grad_(True)
        wi = lay(engine).markowitz(mi, ci, risk_aversion=gi)
        assert wi.shape == (12,)
        (wi * probe[i]).sum().backward()
        assert torch.allclose(wi, w[i], atol=1e-14, rtol=0)
        assert torch.allclose(mi.grad, m.grad[i], atol=1e-12, rtol=1e-10)
        assert torch.allclose(ci.grad, c.grad[i], atol=1e-12, rtol=1e-10)
        assert torch.allclose(gi.grad, g.grad[i], atol=1e-12, rtol=1e-10)


def test_a_batch_split_into_groups_equals_its_members(monkeypatch):
    """A large batch is solved in groups of similar free counts: same answers as one by one.

    Risk aversions from 0.05 to 200 give free sets from one asset to most of them, so the
    steps run several groups (checked) in an order other than the batch's.
    """
    import portfolio_lab.layers._active_set as aset

    sizes = []
    real = aset._groups
    monkeypatch.setattr(aset, "_groups", lambda m, c: (g := real(m, c), sizes.append(len(g)))[0])
    B = 3 * aset.GROUP_MIN
    mu, cov = batch(30, B, seed=11)
    gam = torch.tensor(np.geomspace(0.05, 200.0, B)[np.random.default_rng(1).permutation(B)])
    m = torch.tensor(mu, requires_grad=True)
    c = torch.tensor(cov, requires_grad=True)
    probe = torch.tensor(np.random.default_rng(2).normal(size=(B, 30)))
    sol = lay("torch").solve(m, c, risk_aversion=gam)
    w = lay("torch").markowitz(m, c, risk_aversion=gam)
    (w * probe).sum().backward()
    assert max(sizes) >= 2
    free = (sol.fixed == 0).sum(dim=1)
    assert int(free.min()) <= 3 and int(free.max()) >= 12
    assert float(np.max(sol.kkt_residual)) <= 1e-10
    for i in range(0, B, 7):
        mi = torch.tensor(mu[i], requires_grad=True)
        wi = layers.markowitz(mi, torch.tensor(cov[i]), risk_aversion=float(gam[i]))
        (wi * probe[i]).sum().backward()
        assert torch.allclose(wi, w[i], atol=1e-13, rtol=0)
        assert torch.allclose(mi.grad, m.grad[i], atol=1e-10, rtol=1e-8)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 300), min_size=0, max_size=200), seed=st.integers(0, 99))
def test_groups_partition_the_members(counts, seed):
    """Groups are a partition; one group keeps the members' order; padding is bounded."""
    from portfolio_lab.layers._active_set import GROUP_MIN, _groups

    B = len(counts)
    members = torch.as_tensor(np.random.default_rng(seed).permutation(1000)[:B])
    c = torch.as_tensor(np.array(counts, dtype=np.int64))
    groups = _groups(members, c)
    got = torch.cat(groups) if groups else torch.empty(0, dtype=torch.int64)
    assert sorted(got.tolist()) == sorted(members.tolist())
    if len(groups) == 1:
        assert torch.equal(groups[0], members)
    if len(groups) > 1:
        # groups hold consecutive ranges of the counts, each at least GROUP_MIN members
        where = {int(m): i for i, m in enumerate(members)}
        ranges = [c[[where[int(m)] for m in g]] for g in groups]
        assert all(g.numel() >= GROUP_MIN for g in groups)
        for lo_g, hi_g in zip(ranges[:-1], ranges[1:], strict=True):
            assert int(lo_g.max()) <= int(hi_g.min())


# ------------------------------------------------------------------ gradients
def _margin(sol) -> float:
    """Distance from a tie: smallest free weight gap and bound multiplier, relative."""
    w, f, z = sol.weights[0], sol.fixed[0], sol.bound_multipliers[0]
    free = w[f == 0]
    gaps = free.abs().min() if free.numel() else torch.tensor(1.0)
    zs = z[f != 0].abs()
    zmin = zs.min() / z.abs().max().clamp_min(1e-300) if zs.numel() else torch.tensor(1.0)
    return float(min(gaps, zmin))


def _fd_check(fun, x: torch.Tensor, probe: torch.Tensor, grad: torch.Tensor, h: float,
              sym: bool = False) -> float:  # fmt: skip
    """Max relative error between ``grad`` and central differences of ``probe·fun(x)``."""
    num = torch.zeros_like(x)
    flat = x.reshape(-1)
    idx = range(flat.numel())
    for i in idx:
        e = torch.zeros_like(flat)
        e[i] = h
        e = e.reshape(x.shape)
        if sym:
            e = 0.5 * (e + e.T)
        hi = (probe * fun(x + e)).sum()
        lo = (probe * fun(x - e)).sum()
        num.reshape(-1)[i] = (hi - lo) / (2 * h)
    if sym:  # a symmetric perturbation of (i, j) and (j, i) sees the symmetric gradient
        grad = 0.5 * (grad + grad.T)
        num = num
    scale = grad.abs().max().clamp_min(1e-300)
    return float((num - grad).abs().max() / scale)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("label", "kw", "ref_kw"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_match_central_differences(engine, label, kw, ref_kw, seed):
    n = 8
    mu, cov = factor_problem(n, 10 + seed)
    kw = _resolve(kw, mu)
    sol = lay(engine).solve(torch.tensor(mu), torch.tensor(cov), **kw)
    assert _margin(sol) > 1e-3, "the test problem is too close to a tie"
    probe = torch.tensor(np.random.default_rng(seed).normal(size=n))
    m = torch.tensor(mu, requires_grad=True)
    c = torch.tensor(cov, requires_grad=True)
    extra = {}
    key = "risk_aversion" if "risk_aversion" in kw else "target_return"
    s = torch.tensor(float(kw[key]), dtype=F64, requires_grad=True)
    extra = {k: v for k, v in kw.items() if k not in ("risk_aversion", "target_return")}
    w = lay(engine).markowitz(m, c, **{key: s}, **extra)
    (probe * w).sum().backward()

    def f_mu(x):
        return lay(engine).markowitz(x, torch.tensor(cov), **{key: kw[key]}, **extra)

    def f_cov(x):
        return lay(engine).markowitz(torch.tensor(mu), x, **{key: kw[key]}, **extra)

    def f_s(x):
        return lay(engine).markowitz(torch.tensor(mu), torch.tensor(cov), **{key: x}, **extra)

    with torch.no_grad():
        assert _fd_check(f_mu, torch.tensor(mu), probe, m.grad, 1e-7) <= 1e-6
        assert _fd_check(f_cov, torch.tensor(cov), probe, c.grad, 1e-8, sym=True) <= 1e-6
        assert (
            _fd_check(f_s, s.detach().clone(), probe, s.grad, 1e-7 * max(1, abs(float(s)))) <= 1e-6
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_gradcheck_small_cases(engine):
    torch.manual_seed(0)
    n = 6
    base = torch.randn(n, n, dtype=F64)

    def cov_of(a):
        return a @ a.transpose(-1, -2) / n + 0.2 * torch.eye(n, dtype=F64)

    mu = (torch.randn(2, n, dtype=F64) * 0.5).requires_grad_(True)
    a = (base + 0.1 * torch.randn(2, n, n, dtype=F64)).requires_grad_(True)
    g = torch.tensor([1.5, 3.0], dtype=F64, requires_grad=True)
    r = torch.tensor([0.1, 0.05], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda m, x, y: lay(engine).markowitz(m, cov_of(x), risk_aversion=y), (mu, a, g)
    )
    assert torch.autograd.gradcheck(
        lambda m, x, y: lay(engine).markowitz(m, cov_of(x), target_return=y, bounds=(None, 0.45)),
        (mu, a, r),
    )
    assert torch.autograd.gradcheck(
        lambda m, x, y: lay(engine).markowitz(m, cov_of(x), risk_aversion=y, long_only=False),
        (mu, a, g),
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_gradients_match_cvxpylayers(engine):
    cp = pytest.importorskip("cvxpy")
    cvl = pytest.importorskip("cvxpylayers.torch")
    n, gamma = 10, 5.0
    mu, cov = batch(n, 4, seed=7)
    w = cp.Variable(n)
    m = cp.Parameter(n)
    lp = cp.Parameter((n, n))
    prob = cp.Problem(
        cp.Maximize(m @ w - gamma / 2 * cp.sum_squares(lp.T @ w)), [cp.sum(w) == 1, w >= 0]
    )
    layer = cvl.CvxpyLayer(prob, parameters=[m, lp], variables=[w])
    probe = torch.tensor(np.random.default_rng(1).normal(size=(4, n)))
    outs = {}
    for name in ("ours", "cvxpylayers"):
        mt = torch.tensor(mu, requires_grad=True)
        ct = torch.tensor(cov, requires_grad=True)
        if name == "ours":
            wt = lay(engine).markowitz(mt, ct, risk_aversion=gamma)
        else:
            (wt,) = layer(
                mt, torch.linalg.cholesky(ct), solver_args={"eps": 1e-12, "max_iters": 200000}
            )
        (probe * wt).sum().backward()
        outs[name] = (wt.detach(), mt.grad, 0.5 * (ct.grad + ct.grad.transpose(1, 2)))
    (w1, gm1, gc1), (w2, gm2, gc2) = outs["ours"], outs["cvxpylayers"]
    assert (w1 - w2).abs().max() <= 1e-7
    assert float((gm1 - gm2).abs().max() / gm1.abs().max()) <= 1e-5
    assert float((gc1 - gc2).abs().max() / gc1.abs().max()) <= 1e-5


# ------------------------------------------------------------------ ties
def _tie_problem():
    """Asset 3 sits at its lower bound with a zero multiplier; asset 4 with a positive one."""
    rng = np.random.default_rng(3)
    n = 5
    a = rng.normal(size=(n, n))
    cov = a @ a.T / n + 0.5 * np.eye(n)
    w_star = np.array([0.3, 0.5, 0.2, 0.0, 0.0])
    gamma, nu = 2.0, 0.1
    mu = gamma * cov @ w_star - nu
    mu[4] -= 0.05  # ζ₄ = 0.05 > 0; ζ₃ = 0 exactly: a tie
    return mu, cov, gamma, w_star


@pytest.mark.parametrize("engine", ENGINES)
def test_tie_rule_holds_tied_weight_at_its_bound(engine):
    mu, cov, gamma, w_star = _tie_problem()
    sol = lay(engine).solve(torch.tensor(mu), torch.tensor(cov), risk_aversion=gamma)
    assert np.abs(sol.weights[0].numpy() - w_star).max() <= 1e-12
    assert sol.fixed[0].tolist() == [0, 0, 0, -1, -1]
    assert "stay at their bounds" in layers.TIE_RULE


@pytest.mark.parametrize("engine", ENGINES)
def test_tie_gradient_is_the_one_sided_derivative_on_the_bound_branch(engine):
    mu, cov, gamma, _ = _tie_problem()
    probe = torch.tensor([0.4, -1.0, 0.3, 2.0, 0.7], dtype=F64)
    m = torch.tensor(mu, requires_grad=True)
    w = lay(engine).markowitz(m, torch.tensor(cov), risk_aversion=gamma)
    (probe * w).sum().backward()
    grad = m.grad.clone()
    assert torch.isfinite(grad).all()
    assert float(grad[3]) == 0.0
    rng = np.random.default_rng(0)
    h = 1e-7
    base = float((probe * w.detach()).sum())
    checked = {"bound": 0, "enter": 0}
    for _ in range(12):
        d = torch.tensor(rng.normal(size=5))
        for side in (1.0, -1.0):
            x = torch.tensor(mu) + side * h * d
            s = lay(engine).solve(x, torch.tensor(cov), risk_aversion=gamma)
            one_sided = side * (float((probe * s.weights[0]).sum()) - base) / h
            if int(s.fixed[0, 3]) == -1:  # the branch the tie rule differentiates
                assert abs(one_sided - float(grad @ d)) <= 1e-6 * float(grad.abs().max())
                checked["bound"] += 1
            else:
                checked["enter"] += 1
    assert checked["bound"] >= 6 and checked["enter"] >= 3
    # entering along +e3 has a different derivative: the two branches really differ
    x = torch.tensor(mu)
    x[3] += h
    s = lay(engine).solve(x, torch.tensor(cov), risk_aversion=gamma)
    right = (float((probe * s.weights[0]).sum()) - base) / h
    assert abs(right - float(grad[3])) > 1e-3


@pytest.mark.parametrize("engine", ENGINES)
def test_gradient_at_a_vertex_target_is_finite(engine):
    mu, cov = factor_problem(6, 5)
    m = torch.tensor(mu, requires_grad=True)
    w = lay(engine).markowitz(m, torch.tensor(cov), target_return=float(mu.max()))
    assert abs(float(w.detach()[int(np.argmax(mu))]) - 1.0) <= 1e-12
    w.sum().backward()
    assert torch.isfinite(m.grad).all()


# ------------------------------------------------------------------ dtypes, errors
@pytest.mark.parametrize("engine", ENGINES)
def test_float32_in_float32_out(engine):
    mu, cov = factor_problem(10, 6)
    w32 = lay(engine).markowitz(
        torch.tensor(mu, dtype=torch.float32), torch.tensor(cov, dtype=torch.float32)
    )
    w64 = lay(engine).markowitz(torch.tensor(mu), torch.tensor(cov))
    assert w32.dtype == torch.float32
    assert (w32.double() - w64).abs().max() <= 1e-5


@pytest.mark.parametrize("engine", ENGINES)
def test_typed_errors(engine):
    mu, cov = factor_problem(4, 0)
    m, c = torch.tensor(mu), torch.tensor(cov)
    bad = m.clone()
    bad[1] = float("nan")
    with pytest.raises(NonFiniteError):
        lay(engine).markowitz(bad, c)
    asym = c.clone()
    asym[0, 1] += 1e-3
    with pytest.raises(NotSymmetricError):
        lay(engine).markowitz(m, asym)
    with pytest.raises(NotPositiveDefiniteError):
        lay(engine).markowitz(m, c - 2 * torch.linalg.eigvalsh(c).max() * torch.eye(4, dtype=F64))
    with pytest.raises(InputError, match="sum of upper bounds"):
        lay(engine).markowitz(m, c, bounds=(0.0, 0.2))
    with pytest.raises(InfeasibleTargetError):
        lay(engine).markowitz(m, c, target_return=float(mu.max()) + 1e-3)
    with pytest.raises(InputError, match="not both"):
        lay(engine).markowitz(m, c, risk_aversion=1.0, target_return=0.0)
    with pytest.raises(InputError, match="positive"):
        lay(engine).markowitz(m, c, risk_aversion=-1.0)
    with pytest.raises(ShapeError):
        lay(engine).markowitz(m[:3], c)
    with pytest.raises(ShapeError):
        lay(engine).markowitz(torch.stack([m, m]), torch.stack([c, c, c]))
    with pytest.raises(DegenerateReturnsError):
        lay(engine).markowitz(torch.ones(4, dtype=F64), c, target_return=1.0)
    with pytest.raises(NonFiniteError):
        lay(engine).markowitz(m, c, risk_aversion=torch.tensor(float("inf")))


# ------------------------------------------------------------------ invariants
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 9), seed=st.integers(0, 10_000), gamma=st.floats(0.5, 50.0))
def test_permutation_equivariance_and_feasibility(engine, n, seed, gamma):
    mu, cov = factor_problem(n, seed)
    perm = np.random.default_rng(seed).permutation(n)
    w = lay(engine).markowitz(torch.tensor(mu), torch.tensor(cov), risk_aversion=gamma).numpy()
    wp = lay(engine).markowitz(torch.tensor(mu[perm]), torch.tensor(cov[np.ix_(perm, perm)]),
                          risk_aversion=gamma).numpy()  # fmt: skip
    assert np.abs(wp - w[perm]).max() <= 1e-10
    assert abs(w.sum() - 1.0) <= 1e-12 and w.min() >= -1e-15


@pytest.mark.parametrize("engine", ENGINES)
def test_positive_definiteness_check_names_the_member_as_torch_would(engine):
    """The CPU check (LAPACK's dpotrf per member) agrees with torch's cholesky_ex.

    Same verdict and pivot per member, on a batch mixing definite, semidefinite and
    indefinite matrices, on a non-contiguous batch and on one Σ broadcast over a batch;
    the error names the first failing member.
    """
    from portfolio_lab.layers._problem import cholesky_info

    rng = np.random.default_rng(3)
    mats = []
    for i in range(9):
        b = rng.standard_normal((6, 6 if i % 3 == 0 else 3))
        c = b @ b.T  # rank 3 for two thirds of them: semidefinite
        if i % 3 == 2:
            c -= 0.5 * np.eye(6)  # indefinite
        mats.append(c)
    cov = torch.tensor(np.stack(mats))
    want = torch.linalg.cholesky_ex(cov)[1].numpy()
    assert (want == 0).sum() == 3 and (want != 0).sum() == 6
    np.testing.assert_array_equal(cholesky_info(cov), want)
    np.testing.assert_array_equal(cholesky_info(cov.transpose(1, 2)), want)  # strided view
    one = cov[3:4].expand(5, 6, 6)
    np.testing.assert_array_equal(cholesky_info(one), np.full(5, want[3]))
    mu = torch.zeros(9, 6, dtype=F64)
    first = int(np.flatnonzero(want)[0])
    with pytest.raises(NotPositiveDefiniteError, match=rf"cov\[{first}\] .* pivot {want[first]}"):
        lay(engine).markowitz(mu, cov)


@pytest.mark.parametrize("layout", ["contiguous", "broadcast", "strided"])
def test_member_rows_reads_the_rows_of_each_member(layout):
    from portfolio_lab.layers._active_set import _member_rows

    rng = np.random.default_rng(4)
    base = torch.tensor(rng.standard_normal((6, 5, 5)))
    cov = {
        "contiguous": base,
        "broadcast": base[2:3].expand(6, 5, 5),
        "strided": base.transpose(1, 2),
    }[layout]
    members = torch.tensor([5, 0, 3])
    idx = torch.tensor([[4, 1], [0, 0], [2, 3]])
    got = _member_rows(cov, members, idx)
    want = torch.stack([cov[m][i] for m, i in zip(members, idx, strict=True)])
    assert torch.equal(got, want)


# ------------------------------------------------------------------ the two engines
ENGINE_CASES = [
    ("utility long-only", {"risk_aversion": "gammas"}),
    ("utility box", {"risk_aversion": "gammas", "long_only": False, "bounds": (-0.1, 0.3)}),
    ("utility capped", {"risk_aversion": "gammas", "bounds": (None, 0.2)}),
    ("target long-only", {"target_return": "mid"}),
    ("target box", {"target_return": "mid", "long_only": False, "bounds": (-0.2, 0.4)}),
    ("pinned", {"risk_aversion": "gammas", "bounds": ([0.0] * 3 + [0.05] + [0.0] * 16,
                                                       [1.0] * 3 + [0.05] + [1.0] * 16)}),
]  # fmt: skip


@pytest.mark.parametrize(("label", "kw"), ENGINE_CASES, ids=[c[0] for c in ENGINE_CASES])
@pytest.mark.parametrize("broadcast", [False, True])
def test_compiled_engine_equals_torch_engine(label, kw, broadcast):
    """Same rules, same answers: sets, steps, weights, multipliers and every gradient."""
    B, n = 40, 20
    mu, cov = batch(n, B, seed=21)
    if broadcast:
        cov = cov[:1]
    kw = dict(kw)
    if kw.get("risk_aversion") == "gammas":
        kw["risk_aversion"] = torch.tensor(np.geomspace(0.5, 60.0, B))
    if kw.get("target_return") == "mid":
        kw["target_return"] = torch.tensor(0.3 * mu.max(axis=1) + 0.7 * np.median(mu, axis=1))
    if "bounds" in kw and isinstance(kw["bounds"][0], list):
        kw["bounds"] = tuple(np.array(b) for b in kw["bounds"])
    probe = torch.tensor(np.random.default_rng(5).normal(size=(B, n)))
    got = {}
    for engine in ENGINES:
        m = torch.tensor(mu, requires_grad=True)
        c = torch.tensor(cov if not broadcast else cov[0], requires_grad=True)
        extra = {k: (v.clone().requires_grad_(True) if isinstance(v, torch.Tensor) else v)
                 for k, v in kw.items()}  # fmt: skip
        w = layers.markowitz(m, c, engine=engine, **extra)
        (probe * w).sum().backward()
        s = layers.solve(m.detach(), c.detach(), engine=engine, **kw)
        trade = next(v for v in extra.values() if isinstance(v, torch.Tensor))
        got[engine] = (w.detach(), m.grad, c.grad, trade.grad, s)
    (w1, gm1, gc1, gt1, s1), (w2, gm2, gc2, gt2, s2) = got["compiled"], got["torch"]
    assert torch.equal(s1.fixed, s2.fixed)
    np.testing.assert_array_equal(s1.n_iter, s2.n_iter)
    assert s1.method == s2.method
    stepped = np.array([m == "active-set" for m in s1.method])
    assert stepped.mean() >= 0.9
    # (a member at a vertex, no free weight, leaves ν undetermined: both engines take the
    # critical line there and report the residual of ν = 0; see the closing note)
    assert float(np.max(s1.kkt_residual[stepped])) <= 1e-10
    assert (w1 - w2).abs().max() <= 1e-13
    assert (s1.multipliers - s2.multipliers).abs().max() <= 1e-12 * s2.multipliers.abs().max()
    for a, b in ((gm1, gm2), (gc1, gc2), (gt1, gt2)):
        assert float((a - b).abs().max()) <= 1e-10 * float(b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("engine", ENGINES)
def test_asymmetry_within_tolerance_is_solved_symmetrized(engine):
    """Σ off by 1e-12 relative is solved as (Σ + Σᵀ)/2, with the same gradient."""
    mu, cov = batch(12, 5, seed=8)
    tilted = cov.copy()
    tilted[:, 0, 1] += 1e-12 * np.abs(cov).max()
    sym = 0.5 * (tilted + tilted.transpose(0, 2, 1))
    probe = torch.tensor(np.random.default_rng(0).normal(size=(5, 12)))
    out = []
    for c_np in (tilted, sym):
        m = torch.tensor(mu, requires_grad=True)
        c = torch.tensor(c_np, requires_grad=True)
        w = layers.markowitz(m, c, risk_aversion=3.0, engine=engine)
        (probe * w).sum().backward()
        out.append((w.detach(), m.grad, c.grad))
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


def test_compiled_check_agrees_with_lapack():
    """The compiled check's pivots equal LAPACK's (``cholesky_info``); bad values are found.

    Definite, semidefinite and indefinite matrices; a NaN in the lower and in the upper
    triangle, an inf on the diagonal, and an asymmetric matrix (reported, not factored).
    """
    from portfolio_lab.layers._problem import check_cov_cpu, cholesky_info

    rng = np.random.default_rng(9)
    mats = []
    for i in range(12):
        b = rng.standard_normal((7, 7 if i % 3 == 0 else 4))
        c = b @ b.T
        if i % 3 == 2:
            c -= 0.5 * np.eye(7)
        mats.append(c)
    cov = torch.tensor(np.stack(mats))
    finite, size, asym, info = check_cov_cpu(cov)
    want = cholesky_info(cov)
    np.testing.assert_array_equal(info == 0, want == 0)
    # definite and indefinite: the same pivot; semidefinite: the zero pivot is rounding's
    np.testing.assert_array_equal(info[0::3], want[0::3])
    np.testing.assert_array_equal(info[2::3], want[2::3])
    assert finite.all() and (asym == 0).all()
    np.testing.assert_allclose(size, cov.abs().amax(dim=(1, 2)).numpy(), rtol=0, atol=0)
    bad = cov[:4].clone()
    bad[0, 5, 2] = float("nan")  # lower
    bad[1, 2, 5] = float("nan")  # upper
    bad[2, 3, 3] = float("inf")
    bad[3, 1, 4] += 1e-3  # asymmetric
    finite, size, asym, info = check_cov_cpu(bad)
    assert finite.tolist() == [False, False, False, True]
    assert info.tolist()[:3] == [-1, -1, -1] and info[3] == -2
    assert asym[3] == pytest.approx(1e-3, rel=1e-9)
    assert size[3] == float(bad[3].abs().max())


def test_compiled_errors_match_the_checked_path():
    """The compiled engine checks Σ itself (deferred): the same typed errors and members."""
    mu, cov = batch(6, 4, seed=2)
    m = torch.tensor(mu)
    cases = []
    c = torch.tensor(cov)
    c[2, 1, 1] = float("nan")
    cases.append((c, NonFiniteError, "1 NaN"))
    c = torch.tensor(cov)
    c[1, 0, 3] += 1e-3
    cases.append((c, NotSymmetricError, r"cov\[1\]"))
    c = torch.tensor(cov)
    c[3] -= 2 * torch.linalg.eigvalsh(c[3]).max() * torch.eye(6, dtype=F64)
    cases.append((c, NotPositiveDefiniteError, r"cov\[3\]"))
    for c, err, match in cases:
        for engine in ENGINES:
            with pytest.raises(err, match=match):
                layers.markowitz(m, c, risk_aversion=2.0, engine=engine)
            with pytest.raises(err, match=match):
                layers.solve(m, c, risk_aversion=2.0, engine=engine)


def test_compiled_engine_splits_the_batch_over_threads(monkeypatch):
    """Two threads (two halves of the batch) give bit-identical weights and gradients."""
    from portfolio_lab.layers import _kernels

    monkeypatch.setattr(_kernels, "MIN_WORK", 0)  # split even this small batch
    pieces = []
    real = _kernels.split_rows
    monkeypatch.setattr(
        _kernels, "split_rows", lambda B, call, n: (r := real(B, call, n), pieces.append(len(r)))[0]
    )
    mu, cov = batch(15, 70, seed=3)
    probe = torch.tensor(np.random.default_rng(1).normal(size=(70, 15)))
    old = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            pieces.clear()
            m = torch.tensor(mu, requires_grad=True)
            c = torch.tensor(cov, requires_grad=True)
            w = layers.markowitz(m, c, risk_aversion=4.0)
            (probe * w).sum().backward()
            out.append((w.detach(), m.grad, c.grad))
            assert pieces == [threads] * 2  # the solve and the backward
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


def test_engine_is_validated():
    from portfolio_lab.layers._function import use_compiled

    mu, cov = factor_problem(4, 0)
    with pytest.raises(InputError, match="engine"):
        layers.markowitz(torch.tensor(mu), torch.tensor(cov), engine="fast")
    with pytest.raises(InputError, match="runs on a CPU"):
        use_compiled("compiled", torch.device("cuda"))
    assert use_compiled("auto", torch.device("cpu"))
    assert not use_compiled("auto", torch.device("cuda"))
    assert not use_compiled("torch", torch.device("cpu"))
