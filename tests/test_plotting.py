from __future__ import annotations

import itertools
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab import plotting
from portfolio_lab.exceptions import InputError, ShapeError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def prices() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=60, name="date")
    steps = rng.normal(0.0, 0.01, (60, 3))
    return pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=dates, columns=["A", "B", "C"]
    )


def test_plot_prices_normalizes_and_uses_log_axis(prices):
    fig = plotting.plot_prices(prices)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 3
    first = [line.get_ydata()[0] for line in ax.get_lines()]
    np.testing.assert_allclose(first, 1.0)
    last = ax.get_lines()[1].get_ydata()[-1]
    assert last == pytest.approx(prices["B"].iloc[-1] / prices["B"].iloc[0])


def test_plot_prices_raw_linear(prices):
    fig = plotting.plot_prices(prices, normalize=False, log=False)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), prices["A"].to_numpy())


def test_plot_prices_rejects_bad_input(prices):
    with pytest.raises(InputError, match="DataFrame"):
        plotting.plot_prices(prices.to_numpy())
    with pytest.raises(ShapeError, match="empty"):
        plotting.plot_prices(prices.iloc[:0])
    bad = prices.copy()
    bad.iloc[5, 0] = -1.0
    with pytest.raises(InputError, match="positive"):
        plotting.plot_prices(bad)


def test_plot_returns_has_series_and_boxes(prices):
    returns = np.log(prices).diff().dropna()
    fig = plotting.plot_returns(returns)
    top, bottom = fig.axes
    # one line per asset plus the cross-sectional mean
    assert len(top.get_lines()) == 4
    np.testing.assert_allclose(top.get_lines()[-1].get_ydata(), returns.mean(axis=1).to_numpy())
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["A", "B", "C"]


def test_plot_correlation_square_and_range(prices):
    corr = np.log(prices).diff().dropna().corr()
    fig = plotting.plot_correlation(corr)
    image = fig.axes[0].get_images()[0]
    assert image.get_clim() == (-1.0, 1.0)
    np.testing.assert_allclose(image.get_array(), corr.to_numpy())
    with pytest.raises(ShapeError, match="square"):
        plotting.plot_correlation(corr.iloc[:, :2])


def test_plot_weights_single_and_grouped():
    fig = plotting.plot_weights(np.array([0.5, -0.2, 0.7]), ["a", "b", "c"])
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [0.5, -0.2, 0.7])
    fig2 = plotting.plot_weights({"x": [1, 0, 0], "y": [0, 1, 0]}, ["a", "b", "c"])
    assert len(fig2.axes[0].patches) == 6
    assert fig2.axes[0].get_legend() is not None


def test_plot_weights_shape_errors():
    with pytest.raises(ShapeError, match="3 labels"):
        plotting.plot_weights([0.5, 0.5], ["a", "b", "c"])
    with pytest.raises(InputError, match="empty"):
        plotting.plot_weights({}, ["a"])


def test_plot_convergence_log_scale_and_zero_decrement():
    fig = plotting.plot_convergence(
        {"quad": [1e-2, 0.0], "barrier": [10.0, 1.0, 1e-3, 1e-9]},
        {"quad": [1.0], "barrier": [0.5, 1.0, 1.0]},
        tol=1e-10,
    )
    left, right = fig.axes
    assert left.get_yscale() == "log"
    quad = left.get_lines()[0].get_ydata()
    assert quad[1] > 0.0  # exact zero drawn at the smallest positive float
    assert len(right.get_lines()) == 2
    np.testing.assert_allclose(right.get_lines()[1].get_xdata(), [1, 2, 3])
    assert len(plotting.plot_convergence({"a": [1.0, 0.1]}).axes) == 1
    with pytest.raises(InputError):
        plotting.plot_convergence({})


def test_plot_frontier_skips_nan_and_marks_points():
    risks = np.array([0.3, 0.2, np.nan, 0.25])
    rets = np.array([0.0, 0.1, np.nan, 0.2])
    fig = plotting.plot_frontier(
        risks,
        rets,
        asset_risks=[0.4, 0.5],
        asset_returns=[0.1, 0.15],
        asset_labels=["x", "y"],
        points={"GMV": (0.2, 0.1), "tangency": (0.25, 0.2)},
    )
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0.3, 0.2, 0.25])
    assert len(ax.collections) == 3  # assets + two marked points
    assert {t.get_text() for t in ax.texts} == {"x", "y"}
    with pytest.raises(ShapeError):
        plotting.plot_frontier([0.1, 0.2], [0.1])
    with pytest.raises(ShapeError):
        plotting.plot_frontier(
            [0.1], [0.1], asset_risks=[1, 2], asset_returns=[1, 2], asset_labels=["a"]
        )


def _timing_table() -> pd.DataFrame:
    rows = [
        {"task": t, "backend": b, "n": n, "median_s": 1e-3 * n, "repeats": 3}
        for t, b, n in itertools.product(["frontier", "newton"], ["numpy", "torch:cpu"], [10, 20])
    ]
    return pd.DataFrame(rows)


def test_plot_timings_one_panel_per_task():
    fig = plotting.plot_timings(_timing_table(), title="t")
    assert len(fig.axes) == 2
    assert all(ax.get_xscale() == "log" and len(ax.get_lines()) == 2 for ax in fig.axes)
    with pytest.raises(InputError, match="median_s"):
        plotting.plot_timings(_timing_table().drop(columns="median_s"))


def test_median_time_uses_median_of_repeats():
    ticks = iter([0.0, 1.0, 10.0, 12.0, 20.0, 25.0])  # durations 1, 2, 5
    calls = []
    syncs = []
    t = plotting.median_time(
        lambda: calls.append(1),
        repeats=3,
        warmup=2,
        sync=lambda: syncs.append(1),
        clock=lambda: next(ticks),
    )
    assert t == 2.0
    assert len(calls) == 5 and len(syncs) == 5
    with pytest.raises(InputError):
        plotting.median_time(lambda: None, repeats=0)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 2**31 - 1))
def test_random_problem_is_spd_and_reproducible(n, seed):
    mu, cov = plotting.random_problem(n, seed=seed)
    assert mu.shape == (n,) and cov.shape == (n, n)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    mu2, cov2 = plotting.random_problem(n, seed=seed)
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(cov, cov2)
    with pytest.raises(InputError):
        plotting.random_problem(1)


def test_time_solvers_table_covers_every_cell():
    table = plotting.time_solvers([5, 8], ("numpy", "torch"), repeats=1, n_targets=4)
    assert list(table.columns) == plotting.TIMING_COLUMNS
    cells = set(zip(table["task"], table["backend"], table["n"], strict=True))
    assert cells == set(itertools.product(["frontier", "newton"], ["numpy", "torch:cpu"], [5, 8]))
    assert (table["median_s"] > 0).all()


def test_load_benchmarks(tmp_path):
    assert plotting.load_benchmarks(tmp_path / "missing").empty
    doc = {"machine": "box", "results": _timing_table().to_dict(orient="records")}
    (tmp_path / "backends_box.json").write_text(json.dumps(doc))
    table = plotting.load_benchmarks(tmp_path)
    assert len(table) == 8 and set(table["machine"]) == {"box"}
    (tmp_path / "backends_bad.json").write_text(json.dumps({"results": []}))
    with pytest.raises(InputError, match="machine"):
        plotting.load_benchmarks(tmp_path)


def test_machine_info_mentions_cpus():
    info = plotting.machine_info()
    assert "logical CPUs" in info and "GPU:" in info


def test_limit_threads_caps_and_restores_torch_and_blas():
    import torch
    from threadpoolctl import threadpool_info

    original = torch.get_num_threads()
    torch.set_num_threads(2)  # a known count above the cap, whatever earlier tests left
    try:
        with plotting.limit_threads(1):
            assert torch.get_num_threads() == 1
            assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 2
        with plotting.limit_threads(None):
            assert torch.get_num_threads() == 2
        with pytest.raises(InputError, match="threads"), plotting.limit_threads(0):
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
