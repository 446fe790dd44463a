"""Chapter 13's review fails when a saved return series is tampered with as a real bug would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from portfolio_lab.runner import NotebookFailed, run_notebooks

pytestmark = pytest.mark.notebooks


def _copy_run(summary, tmp_path: Path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(
        summary.results_dir, results / "tampered", ignore=shutil.ignore_patterns("notebooks")
    )
    (tmp_path / "tampered.yaml").write_text(
        "run: tampered\nnotebooks:\n  13_league_table_review: {tol_ci: 1.0, review_boot: 100}\n"
    )
    return results


def test_league_review_fails_on_a_return_changed_in_the_fourth_digit(
    ci_run, tmp_path: Path
) -> None:
    summary, _ = ci_run
    results = _copy_run(summary, tmp_path)
    path = results / "tampered" / "13_league_table" / "returns_0.0010.parquet"
    frame = pd.read_parquet(path)
    frame.iloc[10, 1] += 1e-4  # one day's return of one entry, off in the fourth digit
    frame.to_parquet(path)
    with pytest.raises(NotebookFailed, match="returns from the saved schedules"):
        run_notebooks(
            tmp_path / "tampered.yaml",
            only=["13_league_table_review"],
            results_dir=results,
            progress=False,
        )


def test_league_review_fails_when_a_table_p_value_is_not_the_tests(ci_run, tmp_path: Path) -> None:
    summary, _ = ci_run
    results = _copy_run(summary, tmp_path)
    path = results / "tampered" / "13_league_table" / "league_0.0025.parquet"
    frame = pd.read_parquet(path)
    row = frame["sharpe_diff_p"].idxmax()  # a p-value far from 0, so halving it shows
    frame.loc[row, "sharpe_diff_p"] = frame.loc[row, "sharpe_diff_p"] * 0.5  # an iid p-value, say
    frame.to_parquet(path)
    with pytest.raises(NotebookFailed, match="paired tests: p-values"):
        run_notebooks(
            tmp_path / "tampered.yaml",
            only=["13_league_table_review"],
            results_dir=results,
            progress=False,
        )
