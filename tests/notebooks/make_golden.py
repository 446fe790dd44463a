"""Regenerate the nbval reference notebooks (``make golden``).

Runs the notebooks listed in ``GOLDEN`` with ``notebooks/params/ci.yaml`` into
``results/nbval``, keeps only the outputs of cells tagged ``nbval-check`` (re-tagged
``nbval-check-output`` so that ``pytest --nbval-lax`` compares exactly those), and writes the
result to ``tests/notebooks/golden/``. nbval then re-executes the golden notebooks and compares
the frozen outputs of the deterministic cells.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from portfolio_lab.runner import run_notebooks

REPO = Path(__file__).resolve().parents[2]
GOLDEN = ["03_lagrange", "04_newton"]
CHECK_TAG = "nbval-check"


def main() -> None:
    """Run the golden notebooks and write the stripped references."""
    summary = run_notebooks(
        REPO / "notebooks" / "params" / "ci.yaml",
        only=GOLDEN,
        results_dir=REPO / "results" / "_golden",
        progress=True,
        force=True,  # the references come from executed notebooks, never skipped ones
    )
    target = REPO / "tests" / "notebooks" / "golden"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.ipynb"):
        old.unlink()
    for path in summary.executed:
        if path.parent.name != "programming":
            continue
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            tags = set(cell.metadata.get("tags", []))
            if "injected-parameters" in tags:
                # the reference run writes inside the repository's ignored results folder
                cell.source = "\n".join(
                    line
                    for line in cell.source.splitlines()
                    if not line.startswith(("results_dir =", "run ="))
                )
                cell.source += '\nrun = "nbval"\nresults_dir = "results"'
            if CHECK_TAG in tags:
                cell.metadata["tags"] = sorted((tags - {CHECK_TAG}) | {"nbval-check-output"})
            else:
                cell.outputs = []
                cell.execution_count = None
        nbformat.write(nb, target / path.name)
        print(f"wrote {target / path.name}")


if __name__ == "__main__":
    main()
