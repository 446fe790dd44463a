"""Real-time prediction: load a saved model, validate prices, return the next weights.

Used by ``portfolio-lab predict``; every failure a user can cause (no model, other
tickers than the model's, too little history, unreadable prices) is a typed
:class:`~portfolio_lab.exceptions.InputError` / ``DataError`` the command turns into a
message and exit status 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ColumnMismatchError, InputError, ModelFileError

__all__ = ["MODEL_CLASSES", "load_model", "read_prices_file", "read_previous", "predict_next"]


def _classes() -> dict[str, type]:
    from .eiie import EIIE
    from .lstm_sharpe import LSTMSharpe
    from .sb3 import SB3Allocator

    return {"LSTMSharpe": LSTMSharpe, "EIIE": EIIE, "SB3Allocator": SB3Allocator}


MODEL_CLASSES = ("LSTMSharpe", "EIIE", "SB3Allocator")


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load any saved model of the package from its folder (the class is in model.json).

    Raises
    ------
    ModelFileError
        No folder, no ``model.json``, or a class this package does not know.
    """
    folder = Path(path)
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise ModelFileError(f"no saved model at {folder} (model.json is missing)")
    try:
        name = json.loads(meta_path.read_text(encoding="utf-8")).get("class")
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise ModelFileError(f"{meta_path} is not readable JSON: {err}") from err
    classes = _classes()
    if name not in classes:
        raise ModelFileError(f"{folder} holds a {name!r} model; known: {sorted(classes)}")
    return classes[name].load(folder)


def read_prices_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read prices from CSV (first column the dates) or parquet (a dated index).

    Raises
    ------
    InputError
        Missing or unreadable file, or dates that do not parse.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"no prices file at {file}")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
        else:
            frame = pd.read_csv(file, index_col=0)
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index), name="date")
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot read prices from {file}: {err}") from err
    return frame.sort_index()


def read_previous(spec: str | os.PathLike[str], model: Any) -> np.ndarray:
    """Read the weights a model holds now: ``"cash"`` or a JSON / CSV file.

    Parameters
    ----------
    spec : str or path-like
        ``"cash"`` (everything in cash), a JSON object ``{"cash": w0, "AAPL": w1, ...}``
        (or a record written by ``portfolio-lab predict --out``, whose ``"weights"`` it
        reads), or a CSV of two columns (name, weight) or of one row with the names as
        columns. Names left out hold nothing.
    model : BaseAllocator
        The loaded model (its ``assets_`` and :attr:`outputs_cash` fix the order).

    Returns
    -------
    numpy.ndarray, shape (n + 1,) with cash, else (n,)
        Non-negative weights in the model's order, summing to one.

    Raises
    ------
    InputError
        Unreadable file, negative or non-finite weights, weights that do not sum to one
        (within 1e-4).
    ColumnMismatchError
        Names the model does not hold.
    """
    names = (["cash"] if model.outputs_cash else []) + [str(a) for a in model.assets_]
    if str(spec) == "cash":
        if not model.outputs_cash:
            raise InputError("--previous cash needs a model that holds cash")
        out = np.zeros(len(names))
        out[0] = 1.0
        return out
    file = Path(spec)
    if not file.is_file():
        raise InputError(f"no weights file at {file} (pass a JSON or CSV file, or 'cash')")
    try:
        if file.suffix.lower() == ".json":
            raw = json.loads(file.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and isinstance(raw.get("weights"), dict):
                raw = raw["weights"]
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object name -> weight")
            given = {str(k): float(v) for k, v in raw.items()}
        else:
            frame = pd.read_csv(file)
            if frame.shape[0] == 1 and frame.shape[1] > 2:
                given = {str(k): float(v) for k, v in frame.iloc[0].items()}
            elif frame.shape[1] == 2:
                given = {
                    str(k): float(v)
                    for k, v in zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True)
                }
            else:
                raise ValueError("expected two columns (name, weight) or one row of weights")
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot read the current weights from {file}: {err}") from err
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ColumnMismatchError(
            f"the weights file names {unknown}, which the model does not hold; it holds {names}"
        )
    out = np.array([given.get(k, 0.0) for k in names])
    if not np.isfinite(out).all() or (out < 0).any():
        raise InputError(f"current weights must be finite and non-negative, got {given}")
    if abs(out.sum() - 1.0) > 1e-4:
        raise InputError(
            f"current weights must sum to one (cash included), they sum to {out.sum():.6f}"
        )
    return out / out.sum()


def predict_next(
    model: Any,
    prices: pd.DataFrame,
    *,
    asof: Any = None,
    previous: Any = None,
) -> pd.Series:
    """Return the model's weights for the period after ``asof`` (default: the last date).

    Parameters
    ----------
    model : BaseAllocator
        A fitted (or loaded) model.
    prices : pandas.DataFrame
        Dates x assets; columns beyond the model's assets are ignored, missing ones raise.
    asof : date-like, optional
        Use prices up to and including this date.
    previous : array-like, optional
        Current weights, for models that read them.

    Returns
    -------
    pandas.Series
    """
    assets = list(model.assets_)
    missing = [a for a in assets if a not in prices.columns]
    if missing:
        raise ColumnMismatchError(
            f"the prices lack the model's assets {missing}; the model was fitted on {assets}"
        )
    frame = prices[assets]
    if asof is not None:
        stamp = pd.Timestamp(asof)
        frame = frame.loc[frame.index <= stamp]
        if frame.empty:
            raise InputError(f"no prices on or before {stamp.date()}")
    frame = frame.iloc[-model.predict_rows :]
    if getattr(model, "uses_previous_weights", False):
        return model.predict(frame, previous=previous)
    return model.predict(frame)
