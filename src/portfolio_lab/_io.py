"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an interrupted download never leaves a half-written file under the final
name, and an existing file is replaced only once the new one is complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_json", "read_json", "write_parquet", "write_text"]


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _write(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Atomically write a UTF-8 text file."""
    return _write(target, lambda p: p.write_text(text, encoding="utf-8"))


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NumPy scalars and arrays allowed)."""
    return write_text(target, json.dumps(obj, indent=2, default=_default, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(target: str | os.PathLike[str], frame: Any) -> Path:
    """Atomically write a pandas DataFrame to parquet (zstd compressed)."""
    return _write(target, lambda p: frame.to_parquet(p, compression="zstd"))
