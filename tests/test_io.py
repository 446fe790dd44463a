from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portfolio_lab import artifacts
from portfolio_lab._io import atomic_path, read_json, write_json, write_text


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"], "temporary file left behind"


def test_json_round_trip_with_numpy(tmp_path: Path) -> None:
    obj = {"a": np.float64(1.5), "b": np.arange(3), "c": [np.int64(2)]}
    write_json(tmp_path / "x.json", obj)
    assert read_json(tmp_path / "x.json") == {"a": 1.5, "b": [0, 1, 2], "c": [2]}


def test_artifacts_round_trip(tmp_path: Path) -> None:
    folder = artifacts.run_dir("r", "03_lagrange", tmp_path)
    assert folder == tmp_path / "r" / "03_lagrange" and folder.is_dir()
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.date_range("2020", periods=2, name="date"))
    artifacts.save_frame(folder, "f", frame)
    pd.testing.assert_frame_equal(artifacts.load_frame(folder, "f"), frame, check_freq=False)
    artifacts.save_array(folder, "w", np.array([0.25, 0.75]))
    np.testing.assert_array_equal(artifacts.load_array(folder, "w"), [0.25, 0.75])
    artifacts.save_json(folder, "m", {"k": 1})
    assert artifacts.load_json(folder, "m") == {"k": 1}


def test_save_figure(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = artifacts.save_figure(fig, tmp_path, "line")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
