"""Call sites in the flow modules, found by the ``# <marker>`` comment ending their line."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType


def line_of(module: ModuleType, marker: str) -> int:
    assert module.__file__ is not None
    lines = Path(module.__file__).read_text(encoding="utf-8").splitlines()
    found = [number for number, text in enumerate(lines, start=1) if text.endswith(f"# {marker}")]
    assert len(found) == 1, f"marker {marker!r} is on {len(found)} lines of {module.__file__}"
    return found[0]


def site(module: ModuleType, marker: str) -> str:
    """``file:line`` as retune shows call sites: relative to the working directory when under it."""
    assert module.__file__ is not None
    relative = os.path.relpath(module.__file__)
    path = module.__file__ if relative.startswith("..") else relative
    return f"{path}:{line_of(module, marker)}"
