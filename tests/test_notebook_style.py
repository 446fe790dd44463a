"""Source notebooks follow the house rules: one import cell, one parameters cell, no outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*/*.ipynb")) + sorted(
    (REPO / "notebooks").glob("*.ipynb")
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert "run" in params[0].source and "results_dir" in params[0].source
    imports = [
        c
        for c in code
        if any(line.startswith(("import ", "from ")) for line in c.source.splitlines())
    ]
    assert len(imports) == 1, "exactly one import cell"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("#")
    for cell in code:
        assert not cell.get("outputs"), "source notebooks are committed without outputs"
        assert "matplotlib.use(" not in cell.source
