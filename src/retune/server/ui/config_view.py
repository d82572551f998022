"""A node's effective config as rows a person reads: field, value, where it came from.

Shared by the launch form's preview and the execution page's node panel, so both say the same
thing the same way: ``cpu  2 (limit 4)  launch plan nightly``; a value set by the execution
itself is marked as such (``layer == "execution"``) so the page can highlight it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retune.model import RESOURCE_NAMES, EffectiveConfig, Source
from retune.model.resources import format_quantity
from retune.server.ui.form import source_text


@dataclass(frozen=True, slots=True)
class ConfigRow:
    field: str
    value: str
    source: str
    layer: str  # task | node | workflow | launch_plan | execution | default


def config_rows(config: EffectiveConfig, provenance: Mapping[str, Source]) -> list[ConfigRow]:
    """One row per field of ``config`` (resources as request, and limit where it differs)."""
    rows: list[ConfigRow] = []
    for name in RESOURCE_NAMES:
        request, limit = getattr(config.requests, name), getattr(config.limits, name)
        shown = format_quantity(name, request)
        if limit != request:
            shown += f" (limit {format_quantity(name, limit)})"
        source = provenance.get(f"requests.{name}") or provenance.get(f"limits.{name}")
        rows.append(_row(name, shown, source))
    plain: tuple[tuple[str, str], ...] = (
        ("retries", "retries"),
        ("cache", "cache"),
        ("cache_version", "cache_version"),
        ("cache_serialize", "cache_serialize"),
        ("interruptible", "interruptible"),
        ("image", "container_image"),
        ("timeout", "timeout"),
    )
    for label, attr in plain:
        value = getattr(config, attr)
        if attr == "timeout" and value is None:
            continue
        shown = "the executor's default" if attr == "container_image" and value is None else _text(value)
        rows.append(_row(label, shown, provenance.get(attr)))
    for key in sorted(config.environment):
        rows.append(_row(f"env.{key}", config.environment[key], provenance.get(f"environment.{key}")))
    for path, value in _leaves("task_config", config.task_config):
        rows.append(_row(path, _text(value), provenance.get(path)))
    return rows


def _row(field: str, value: str, source: Source | None) -> ConfigRow:
    layer = "default" if source is None or source.name == "retune defaults" else source.layer.value
    return ConfigRow(field, value, source_text(source), layer)


def _leaves(prefix: str, value: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key in sorted(value):
        if key == "task_type":
            continue
        inner = value[key]
        path = f"{prefix}.{key}"
        if isinstance(inner, Mapping) and inner:
            found.extend(_leaves(path, inner))
        else:
            found.append((path, inner))
    return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)
