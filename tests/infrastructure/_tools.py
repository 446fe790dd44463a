"""Shared helpers: find the linters the dev extra installs, parse the artifacts' commands."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infrastructure"


def tool(name: str) -> str:
    """Return the path of a linter installed beside this Python (the dev extra), or skip."""
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]'")
    return found
