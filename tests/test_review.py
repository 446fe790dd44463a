from __future__ import annotations

import pytest

from portfolio_lab.review import Review, ReviewFailed


def test_review_passes_and_fails() -> None:
    review = Review("x")
    review.check("small", 1e-9, 1e-6)
    review.check("big enough", 5.0, 1.0, kind=">=")
    review.require("flag", True, "a == b")
    table = review.raise_if_failed()
    assert table["passed"].all() and len(table) == 3
    review.check("too big", 1e-3, 1e-6)
    with pytest.raises(ReviewFailed, match="too big"):
        review.raise_if_failed()


def test_empty_review_fails() -> None:
    with pytest.raises(ReviewFailed, match="no checks"):
        Review("y").raise_if_failed()


def test_nan_never_passes() -> None:
    review = Review("z")
    review.check("nan", float("nan"), 1.0)
    assert not review.verdict()["passed"].iloc[0]


@pytest.mark.parametrize("kind", [">", "=>", "<", "==", "ge", ""])
def test_unknown_kind_is_an_error_not_a_reversed_check(kind: str) -> None:
    from portfolio_lab.exceptions import InputError

    review = Review("k")
    with pytest.raises(InputError, match="kind must be one of"):
        review.check("typo", 2.0, 1.0, kind=kind)
    assert review.verdict().empty


def test_both_kinds_compare_the_right_way() -> None:
    review = Review("sides")
    review.check("le pass", 1.0, 1.0, kind="<=")
    review.check("le fail", 1.5, 1.0, kind="<=")
    review.check("ge pass", 1.0, 1.0, kind=">=")
    review.check("ge fail", 0.5, 1.0, kind=">=")
    assert review.verdict()["passed"].tolist() == [True, False, True, False]


def test_baseline_wealth_by_loop_matches_the_engine():
    import numpy as np
    import pandas as pd

    from portfolio_lab import backtest
    from portfolio_lab.backtest import MarkowitzPolicy, baseline
    from portfolio_lab.review import baseline_wealth_by_loop

    rng = np.random.default_rng(4)
    x = rng.uniform(0.97, 1.03, (60, 4))
    prices = pd.DataFrame(
        np.vstack([np.ones(4), np.cumprod(x, axis=0)]),
        index=pd.bdate_range("2020-01-01", periods=61),
        columns=list("ABCD"),
    )
    fee = 0.0025
    pols = {
        "ubah": baseline("ubah"),
        "ucrp": baseline("ucrp"),
        "best_stock": baseline("best_stock"),
        "1/N": MarkowitzPolicy("equal_weight", window=21, rebalance_every=21),
        "olmar": baseline("olmar"),
        "pamr": baseline("pamr"),
        "eg": baseline("eg"),
        "anticor": baseline("anticor"),
    }
    for name, pol in pols.items():
        engine = backtest.run(pol, prices, fee=fee).final_wealth
        assert baseline_wealth_by_loop(name, x, fee) == pytest.approx(engine, rel=1e-10), name
    ons = backtest.run(baseline("ons"), prices, fee=fee).final_wealth
    assert baseline_wealth_by_loop("ons", x, fee) == pytest.approx(ons, rel=1e-8)  # Clarabel
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_wealth_by_loop("corn", x, fee)
