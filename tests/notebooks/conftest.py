"""One CI run of every notebook and one strict book build, shared by the notebook tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from portfolio_lab.runner import build_run_book, run_notebooks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory: pytest.TempPathFactory):
    """Run every notebook with ``ci.yaml``; returns the summary and the results root."""
    results = tmp_path_factory.mktemp("results")
    summary = run_notebooks(
        REPO / "notebooks" / "params" / "ci.yaml", results_dir=results, progress=False
    )
    return summary, results


@pytest.fixture(scope="session")
def ci_book(ci_run) -> Path:
    """Build the CI run's book strictly, as ``portfolio-lab run --book`` does; the HTML folder."""
    summary, results = ci_run
    return build_run_book(summary.run, results_dir=results)
