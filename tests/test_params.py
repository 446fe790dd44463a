"""The parameter files give every notebook values of the types its parameters cell declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from portfolio_lab.runner import _params_for, discover_notebooks, load_params, notebook_parameters

REPO = Path(__file__).resolve().parents[1]
PARAM_FILES = sorted((REPO / "notebooks" / "params").glob("*.yaml"))
SPECS = discover_notebooks(REPO / "notebooks")

_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict}


def _matches(value: object, declared: str) -> bool:
    base = declared.split("[", 1)[0].strip()
    if base not in _TYPES:
        return True  # unannotated or exotic: papermill passes it as is
    if base == "int" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[base])


@pytest.mark.parametrize("params_file", PARAM_FILES, ids=lambda p: p.stem)
def test_param_files_match_declared_types(params_file: Path) -> None:
    params = load_params(params_file)
    known = {s.name for s in SPECS}
    assert set(params["notebooks"]) <= known, "entries for notebooks that do not exist"
    for spec in SPECS:
        declared = notebook_parameters(spec.path)
        for name, value in _params_for(spec, params, "r", "results").items():
            kind = declared[name]["inferred_type_name"]
            where = f"{params_file.name}: {spec.name}.{name}={value!r}"
            assert _matches(value, kind), f"{where} is not {kind}"


@pytest.mark.parametrize("params_file", PARAM_FILES, ids=lambda p: p.stem)
def test_param_file_entries_are_declared(params_file: Path) -> None:
    params = load_params(params_file)
    for spec in SPECS:
        declared = set(notebook_parameters(spec.path))
        given = set(params["notebooks"].get(spec.name, {}) or {})
        assert given <= declared, f"{spec.name} does not declare {sorted(given - declared)}"


def test_gpu_run_targets_the_gpu_at_gpu_sizes() -> None:
    params = load_params(REPO / "notebooks" / "params" / "gpu.yaml")
    assert params["run"] == "gpu"
    assert params["common"]["backend"] == "cupy" and params["common"]["device"] == "cuda"
    assert max(params["notebooks"]["05_frontier_and_backends"]["timing_sizes"]) >= 5000
    default = load_params(REPO / "notebooks" / "params" / "default.yaml")
    for name in ("10_lstm_sharpe", "11_rl_eiie", "12_rl_rnn_colombia"):
        declared = notebook_parameters(next(s.path for s in SPECS if s.name == name))
        assert "device" in declared, f"{name} has no device parameter: the GPU run cannot reach it"
        assert len(params["notebooks"][name]["seeds"]) > len(
            default["notebooks"].get(name, {}).get("seeds", declared["seeds"]["default"].split(","))
        )
