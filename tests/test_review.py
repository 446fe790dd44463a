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
