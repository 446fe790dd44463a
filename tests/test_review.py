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
