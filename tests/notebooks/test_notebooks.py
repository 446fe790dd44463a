"""Run every programming and review notebook with tiny parameters, then build the book.

This is what catches a broken chapter: a notebook that raises (a failed review check raises
too) fails the run, naming the notebook and the cell, and a page that warns fails the strict
book build.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from portfolio_lab.runner import discover_notebooks

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[2]


def test_every_notebook_ran(ci_run) -> None:
    summary, _ = ci_run
    expected = {spec.path.name for spec in discover_notebooks(REPO / "notebooks")}
    assert {p.name for p in summary.executed} == expected
    for path in summary.executed:
        nb = nbformat.read(path, as_version=4)
        errors = [
            out
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.get("output_type") == "error"
        ]
        assert not errors, f"{path.name} has error outputs"


def test_no_warnings_leak_into_the_book(ci_run) -> None:
    summary, _ = ci_run
    for path in summary.executed:
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    raise AssertionError(
                        f"{path.name} cell {index} wrote to stderr: {out['text'][:200]}"
                    )


def test_programming_notebooks_wrote_artifacts(ci_run) -> None:
    summary, _ = ci_run
    for spec in discover_notebooks(REPO / "notebooks"):
        if spec.track == "programming":
            folder = summary.results_dir / spec.name
            assert folder.is_dir() and any(folder.iterdir()), f"{spec.name} wrote no artifacts"


def test_book_builds_with_warnings_as_errors(ci_book: Path) -> None:
    html = ci_book  # built strictly (-W -n --keep-going) by the conftest, as `run --book` does
    assert (html / "index.html").is_file()
    for spec in discover_notebooks(REPO / "notebooks"):
        folder = html / "_notebooks" if spec.track == "report" else html / "_notebooks" / spec.track
        page = folder / f"{spec.name}.html"
        assert page.is_file(), f"no page for {spec.name}"


def test_report_review_fails_on_a_number_not_from_its_artifact(ci_run, tmp_path: Path) -> None:
    import json
    import shutil

    from portfolio_lab.runner import NotebookFailed, run_notebooks

    summary, _ = ci_run
    results = tmp_path / "results"
    shutil.copytree(summary.results_dir / "report", results / "tampered" / "report")
    executed = results / "tampered" / "notebooks" / "report.ipynb"
    executed.parent.mkdir(parents=True)
    shutil.copy(summary.results_dir / "notebooks" / "report.ipynb", executed)
    shown_file = results / "tampered" / "report" / "shown.json"
    shown = json.loads(shown_file.read_text())
    entry = next(e for e in shown["entries"] if isinstance(e["value"], float))
    entry["value"] *= 1.01  # a number typed by hand, or read from the wrong place
    shown_file.write_text(json.dumps(shown))
    params = tmp_path / "tampered.yaml"
    params.write_text("run: tampered\n")
    with pytest.raises(NotebookFailed, match="read values equal the artifact"):
        run_notebooks(params, only=["report_review"], results_dir=results, progress=False)


@pytest.mark.parametrize("tamper", ["reported_wealth", "swapped_agent"])
def test_rl_sb3_review_fails_on_a_tampered_artifact(ci_run, tmp_path: Path, tamper: str) -> None:
    import shutil

    import pandas as pd

    from portfolio_lab.runner import NotebookFailed, run_notebooks

    summary, _ = ci_run
    results = tmp_path / "results"
    folder = results / "tampered" / "12_rl_sb3"
    shutil.copytree(summary.results_dir / "12_rl_sb3", folder)
    seeds = pd.read_parquet(folder / "seeds.parquet")
    sb3 = seeds[seeds.kind == "sb3"]
    if tamper == "reported_wealth":  # a final wealth typed or read from another run
        seeds.loc[sb3.index[0], "fAPV"] *= 1.001
        seeds.to_parquet(folder / "seeds.parquet")
        match = "fAPV by a direct loop"
    else:  # the saved agent is not the one that traded (another seed's file)
        a, b = sb3.tag.iloc[0], sb3.tag.iloc[1]
        shutil.copy(folder / "agents" / b / "weights.safetensors", folder / "agents" / a)
        match = "env weights vs saved"
    params = tmp_path / "tampered.yaml"
    params.write_text("run: tampered\n")
    with pytest.raises(NotebookFailed, match=match):
        run_notebooks(params, only=["12_rl_sb3_review"], results_dir=results, progress=False)
