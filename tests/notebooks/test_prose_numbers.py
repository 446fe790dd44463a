"""The markdown of chapters 10-12 holds no typed result number.

A result typed into prose goes stale the moment a rerun changes it; these chapters print
their numbers from code cells (or glue them). The check strips inline code, math and
headings' section numbers, then looks for what a typed result looks like: a decimal
(``1.37``), an approximation (``about 6``, ``≈ 2.8``), a spread (``±``) or a count of
outcomes (``16 of 20``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = ["10_lstm_sharpe", "11_rl_eiie", "12_rl_rnn_colombia"]

_STRIP = [
    re.compile(r"`[^`]*`"),  # inline code: parameter names and values
    re.compile(r"\$[^$]*\$"),  # math
    re.compile(r"^#+\s*\d+(\.\d+)*\.?", re.M),  # section numbers of headings
    re.compile(r"arXiv \d+\.\d+"),  # citations
    re.compile(r"\d+\(\d+\)"),  # journal volume(issue)
]
_TYPED = [
    re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])"),  # a decimal
    re.compile(r"(about|around|roughly|nearly|almost|≈|~)\s*[-+−]?\d", re.I),
    re.compile(r"±"),
    re.compile(r"\b\d+ of (the )?\d+\b"),
]


def typed_numbers(text: str) -> list[str]:
    """The typed-result fragments of a markdown text (empty when there are none)."""
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    found = []
    for pattern in _TYPED:
        found += [m.group(0) for m in pattern.finditer(text)]
    return found


def test_the_detector_catches_typed_results():
    assert typed_numbers("the CNN wins on TSE (mean fAPV about 1.37 against 0.91)")
    assert typed_numbers("an effective 16 of 20 assets")
    assert typed_numbers("Sharpe 0.86 ± 0.04")
    assert not typed_numbers("## 3. Results\nthe first `train_share` of the days, `fee` per side")
    assert not typed_numbers("Zhang et al. (J. Financial Data Science 2(4); arXiv 2005.13665)")


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_markdown_has_no_typed_result(name):
    nb = nbformat.read(REPO / "notebooks" / "programming" / f"{name}.ipynb", as_version=4)
    bad = {
        i: typed_numbers(cell.source)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown" and typed_numbers(cell.source)
    }
    assert not bad, f"{name}: typed numbers in markdown cells {bad}; print or glue them instead"
