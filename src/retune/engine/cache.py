"""The cache key, and why a node missed it (docs/decisions/0018-cache-key.md).

The key is the SHA-256 of the task's name and of its *parts*, one per thing that changes what
the task computes, each named as ``retune explain`` names it:

- ``interface`` (a hash of the input and output names and types) and ``map_task``;
- ``cache_version`` (effective: after every layer) and ``inputs`` (a hash);
- ``container_image`` (another interpreter, other libraries);
- ``task_config.F`` for each field ``F`` the task type marks as changing results (sql:
  ``cluster``); never the others (``threads``);
- ``environment.K`` for each key ``K`` of the task's ``cache_env``: a hash of the value (it may
  be a secret), ``None`` when unset.

Resources, retries, interruptible and timeout never enter it: they change how a task runs,
not what it computes. The parts are stored with each entry, so that a miss can name the parts
that differ from the task's latest entry (``explain_miss``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from retune.model import EffectiveConfig
from retune.model.spec import TaskSpec
from retune.plugins.registry import get_task_type

Parts = Mapping[str, Any]

_HASHED: Final = frozenset({"interface", "inputs"})
"""Parts stored as a hash, whose values a reason does not show (nor those of ``environment.*``)."""


@dataclass(frozen=True, slots=True)
class CacheKey:
    key: str
    task: str
    parts: Parts


def cache_key(
    task: TaskSpec, config: EffectiveConfig, inputs: Mapping[str, Any], *, mapped: bool = False
) -> CacheKey:
    """The key of a node running ``task`` with ``config`` (its effective config) on ``inputs``."""
    parts: dict[str, Any] = {
        "interface": _interface_digest(task),
        "map_task": mapped,
        "cache_version": config.cache_version,
        "inputs": _digest(inputs),
        "container_image": config.container_image,
    }
    for name in sorted(get_task_type(task.task_type).result_fields):
        parts[f"task_config.{name}"] = config.task_config.get(name)
    for key in task.cache_env:
        value = config.environment.get(key)
        parts[f"environment.{key}"] = None if value is None else _digest(value)
    return CacheKey(_digest({"task": task.name, "parts": parts}, full=True), task.name, parts)


_INTERFACES: dict[int, tuple[TaskSpec, str]] = {}


def _interface_digest(task: TaskSpec) -> str:
    """The digest of a task's interface, once per spec object (specs are immutable): one digest
    less per node."""
    found = _INTERFACES.get(id(task))
    if found is None or found[0] is not task:
        if len(_INTERFACES) > 4096:
            _INTERFACES.clear()
        interface = (
            [(p.name, p.type) for p in task.interface.inputs],
            [(p.name, p.type) for p in task.interface.outputs],
        )
        found = _INTERFACES[id(task)] = (task, _digest(interface))
    return found[1]


def explain_miss(parts: Parts, latest: Parts | None) -> str:
    """Why a node missed: the parts that differ from those of the task's latest entry."""
    if latest is None:
        return "cache miss: first run of this task (no earlier cache entry)"
    changed = [
        _change(name, latest.get(name), parts.get(name))
        for name in sorted(set(parts) | set(latest))
        if parts.get(name) != latest.get(name)
    ]
    if not changed:  # same parts, other key: an entry written by an older retune
        return "cache miss: no entry for this key"
    return "cache miss: " + ", ".join(changed)


def _change(name: str, before: Any, after: Any) -> str:
    if name in _HASHED or name.startswith("environment."):
        return f"{name} changed"
    return f"{name} changed ({before!r} -> {after!r})"


_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def _digest(value: Any, *, full: bool = False) -> str:
    canonical = _CANONICAL(value)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return digest if full else "sha256:" + digest[:32]
