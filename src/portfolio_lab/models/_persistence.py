"""Save and load models without pickle: safetensors weights plus a JSON description.

A model folder holds ``weights.safetensors`` (every tensor of the network and the fitted
preprocessing state) and ``model.json`` (class name, format version, package version,
hyperparameters, asset names, training dates and anything else the model needs to rebuild
itself). Both files are written atomically; a folder is complete only once
``model.json`` exists, which is written last.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, write_json
from ..exceptions import ModelFileError

__all__ = ["FORMAT_VERSION", "save_folder", "load_folder", "module_state", "load_device"]

FORMAT_VERSION = 1
_WEIGHTS = "weights.safetensors"
_META = "model.json"


def save_folder(
    path: str | os.PathLike[str], tensors: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write ``tensors`` (name -> torch tensor or numpy array) and ``meta`` to ``path/``.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    import torch
    from safetensors.torch import save_file

    from .. import __version__

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    flat = {
        k: (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v)
        .detach()
        .cpu()
        .contiguous()
        for k, v in tensors.items()
    }
    with atomic_path(folder / _WEIGHTS) as tmp:
        save_file(flat, str(tmp))
    record = {"format_version": FORMAT_VERSION, "package_version": __version__, **meta}
    write_json(folder / _META, record)
    return folder


def load_folder(path: str | os.PathLike[str], expected_class: str) -> tuple[dict[str, Any], dict]:
    """Read a folder written by :func:`save_folder` for a model of class ``expected_class``.

    Returns
    -------
    tuple
        ``(tensors, meta)``: tensors as CPU torch tensors, meta the JSON record.

    Raises
    ------
    ModelFileError
        Missing folder or files, unreadable JSON or weights, another class, or another
        format version.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    if not folder.is_dir():
        raise ModelFileError(f"no saved model at {folder} (not a folder)")
    meta_path, weights_path = folder / _META, folder / _WEIGHTS
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise ModelFileError(f"{folder} is not a complete saved model: {p.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{meta_path} is not readable JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("class") != expected_class:
        got = meta.get("class") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(
            f"{folder} holds a {got!r} model, not {expected_class!r}; load it with that class"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} has format version {meta.get('format_version')!r}; this package reads "
            f"version {FORMAT_VERSION}"
        )
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{weights_path} is not a readable safetensors file: {err}") from err
    return tensors, meta


def module_state(tensors: dict[str, Any]) -> dict[str, Any]:
    """Pick the network's state dict out of saved tensors (names prefixed ``module.``)."""
    return {k[len("module.") :]: v for k, v in tensors.items() if k.startswith("module.")}


def load_device(saved: str, device: str | None) -> str:
    """Choose where a loaded network goes: ``device``, else the saved one.

    A saved GPU name becomes the CPU when no GPU is visible.
    """
    if device is not None:
        return device
    import torch

    saved = str(saved)
    return "cpu" if saved.startswith("cuda") and not torch.cuda.is_available() else saved
