"""portfolio-lab sweep: grid files become parameter sets, a ConfigMap and an Indexed Job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from portfolio_lab.cli import main
from portfolio_lab.exceptions import InputError
from portfolio_lab.sweep import job_command, load_grid, parameter_sets, set_params

REPO = Path(__file__).resolve().parents[1]


def _grid(tmp_path: Path, **content) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def test_issue_example_gives_six_sets_last_name_fastest(tmp_path) -> None:
    grid = _grid(
        tmp_path, notebook="10_lstm_sharpe", grid={"window": [30, 50], "seeds": [[0], [1], [2]]}
    )
    sweep = load_grid(grid)
    sets = parameter_sets(sweep)
    assert sweep.size == len(sets) == 6
    assert sets[0] == {"window": 30, "seeds": [0]} and sets[1] == {"window": 30, "seeds": [1]}
    assert sets[5] == {"window": 50, "seeds": [2]}
    assert sweep.run == "grid"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"notebook": "99_nope", "grid": {"x": [1]}}, "unknown notebook"),
        ({"notebook": "03_lagrange_review", "grid": {"tol": [1.0]}}, "unknown notebook"),
        ({"notebook": "03_lagrange", "grid": {"random_state": [0, 1]}}, "declares no parameter"),
        ({"notebook": "03_lagrange", "grid": {"target_return": []}}, "non-empty list"),
        ({"notebook": "03_lagrange", "grid": {"target_return": 0.1}}, "non-empty list"),
        ({"notebook": "03_lagrange", "grid": {"run": ["a"]}}, "set by the sweep"),
        ({"notebook": "03_lagrange", "grid": {}}, "must map parameter names"),
        ({"notebook": "03_lagrange", "grid": {"target_return": [0.1]}, "gird": 1}, "unknown keys"),
        (
            {"notebook": "03_lagrange", "grid": {"target_return": [0.1]}, "run": "Bad_Name!"},
            "run name",
        ),
        (
            {"notebook": "03_lagrange", "grid": {"target_return": [0.1]}, "job": {"gpu": 1}},
            "job settings",
        ),
        (
            {"notebook": "03_lagrange", "grid": {"target_return": [0.1]}, "review": {"x": 1}},
            "declares no",
        ),
    ],
)
def test_bad_grids_are_errors_that_name_the_problem(tmp_path, content, message) -> None:
    with pytest.raises(InputError, match=message):
        load_grid(_grid(tmp_path, **content))


def test_missing_grid_file_is_an_error(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_grid(tmp_path / "none.yaml")


def test_set_params_keep_the_base_file_and_override_the_grid_names(tmp_path) -> None:
    grid = _grid(
        tmp_path,
        notebook="03_lagrange",
        params="notebooks/params/ci.yaml",
        run="lagrange",
        grid={"target_return": [0.12, 0.15]},
        review={"tol": 1e-5},
    )
    sweep = load_grid(grid)
    params = set_params(sweep, 1, parameter_sets(sweep)[1])
    assert params["run"] == "lagrange-1" and params["common"]["backend"] == "numpy"
    assert params["notebooks"]["03_lagrange"] == {
        "start": "2021-01-01",
        "end": "2022-12-28",
        "target_return": 0.15,
    }
    assert params["notebooks"]["03_lagrange_review"] == {"tol": 1e-5}
    assert set(params["notebooks"]) == {"03_lagrange", "03_lagrange_review"}


def test_cli_out_writes_sets_configmap_and_job(tmp_path, capsys) -> None:
    grid = _grid(tmp_path, notebook="03_lagrange", grid={"target_return": [0.1, 0.2, 0.3]})
    out = tmp_path / "k8s"
    assert main(["sweep", "--grid", str(grid), "--out", str(out)]) == 0
    assert "3 parameter sets" in capsys.readouterr().out
    job = yaml.safe_load((out / "job.yaml").read_text())
    assert job["spec"]["completions"] == 3
    assert sorted(p.name for p in (out / "params").iterdir()) == [f"set-{k}.yaml" for k in range(3)]


def test_cli_reports_a_bad_grid_with_status_1(tmp_path, capsys) -> None:
    grid = _grid(tmp_path, notebook="03_lagrange", grid={"nope": [1]})
    assert main(["sweep", "--grid", str(grid), "--local"]) == 1
    assert "declares no parameter 'nope'" in capsys.readouterr().err


@pytest.mark.notebooks
def test_local_sweep_and_the_job_command_run_the_same_sets(tmp_path) -> None:
    grid = _grid(
        tmp_path,
        notebook="03_lagrange",
        params="notebooks/params/ci.yaml",
        run="lagrange",
        grid={"target_return": [0.12, 0.18]},
    )
    results = tmp_path / "results"
    assert main(["sweep", "--grid", str(grid), "--local", "--results-dir", str(results)]) == 0
    w = [np.load(results / f"lagrange-{k}" / "03_lagrange" / "weights.npy") for k in range(2)]
    assert not np.allclose(w[0], w[1]), "two target returns gave the same portfolio"
    for k in range(2):
        assert (
            results / f"lagrange-{k}" / "notebooks" / "review" / "03_lagrange_review.ipynb"
        ).is_file()
    # what pod 1 of the Indexed Job runs, on the files sweep --out wrote
    out = tmp_path / "k8s"
    assert main(["sweep", "--grid", str(grid), "--out", str(out)]) == 0
    command = job_command(load_grid(grid))
    args = [
        a.replace("$(JOB_COMPLETION_INDEX)", "1")
        .replace("/params", str(out / "params"))
        .replace("/app/results", str(tmp_path / "pod"))
        for a in command[1:]
    ]
    assert main(args) == 0
    pod = np.load(tmp_path / "pod" / "lagrange-1" / "03_lagrange" / "weights.npy")
    np.testing.assert_array_equal(pod, w[1])
