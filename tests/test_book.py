"""The book's table of contents mirrors the notebook tracks."""

from __future__ import annotations

from pathlib import Path

import yaml

from portfolio_lab.runner import discover_notebooks

REPO = Path(__file__).resolve().parents[1]


def _toc_entries() -> list[tuple[str, list[str]]]:
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text())
    chapters = []
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            sections = [s["file"] for s in chapter.get("sections", [])]
            chapters.append((chapter["file"], sections))
    return chapters


def test_toc_lists_every_notebook_once_with_its_review() -> None:
    specs = discover_notebooks(REPO / "notebooks")
    expected = []
    for spec in specs:
        if spec.track in ("programming", "report"):
            reviews = [
                f"_notebooks/review/{s.name}"
                for s in specs
                if s.track == "review" and s.topic == spec.name
            ]
            page = (
                "_notebooks/report"
                if spec.track == "report"
                else f"_notebooks/programming/{spec.name}"
            )
            entry = (page, reviews)
            if spec.track == "report":  # runs last, but is the book's first chapter
                expected.insert(0, entry)
            else:
                expected.append(entry)
    assert _toc_entries() == expected
    assert _toc_entries()[0] == ("_notebooks/report", ["_notebooks/review/report_review"])


def test_every_programming_notebook_has_a_review() -> None:
    specs = discover_notebooks(REPO / "notebooks")
    topics = {s.topic for s in specs if s.track == "review"}
    assert topics == {s.name for s in specs if s.track in ("programming", "report")}


def test_report_runs_after_every_chapter_it_reads() -> None:
    specs = discover_notebooks(REPO / "notebooks")
    assert [s.name for s in specs[-2:]] == ["report", "report_review"]


def test_book_config_builds_offline() -> None:
    config = yaml.safe_load((REPO / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
