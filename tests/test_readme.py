"""The rerun commands of README.md and the book's introduction work as a newcomer types them.

The ``bash`` block under "Rerun one notebook" runs line by line in a fresh copy of the
repository's notebooks, with the same ``.venv`` linked in, so a folder the commands forget to
create (papermill does not create its output folder) fails here; ``book/intro.md`` may show
only commands of that block.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def commands(markdown: str, heading: str | None) -> list[str]:
    """Return the shell commands of the first ``bash`` block after ``heading`` (or anywhere)."""
    text = markdown
    if heading is not None:
        text = text[text.index(heading) :]
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, f"no bash block after {heading!r}"
    joined = block.group(1).replace("\\\n", " ")
    lines = [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_rerun_block_is_what_the_newcomer_test_runs() -> None:
    cmds = commands((REPO / "README.md").read_text(), "## Rerun one notebook")
    assert any(c.startswith(".venv/bin/papermill") for c in cmds)
    assert any(c.startswith("mkdir -p results/mine") for c in cmds)
    papermill = [c for c in cmds if c.startswith(".venv/bin/papermill")]
    first_mkdir = next(i for i, c in enumerate(cmds) if c.startswith("mkdir"))
    assert first_mkdir < cmds.index(papermill[0]), "the folder must exist before papermill runs"


def test_book_intro_rerun_commands_are_the_readme_ones() -> None:
    intro = commands((REPO / "book" / "intro.md").read_text(), "Rerun one")
    readme = commands((REPO / "README.md").read_text(), "## Rerun one notebook")
    assert intro and set(intro) <= set(readme), "the intro shows commands the README test skips"
    assert intro.index(next(c for c in intro if c.startswith("mkdir"))) < intro.index(
        next(c for c in intro if c.startswith(".venv/bin/papermill"))
    )


@pytest.mark.notebooks
def test_rerun_commands_work_in_a_fresh_checkout(tmp_path: Path) -> None:
    doc, heading = "README.md", "## Rerun one notebook"
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "papermill").exists():
        pytest.skip("no .venv with papermill: run make install")
    checkout = tmp_path / "clone"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    shutil.copytree(REPO / "notebooks", checkout / "notebooks")
    (checkout / ".venv").symlink_to(venv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for cmd in commands((REPO / doc).read_text(), heading):
        proc = subprocess.run(
            ["bash", "-c", cmd], cwd=checkout, capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0, f"{doc}: `{cmd}` failed:\n{proc.stderr[-2000:]}"
    assert (checkout / "results" / "mine" / "03_lagrange.ipynb").is_file()
    assert (checkout / "results" / "mine" / "03_lagrange" / "weights.npy").is_file()
