from __future__ import annotations

import itertools
import json
import os
import platform

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab import _backend, timing
from portfolio_lab.exceptions import InputError


def _ticks(*values: float):
    it = iter(values)
    return lambda: next(it)


def test_time_calls_returns_every_sample_and_the_last_value():
    calls: list[int] = []
    syncs: list[int] = []

    def fn() -> int:
        calls.append(1)
        return len(calls)

    samples, last = timing.time_calls(
        fn,
        repeats=3,
        warmup=2,
        sync=lambda: syncs.append(1),
        clock=_ticks(0.0, 1.0, 10.0, 12.0, 20.0, 25.0),
    )
    assert samples == [1.0, 2.0, 5.0]
    assert last == 5  # two warm-up calls, then three timed ones
    assert len(calls) == 5 and len(syncs) == 5


def test_time_calls_without_warmup_or_sync():
    samples, last = timing.time_calls(
        lambda: "x", repeats=2, warmup=0, clock=_ticks(1.0, 1.5, 3.0, 3.25)
    )
    assert samples == [0.5, 0.25] and last == "x"


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 1), (-1, 0), (1, -1)])
def test_time_calls_rejects_bad_counts(repeats, warmup):
    with pytest.raises(InputError, match="repeats >= 1 and warmup >= 0"):
        timing.time_calls(lambda: None, repeats=repeats, warmup=warmup)
    with pytest.raises(InputError, match="repeats >= 1 and warmup >= 0"):
        timing.median_time(lambda: None, repeats=repeats, warmup=warmup)


def test_median_time_uses_median_of_repeats():
    calls: list[int] = []
    syncs: list[int] = []
    t = timing.median_time(
        lambda: calls.append(1),
        repeats=3,
        warmup=2,
        sync=lambda: syncs.append(1),
        clock=_ticks(0.0, 1.0, 10.0, 12.0, 20.0, 25.0),  # durations 1, 2, 5
    )
    assert t == 2.0 and isinstance(t, float)
    assert len(calls) == 5 and len(syncs) == 5


@given(durations=st.lists(st.floats(0.0, 1e3), min_size=1, max_size=9))
def test_median_time_equals_median_of_samples(durations):
    ticks = list(itertools.chain.from_iterable((0.0, d) for d in durations))
    t = timing.median_time(lambda: None, repeats=len(durations), warmup=0, clock=_ticks(*ticks))
    assert t == float(np.median(durations))


def test_device_sync_is_none_on_the_cpu():
    import torch

    assert timing.device_sync("numpy") is None
    assert timing.device_sync("torch") is None
    assert timing.device_sync("torch", "cpu") is None
    assert timing.device_sync("torch", "cuda") is torch.cuda.synchronize
    assert timing.device_sync("torch", "cuda:1") is torch.cuda.synchronize


def test_limit_threads_caps_and_restores_torch_and_blas():
    import torch
    from threadpoolctl import threadpool_info

    original = torch.get_num_threads()
    torch.set_num_threads(2)  # a known count above the cap, whatever earlier tests left
    try:
        with timing.limit_threads(1):
            assert torch.get_num_threads() == 1
            assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 2
        with timing.limit_threads(None):
            assert torch.get_num_threads() == 2
        with pytest.raises(InputError, match="threads"), timing.limit_threads(0):
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 2**31 - 1))
def test_random_problem_is_spd_and_reproducible(n, seed):
    mu, cov = timing.random_problem(n, seed=seed)
    assert mu.shape == (n,) and cov.shape == (n, n)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    mu2, cov2 = timing.random_problem(n, seed=seed)
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(cov, cov2)


def test_random_problem_needs_two_assets():
    with pytest.raises(InputError, match="n >= 2"):
        timing.random_problem(1)


def test_dense_problem_is_spd_reproducible_and_dense():
    mu, cov = timing.dense_problem(60, seed=3)
    assert mu.shape == (60,) and cov.shape == (60, 60)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    mu2, cov2 = timing.dense_problem(60, seed=3)
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(cov, cov2)
    # the point of the case: nearly every asset enters the long-only frontier
    from portfolio_lab.solvers import critical_line

    entered = critical_line(mu, cov).free_masks.any(axis=0).sum()
    assert entered >= 0.8 * 60


@pytest.mark.parametrize("kw", [{"n_factors": 0}, {"days": 60}])
def test_dense_problem_refuses_bad_sizes(kw):
    with pytest.raises(InputError):
        timing.dense_problem(60, **kw)


def test_time_solvers_table_covers_every_cell():
    table = timing.time_solvers([5, 8], ("numpy", ("torch", "cpu")), repeats=1, n_targets=4)
    assert list(table.columns) == timing.TIMING_COLUMNS
    cells = set(zip(table["task"], table["backend"], table["n"], strict=True))
    assert cells == set(itertools.product(["frontier", "newton"], ["numpy", "torch:cpu"], [5, 8]))
    assert len(table) == len(cells)
    assert (table["median_s"] > 0).all() and (table["repeats"] == 1).all()


def _timing_table() -> pd.DataFrame:
    rows = [
        {"task": t, "backend": b, "n": n, "median_s": 1e-3 * n, "repeats": 3}
        for t, b, n in itertools.product(["frontier", "newton"], ["numpy", "torch:cpu"], [10, 20])
    ]
    return pd.DataFrame(rows)


def test_load_benchmarks(tmp_path):
    empty = timing.load_benchmarks(tmp_path / "missing")
    assert empty.empty and list(empty.columns) == ["machine", *timing.TIMING_COLUMNS]
    doc = {"machine": "box", "results": _timing_table().to_dict(orient="records")}
    (tmp_path / "backends_box.json").write_text(json.dumps(doc))
    (tmp_path / "frontier_box.json").write_text(json.dumps({"other": 1}))  # not matched
    table = timing.load_benchmarks(tmp_path)
    assert set(table["machine"]) == {"box"}
    pd.testing.assert_frame_equal(table[timing.TIMING_COLUMNS], _timing_table())
    (tmp_path / "backends_bad.json").write_text(json.dumps({"results": []}))
    with pytest.raises(InputError, match="machine"):
        timing.load_benchmarks(tmp_path)


def test_cpu_model_falls_back_without_proc_cpuinfo(monkeypatch):
    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(timing, "open", no_file, raising=False)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    assert timing.cpu_model() == "riscv64"
    assert timing.cpu_model("unknown") == "unknown"
    monkeypatch.setattr(platform, "processor", lambda: "Some CPU")
    assert timing.cpu_model("unknown") == "Some CPU"


def test_cpu_model_reads_proc_cpuinfo(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Fancy CPU 9000 @ 3GHz\nflags\t: x\n")
    real_open = open
    monkeypatch.setattr(timing, "open", lambda path, **kw: real_open(fake, **kw), raising=False)
    assert timing.cpu_model() == "Fancy CPU 9000 @ 3GHz"


def test_cpu_cores_counts_the_affinity_mask():
    assert timing.cpu_cores() == len(os.sched_getaffinity(0)) >= 1


def test_gpu_name_asks_cupy_then_torch(monkeypatch):
    import torch

    monkeypatch.setattr(_backend, "gpu_available", lambda backend="cupy": False)
    assert timing.gpu_name() is None
    monkeypatch.setattr(_backend, "gpu_available", lambda backend="cupy": backend == "torch")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 80GB HBM3")
    assert timing.gpu_name() == "NVIDIA H100 80GB HBM3"


def test_machine_name_tags_gpu_or_cores(monkeypatch):
    monkeypatch.setattr(timing, "gpu_name", lambda: "NVIDIA H100 80GB HBM3")
    assert timing.machine_name() == "gpu-h100"
    monkeypatch.setattr(timing, "gpu_name", lambda: None)
    assert timing.machine_name() == f"cpu-{timing.cpu_cores()}core"


def test_machine_info_describes_cpu_and_gpu(monkeypatch):
    monkeypatch.setattr(timing, "gpu_name", lambda: None)
    info = timing.machine_info()
    assert timing.cpu_model() in info
    assert f"{os.cpu_count()} logical CPUs" in info and info.endswith("GPU: none visible")
    monkeypatch.setattr(timing, "gpu_name", lambda: "Tesla T4")
    assert timing.machine_info().endswith("GPU: Tesla T4")


def test_machine_record_is_json_ready_and_consistent():
    record = timing.machine_record()
    assert {
        "machine",
        "cpu_model",
        "cores",
        "python",
        "numpy",
        "scipy",
        "date_utc",
        "load_average_1m",
        "blas_threads_env",
        "torch",
        "gpu",
        "cupy",
        "cupy_gpu",
    } <= set(record)
    assert record["machine"] == timing.machine_name()
    assert record["cores"] == timing.cpu_cores()
    assert record["numpy"] == np.__version__
    assert record["python"] == platform.python_version()
    assert record["gpu"] == timing.gpu_name()
    assert json.loads(json.dumps(record)) == record
