"""Where a run's artifacts live and how notebooks read and write them.

A run named ``RUN`` writes everything under ``results/RUN/``: one folder per notebook
(``results/RUN/03_lagrange/``) with JSON, parquet, ``.npy`` and PNG files, and the
executed notebooks under ``results/RUN/notebooks/``. Review notebooks read the same
folders back. Every write is atomic (temporary file, then rename).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._io import atomic_path, read_json, write_json, write_parquet

__all__ = [
    "run_dir",
    "save_json",
    "load_json",
    "save_frame",
    "load_frame",
    "save_array",
    "load_array",
    "save_figure",
]


def run_dir(run: str, notebook: str, results_dir: str | os.PathLike[str] = "results") -> Path:
    """Return (and create) the artifact folder of ``notebook`` in run ``run``.

    Parameters
    ----------
    run : str
        Run name, e.g. ``"default"`` or ``"ci"``.
    notebook : str
        Programming notebook stem, e.g. ``"03_lagrange"``.
    results_dir : path, default "results"
        Root folder of all runs (relative paths resolve against the working directory,
        which papermill sets to the repository root).

    Returns
    -------
    pathlib.Path
    """
    path = Path(results_dir) / run / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_json(folder: str | os.PathLike[str], name: str, obj: Any) -> Path:
    """Write ``obj`` to ``folder/name.json``."""
    return write_json(Path(folder) / f"{name}.json", obj)


def load_json(folder: str | os.PathLike[str], name: str) -> Any:
    """Read ``folder/name.json``."""
    return read_json(Path(folder) / f"{name}.json")


def save_frame(folder: str | os.PathLike[str], name: str, frame: pd.DataFrame) -> Path:
    """Write a DataFrame (or Series) to ``folder/name.parquet``."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    return write_parquet(Path(folder) / f"{name}.parquet", frame)


def load_frame(folder: str | os.PathLike[str], name: str) -> pd.DataFrame:
    """Read ``folder/name.parquet``."""
    return pd.read_parquet(Path(folder) / f"{name}.parquet")


def save_array(folder: str | os.PathLike[str], name: str, array: Any) -> Path:
    """Write an array (any backend; copied to host) to ``folder/name.npy``."""
    from ._backend import to_numpy

    target = Path(folder) / f"{name}.npy"
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, to_numpy(array))
    return target


def load_array(folder: str | os.PathLike[str], name: str) -> np.ndarray:
    """Read ``folder/name.npy``."""
    return np.load(Path(folder) / f"{name}.npy")


def save_figure(fig: Any, folder: str | os.PathLike[str], name: str, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure to ``folder/name.png`` (the figure stays open for display)."""
    target = Path(folder) / f"{name}.png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return target
