from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from portfolio_lab import plotting, timing
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


def test_timing_helpers_are_reexported_from_timing():
    for name in (
        "median_time",
        "random_problem",
        "time_solvers",
        "limit_threads",
        "machine_info",
        "load_benchmarks",
        "TIMING_COLUMNS",
    ):
        assert getattr(plotting, name) is getattr(timing, name), name


def test_plot_weights_over_time_stacks_to_one():
    import numpy as np
    import pandas as pd

    from portfolio_lab.exceptions import ShapeError
    from portfolio_lab.plotting import plot_weights_over_time

    idx = pd.bdate_range("2020-01-01", periods=30)
    w = pd.DataFrame(
        np.random.default_rng(0).dirichlet(np.ones(3), 30), index=idx, columns=list("abc")
    )
    fig = plot_weights_over_time(w, title="t")
    ax = fig.axes[0]
    assert len(ax.collections) == 3 and ax.get_title() == "t"
    assert ax.get_ylim() == pytest.approx((0.0, 1.0))
    with pytest.raises(ShapeError):
        plot_weights_over_time(w - 0.5)
