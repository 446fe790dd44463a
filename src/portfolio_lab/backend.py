"""Public array-backend helpers for notebooks and user code.

The package's solvers take their namespace from their inputs; notebooks need only to move
arrays onto a backend and back, and to ask whether a GPU is usable. These names are the
public face of :mod:`portfolio_lab._backend`.
"""

from __future__ import annotations

from ._backend import BACKENDS, get_backend, gpu_available, to_numpy

__all__ = ["BACKENDS", "get_backend", "gpu_available", "to_numpy"]
