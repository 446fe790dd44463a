"""The league table's plumbing: re-costing, seed averages, selection before the test, counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from portfolio_lab import backtest
from portfolio_lab.backtest import ConstantRebalanced, league
from portfolio_lab.data import load_prices
from portfolio_lab.exceptions import InputError, ShapeError


@pytest.fixture(scope="module")
def prices():
    return load_prices("sp500", start="2017-01-03", end="2019-12-31")[
        ["AAPL", "JNJ", "KO", "XOM", "MSFT"]
    ]


def test_recost_of_a_uniform_schedule_is_ucrp_from_cash(prices):
    test = prices.iloc[300:]
    dates = test.index[1:]
    sched = pd.DataFrame(0.2, index=dates, columns=prices.columns)
    res = league.recost_schedules({"u": sched}, test, 0.0025)["u"]
    ucrp = ConstantRebalanced([0.0] + [0.2] * 5, name="UCRP")  # cash first, held at zero
    ref = backtest.run(ucrp, test, fee=0.0025, cash=True)
    np.testing.assert_allclose(res.returns.to_numpy(), ref.returns.to_numpy(), rtol=0, atol=1e-14)
    with pytest.raises(ShapeError):
        league.recost_schedules({"u": sched.iloc[1:]}, test, 0.0)


def test_seed_average_is_the_mean_and_checks_alignment(prices):
    idx = prices.index[:5]
    a = pd.DataFrame(np.eye(5), index=idx, columns=prices.columns)
    b = pd.DataFrame(np.full((5, 5), 0.2), index=idx, columns=prices.columns)
    np.testing.assert_allclose(league.seed_average([a, b]).to_numpy(), (a.to_numpy() + 0.2) / 2)
    with pytest.raises(ShapeError):
        league.seed_average([a, b.iloc[::-1]])
    with pytest.raises(InputError):
        league.seed_average([])


def test_markowitz_schedules_do_not_look_ahead(prices):
    first_fit = 400
    base = league.markowitz_schedules(prices, first_fit, window=252, refit_every=21)
    cut = first_fit + 60
    bumped = prices.copy()
    bumped.iloc[cut + 1 :] *= np.linspace(1.0, 3.0, len(prices) - cut - 1)[:, None] ** np.arange(
        1, 6
    )
    again = league.markowitz_schedules(bumped, first_fit, window=252, refit_every=21)
    for name, sched in base.items():
        assert list(sched.columns) == ["cash", *prices.columns]
        assert sched.index[0] == prices.index[first_fit + 1]
        np.testing.assert_allclose(sched.sum(axis=1), 1.0, atol=1e-9)
        upto = sched.index <= prices.index[cut]
        np.testing.assert_array_equal(sched[upto].to_numpy(), again[name][upto].to_numpy())
    assert not np.allclose(base["GMV[LW]"].to_numpy(), again["GMV[LW]"].to_numpy())


def test_olps_selection_uses_only_the_days_before_the_test(prices):
    first_fit = 400
    best, sched, table = league.select_olps(
        prices, first_fit, ["ucrp", "olmar", "ubah"], selection_days=200, fee=0.001
    )
    assert best == table.index[0] and set(table.index) == {"ucrp", "olmar", "ubah"}
    bumped = prices.copy()
    bumped.iloc[first_fit + 1 :] *= 1.5  # the test days' prices change: the choice must not
    best2, _, table2 = league.select_olps(
        bumped, first_fit, ["ucrp", "olmar", "ubah"], selection_days=200, fee=0.001
    )
    assert best2 == best
    pd.testing.assert_frame_equal(table, table2)
    with pytest.raises(InputError, match="hindsight"):
        league.select_olps(prices, first_fit, ["bcrp"], selection_days=200, fee=0.0)


def test_league_table_flags_a_real_edge_and_only_it():
    rng = np.random.default_rng(0)
    T = 1200
    dates = pd.bdate_range("2010-01-01", periods=T + 1)
    # three assets: two noisy, one with a strong drift; entries hold fixed mixes
    rel = np.exp(rng.normal([0.0002, 0.0002, 0.002], 0.01, size=(T, 3)))
    prices = pd.DataFrame(
        np.vstack([np.ones(3), np.cumprod(rel, axis=0)]), index=dates, columns=list("abc")
    )
    mixes = {"1/N": [1 / 3] * 3, "noise": [0.5, 0.5, 0.0], "edge": [0.0, 0.2, 0.8]}
    sched = {
        k: pd.DataFrame([v] * T, index=dates[1:], columns=list("abc")) for k, v in mixes.items()
    }
    results = league.recost_schedules(sched, prices, 0.001)
    table = league.league_table(results, bootstrap_samples=200, reps=300)
    assert np.isnan(table.loc["1/N", "sharpe_diff"])
    assert table.loc["edge", "stepm_superior"] and not table.loc["noise", "stepm_superior"]
    assert table.loc["edge", "sharpe_diff_p"] < 0.01 and table.loc["edge", "alpha_t"] > 2
    assert league.accepted_better({0.001: table}) == ["edge"]
    assert table.loc["edge", "in_mcs"] and not table.loc["noise", "in_mcs"]


def test_saved_schedule_only_when_it_covers(tmp_path, prices):
    dates = prices.index[10:20]
    frame = pd.DataFrame(0.2, index=prices.index[5:30], columns=prices.columns)
    frame.to_parquet(tmp_path / "w.parquet")
    got = league.saved_schedule(tmp_path, "w", dates, list(prices.columns))
    assert got is not None and list(got.columns) == ["cash", *prices.columns] and len(got) == 10
    assert league.saved_schedule(tmp_path, "w", prices.index[:20], list(prices.columns)) is None
    assert league.saved_schedule(tmp_path, "w", dates, ["AAPL"]) is None
    assert league.saved_schedule(tmp_path, "absent", dates, list(prices.columns)) is None


def test_count_trials_reads_each_chapter_and_marks_missing(tmp_path):
    (tmp_path / "09_markowitz_walk_forward").mkdir()
    (tmp_path / "09_markowitz_walk_forward" / "metrics.json").write_text(
        json.dumps({"1/N": {}, "gmv[sample]": {}, "S&P 500 index": {}})
    )
    (tmp_path / "12_rl_rnn_colombia").mkdir()
    pd.DataFrame({"reward": ["simple"] * 3, "seed": [0, 1, 2]}).to_parquet(
        tmp_path / "12_rl_rnn_colombia" / "seeds.parquet"
    )
    counts = league.count_trials(tmp_path)
    by = counts.set_index("artifact")["configurations"]
    assert by["09_markowitz_walk_forward/metrics.json"] == 2
    assert by["12_rl_rnn_colombia/seeds.parquet"] == 3
    assert by["07_covariance/summary.parquet"] == 0
    assert counts["what"].str.contains("missing").sum() == len(counts) - 2


def test_seed_averaged_against_tests_the_average_portfolio(prices):
    test = prices.iloc[300:]
    dates = test.index[1:]
    cols = ["cash", *prices.columns]
    a = pd.DataFrame(0.0, index=dates, columns=cols)
    a["AAPL"] = 1.0
    b = pd.DataFrame(0.0, index=dates, columns=cols)
    b["KO"] = 1.0
    fake = [backtest.run(backtest.ScheduledWeights(w), test, cash=True) for w in (a, b)]
    bench = backtest.run(ConstantRebalanced(name="UCRP"), test, fee=0.001)
    got = league.seed_averaged_against(fake, bench, test, 0.001, bootstrap_samples=100)
    half = league.recost_schedules({"h": (a + b) / 2}, test, 0.001)["h"]
    assert got["final_wealth"] == pytest.approx(float(np.prod(1 + half.returns.to_numpy())))
    assert got["sharpe_ci_low"] < got["sharpe"] < got["sharpe_ci_high"]
    assert 0.0 <= got["p_value"] <= 1.0
