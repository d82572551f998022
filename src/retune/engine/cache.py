"""The cache key: task identity + interface + ``cache_version`` + a canonical hash of the inputs.

Resource, image and environment overrides do not change the key: they change *where* and
*how* a task runs, not what it computes (docs/decisions/0007-cache-key.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from retune.model.spec import TaskSpec


def cache_key(task: TaskSpec, cache_version: str, inputs: Mapping[str, Any], *, mapped: bool = False) -> str:
    interface = (
        [(p.name, p.type) for p in task.interface.inputs],
        [(p.name, p.type) for p in task.interface.outputs],
    )
    payload = {
        "task": task.name,
        "interface": interface,
        "version": cache_version,
        "map": mapped,
        "inputs": inputs,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
