"""Forward and backward of the Markowitz layer.

Bounded problems go through :class:`_BoundedMarkowitz`, a ``torch.autograd.Function``:
the forward pass is the exact batched active-set solver
(:mod:`portfolio_lab.layers._active_set`), the backward pass differentiates the KKT system
restricted to the free set ``F`` (the bound weights are constants there). With ``d`` the
solution of

    [[a Σ_FF, C_Fᵀ], [C_F, 0]] [d_F; e] = [g_F; 0]

(one solve with the forward pass's Cholesky factor of the free block and its Schur
complement), and ``d``
extended by zeros outside ``F``, the gradients of a loss with ``∂ℓ/∂w = g`` are

    ∂ℓ/∂q = d,   ∂ℓ/∂Σ = −(a/2)(d wᵀ + w dᵀ),   ∂ℓ/∂a = −dᵀΣw,
    ∂ℓ/∂C_l = ν_l d − e_l w,   ∂ℓ/∂c = e

(``ν`` the equality multipliers, ``aΣw − q = Cᵀν + ζ``); for the utility ``q = μ, a = γ``,
for the target form ``C = [1ᵀ; μᵀ]`` and ``c = [1; r]``, so ``∂ℓ/∂μ = ν₂ d − e₂ w`` and
``∂ℓ/∂r = e₂``. Away from ties this is the exact derivative. At a tie (a weight at its bound
with a zero multiplier) the solution map has two one-sided derivatives; the layer returns
the one on which tied weights *stay at their bounds* (tie rule of the forward solver), the
derivative of the larger active set. The Σ gradient is symmetric, as is the map from the
symmetric part of Σ that the layer solves with.

Unbounded problems (``long_only=False`` and no bounds) use the closed form written in
differentiable torch operations (plain autograd).
"""

from __future__ import annotations

from typing import Any

from ._active_set import compiled_inputs, solve_active_set, solve_compiled

__all__ = ["bounded_forward", "closed_form", "standard_form", "ENGINES", "use_compiled"]

#: Engines of the bounded forward and backward passes: ``"compiled"`` (CPU only: the
#: numba loops of :mod:`portfolio_lab.layers._kernels`), ``"torch"`` (batched torch
#: calls, any device), ``"auto"`` (compiled on a CPU, torch elsewhere).
ENGINES = ("auto", "compiled", "torch")


def use_compiled(engine: str, device: Any) -> bool:
    """Whether a batch on ``device`` takes the compiled path under ``engine``."""
    from ..exceptions import InputError

    if engine not in ENGINES:
        raise InputError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "compiled" and device.type != "cpu":
        raise InputError(f"the compiled engine runs on a CPU; the batch is on {device}")
    return engine == "compiled" or (engine == "auto" and device.type == "cpu")


def standard_form(kind: str, mu: Any, target: Any) -> tuple[Any, Any, Any]:
    """``q``, ``C`` and ``c`` of the standard form (torch tensors, differentiable in ``mu``)."""
    import torch

    B, n = mu.shape
    ones = torch.ones(B, 1, n, dtype=mu.dtype, device=mu.device)
    if kind == "utility":
        return mu, ones, torch.ones(B, 1, dtype=mu.dtype, device=mu.device)
    q = torch.zeros_like(mu)
    C = torch.cat([ones, mu[:, None, :]], dim=1)
    c = torch.stack([torch.ones_like(target), target], dim=1)
    return q, C, c


def trade_off_grads(
    kind: str, need: tuple[bool, ...], d: Any, e: Any, nu: Any, w: Any, d_sigma_w: Any
) -> tuple[Any, Any, Any]:
    """``∂ℓ/∂μ``, ``∂ℓ/∂a`` and ``∂ℓ/∂r`` from the free-set solve (both engines).

    Utility: ``∂ℓ/∂μ = d``, ``∂ℓ/∂a = −dᵀΣw``; target: ``∂ℓ/∂μ = ν₂ d − e₂ w``,
    ``∂ℓ/∂r = e₂`` (see the module notes). ``need`` is the function's
    ``needs_input_grad`` (μ, Σ, a, r, ...); ``d_sigma_w`` is ``dᵀΣw`` per member, read only
    when ``∂ℓ/∂a`` is needed (None otherwise). Entries not needed are None.
    """
    g_mu = g_scale = g_target = None
    if kind == "utility":
        if need[0]:
            g_mu = d
        if need[2]:
            g_scale = -d_sigma_w
    else:
        if need[0]:
            g_mu = nu[:, 1:2] * d - e[:, 1:2] * w
        if need[3]:
            g_target = e[:, 1]
    return g_mu, g_scale, g_target


def _function_class() -> type:
    import torch

    class _BoundedMarkowitz(torch.autograd.Function):
        """Exact bounded Markowitz weights with the implicit free-set derivative."""

        @staticmethod
        def forward(ctx: Any, mu: Any, cov: Any, scale: Any, target: Any, lo: Any, hi: Any,
                    opts: dict) -> Any:  # fmt: skip
            kind = opts["kind"]
            q, C, c = standard_form(kind, mu, target)
            sol = solve_active_set(
                kind, scale, cov, q, C, c, lo, hi, mu=mu,
                max_iter=opts.get("max_iter"), method=opts.get("method", "active-set"),
                residuals=False,
            )  # fmt: skip
            opts["solution"] = sol
            ctx.kind = kind
            red = sol.system
            ctx.save_for_backward(sol.weights, sol.nu, red.factor, red.v, red.schur_pinv,
                                  red.index, red.valid, cov, scale)  # fmt: skip
            return sol.weights

        @staticmethod
        def backward(ctx: Any, grad_w: Any) -> tuple[Any, ...]:
            w, nu, L, V, Sp, idx, valid, cov, scale = ctx.saved_tensors
            g = torch.nan_to_num(grad_w.to(w.dtype))
            g_f = torch.gather(g, 1, idx) * valid
            y = torch.cholesky_solve(g_f[:, :, None], L)  # H⁻¹ g_F
            e = (Sp @ (V.transpose(1, 2) @ g_f[:, :, None]))[..., 0]  # C_F H⁻¹ g_F
            d_f = (y - V @ e[:, :, None])[..., 0] * valid
            d = torch.zeros_like(w).scatter_add(1, idx, d_f)
            g_cov = None
            need = ctx.needs_input_grad
            if need[1]:  # −(a/2)(d wᵀ + w dᵀ) as one batched product
                g_cov = torch.bmm(torch.stack([d, w], dim=2), torch.stack([w, d], dim=1))
                g_cov.mul_(-0.5 * scale[:, None, None])
            dsw = None
            if ctx.kind == "utility" and need[2]:
                dsw = (d * (cov @ w[:, :, None])[..., 0]).sum(dim=1)
            g_mu, g_scale, g_target = trade_off_grads(ctx.kind, need, d, e, nu, w, dsw)
            return g_mu, g_cov, g_scale, g_target, None, None, None

    return _BoundedMarkowitz


def _compiled_class() -> type:
    import torch

    from . import _kernels

    class _CompiledMarkowitz(torch.autograd.Function):
        """The same map on a CPU: compiled member-by-member solves and derivative."""

        @staticmethod
        def forward(ctx: Any, mu: Any, cov: Any, scale: Any, target: Any, lo: Any, hi: Any,
                    opts: dict) -> Any:  # fmt: skip
            kind = opts["kind"]
            sol = solve_compiled(
                kind, scale, cov, mu, target, lo, hi, max_iter=opts.get("max_iter"),
                residuals=False, check=opts.get("check", False), rtol=opts.get("rtol", 1e-8),
            )  # fmt: skip
            opts["solution"] = sol
            ctx.kind = kind
            solved = cov if sol.cov is None else sol.cov  # symmetrized within the tolerance
            ctx.save_for_backward(sol.weights, sol.nu, sol.fixed, mu, solved, scale, target)
            return sol.weights

        @staticmethod
        def backward(ctx: Any, grad_w: Any) -> tuple[Any, ...]:
            w, nu, fixed, mu, cov, scale, target = ctx.saved_tensors
            x = compiled_inputs(ctx.kind, scale, cov, mu, target)
            B, n = w.shape
            need = ctx.needs_input_grad
            g = torch.nan_to_num(grad_w.to(w.dtype)).contiguous()
            d_t = torch.empty((B, n), dtype=torch.float64)
            e_t = torch.empty((B, nu.shape[1]), dtype=torch.float64)
            dsw = torch.empty(B, dtype=torch.float64)
            # zeros: the kernel writes each member's S × S block only
            g_cov = _kernels.gradient_zeros((B if need[1] else 0, n, n))
            fx, w_np, g_np = fixed.numpy(), w.numpy(), g.numpy()
            d_np, e_np, dsw_np, gc_np = d_t.numpy(), e_t.numpy(), dsw.numpy(), g_cov.numpy()
            _kernels.split_rows(B, lambda i, j: _kernels.backward(
                x["target"], x["a"][i:j], x["mu"][i:j], x["cov"], x["cmap"][i:j], fx[i:j],
                w_np[i:j], g_np[i:j], d_np[i:j], e_np[i:j], dsw_np[i:j],
                gc_np[i:j] if need[1] else gc_np,
            ), n)  # fmt: skip
            g_mu, g_scale, g_target = trade_off_grads(ctx.kind, need, d_t, e_t, nu, w, dsw)
            return g_mu, g_cov if need[1] else None, g_scale, g_target, None, None, None

    return _CompiledMarkowitz


_FUNCTIONS: dict[str, Any] = {}


def bounded_forward(
    kind: str, mu: Any, cov: Any, scale: Any, target: Any, lo: Any, hi: Any, opts: dict
) -> Any:
    """Apply the autograd function of the engine (built once, torch imported lazily)."""
    engine = "compiled" if use_compiled(opts.get("engine", "auto"), mu.device) else "torch"
    if engine not in _FUNCTIONS:
        _FUNCTIONS[engine] = _compiled_class() if engine == "compiled" else _function_class()
    opts = {**opts, "kind": kind}
    out = _FUNCTIONS[engine].apply(mu, cov, scale, target, lo, hi, opts)
    return out, opts.get("solution")


def closed_form(kind: str, mu: Any, cov: Any, scale: Any, target: Any) -> Any:
    """Unbounded weights by the closed form, in differentiable torch operations.

    ``w = (aΣ)⁻¹(q + Cᵀν)`` with ``ν`` from ``C w = c`` (a Cholesky factor of ``Σ`` and an
    ``m × m`` solve; no inverse is formed).
    """
    import torch

    q, C, c = standard_form(kind, mu, target)
    L = torch.linalg.cholesky(cov)
    Y = torch.cholesky_solve(torch.cat([q[:, :, None], C.transpose(1, 2)], dim=2), L)
    Y = Y / scale[:, None, None]
    u0, V = Y[:, :, 0], Y[:, :, 1:]
    S = C @ V
    nu = torch.linalg.solve(S, (c - (C @ u0[:, :, None])[..., 0])[:, :, None])[..., 0]
    return u0 + (V @ nu[:, :, None])[..., 0]
