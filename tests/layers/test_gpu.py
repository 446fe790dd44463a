"""The layer on CUDA equals the layer on the CPU (skipped without a visible GPU)."""

from __future__ import annotations

import pytest
import torch

from portfolio_lab import layers

from ._problems import batch

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_equals_cpu(dtype):
    mu, cov = batch(30, 16, seed=9)
    out = {}
    for dev in ("cpu", "cuda"):
        m = torch.tensor(mu, dtype=dtype, device=dev, requires_grad=True)
        c = torch.tensor(cov, dtype=dtype, device=dev, requires_grad=True)
        w = layers.markowitz(m, c, risk_aversion=4.0, bounds=(None, 0.3))
        assert w.device.type == dev and w.dtype == dtype
        (w * torch.arange(30, device=dev, dtype=dtype)).sum().backward()
        out[dev] = (w.detach().cpu().double(), m.grad.cpu().double(), c.grad.cpu().double())
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    for a, b in zip(out["cpu"], out["cuda"], strict=True):
        assert float((a - b).abs().max() / a.abs().max().clamp_min(1e-300)) <= tol
