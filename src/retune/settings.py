"""Settings read once: where retune keeps its state, and the platform defaults.

Resources nobody set on any layer resolve to these defaults (like a Flyte platform's
``task_resource_defaults``); see docs/decisions/0002-platform-resource-defaults.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DEFAULT_REQUESTS: Final = {"cpu": 0.25, "mem": 256 * 2**20, "gpu": 0, "storage": 0}
DEFAULT_LIMITS: Final = {"cpu": 0.25, "mem": 1 * 2**30, "gpu": 0, "storage": 0}


def retune_home() -> Path:
    """``RETUNE_HOME``, default ``~/.retune``."""
    return Path(os.environ.get("RETUNE_HOME", Path.home() / ".retune"))
