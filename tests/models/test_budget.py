import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from portfolio_lab.exceptions import InputError  # noqa: E402
from portfolio_lab.models.budget import (  # noqa: E402
    budget_table,
    choose_budget,
    load_budget_study,
    plot_training_budget,
)


def seg(lg, lg1n=0.0, fapv=1.0):
    return {
        "days": 10,
        "log_growth": lg,
        "log_growth_1n": lg1n,
        "fapv": fapv,
        "fapv_1n": 1.0,
        "turnover": 0.1,
        "dist_uniform": 0.5,
        "n_eff": 3.0,
        "max_weight": 0.4,
    }


def record(curves):
    """curves: agent -> list of (steps, in-sample growth) per seed."""
    runs = []
    for agent, seeds in curves.items():
        for s, curve in enumerate(seeds):
            runs.append(
                {
                    "agent": agent,
                    "seed": s,
                    "checkpoints": [
                        {
                            "steps": st,
                            "train": seg(g),
                            "validation": seg(0.0),
                            "test": seg(0.0, fapv=1.1),
                        }
                        for st, g in curve
                    ],
                }
            )
    return {"benchmark": "training_budget", "protocol": {"fee": 0.0025}, "runs": runs}


def test_plateau_cap_and_failure(tmp_path):
    climb = [(300, 0.0), (1000, 0.008), (3000, 0.0095), (10000, 0.01)]
    flat_loser = [(300, -0.001), (1000, -0.001), (3000, -0.001), (10000, -0.001)]
    rec = record({"a": [climb, climb], "b": [flat_loser, flat_loser]})
    out = choose_budget(rec, ["a"])
    assert out["plateau"]["a"] == 3000 and out["steps"] == 3000 and not out["capped"]
    assert out["beats_1n_in_sample"]["a"] and "succeeded" in out["sentence"]
    capped = choose_budget(rec, ["a"], cap=1000)
    assert capped["steps"] == 1000 and capped["capped"] and "at this budget" in capped["sentence"]
    both = choose_budget(rec, ["a", "b"])
    assert both["plateau"]["b"] == 300 and not both["beats_1n_in_sample"]["b"]
    assert "optimization failed for b" in both["sentence"]
    with pytest.raises(InputError, match="no runs"):
        choose_budget(rec, ["c"])
    # a hair above 1/N in sample but still at the uniform start: optimization failed too
    stuck = record({"s": [[(300, 1e-5), (1000, 1e-5)]]})
    for run in stuck["runs"]:
        for c in run["checkpoints"]:
            c["test"]["dist_uniform"] = 0.01
    out = choose_budget(stuck, ["s"])
    assert not out["beats_1n_in_sample"]["s"] and "optimization failed for s" in out["sentence"]
    assert len(budget_table(rec)) == 16
    fig = plot_training_budget(rec, budget=3000)
    assert len(fig.axes) == 4
    path = tmp_path / "training_budget_x.json"
    path.write_text(json.dumps(rec))
    assert load_budget_study(path)["runs"]
    path.write_text(json.dumps({"benchmark": "other"}))
    with pytest.raises(InputError):
        load_budget_study(path)
    with pytest.raises(InputError, match="bench/training_budget.py"):
        load_budget_study(tmp_path / "none.json")


def test_in_sample_growth_matches_a_direct_loop():
    import numpy as np

    from portfolio_lab.models import EIIE
    from portfolio_lab.models.budget import in_sample_growth

    from ._fixtures import make_prices

    prices = make_prices(140, 3, seed=5)
    m = EIIE(window=10, steps=20, batch_size=16, random_state=0).fit(prices.iloc[:100])
    out = in_sample_growth(m, prices, 20, 90, fee=0.0)
    w = m.rollout(prices.iloc[:91]).to_numpy()[20 - 9 : 90 - 9]
    x = prices.to_numpy()[21:91] / prices.to_numpy()[20:90]
    growth = np.log((w * np.c_[np.ones(len(x)), x]).sum(axis=1))  # zero fee: w'x per day
    assert out["agent"] == pytest.approx(growth.mean(), rel=1e-9)
    assert out["gain"] == pytest.approx(out["agent"] - out["one_over_n"])
    with pytest.raises(InputError):
        in_sample_growth(m, prices, 2, 90, fee=0.0)
