"""Merging one layer onto a draft config, recording provenance in the same step.

There is one rule per kind of field, named once:

- ``replace``: the layer's value replaces the current one (``retries``, ``cache``, ...);
- ``per_key``: keys are set one by one, others kept (``environment``, each resource name
  of ``requests`` and ``limits``);
- ``deep``: nested maps merge recursively and other values replace (``task_config``); an empty
  map merges nothing, and a map meeting a non-map at the same path is a ``MergeConflict``
  (so deep merging stays associative: a later layer cannot half-replace a subtree).

Each rule writes the value and its ``Source`` together, so value and provenance cannot drift.
Rules never mutate a nested map in place, which lets drafts share them after ``copy()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from retune.model import Layer, ResourceSpec, Source, TaskNodeOverrides

Rule = Callable[["Draft", str, Any, Source], None]


class MergeConflict(ValueError):
    """Two layers disagree on the shape of a ``task_config`` path: a map in one, a value in the other."""

    def __init__(self, path: str, before: Source | None, after: Source) -> None:
        self.path = path
        self.before = before
        self.after = after
        super().__init__(f"{path} is a map in one layer and a single value in another")


class Draft:
    """A config being resolved: values by field, provenance by field path."""

    __slots__ = ("provenance", "values")

    def __init__(self, values: dict[str, Any], provenance: dict[str, Source]) -> None:
        self.values = values
        self.provenance = provenance

    @classmethod
    def empty(cls) -> Draft:
        values: dict[str, Any] = {"requests": {}, "limits": {}, "environment": {}, "task_config": {}}
        return cls(values, {})

    def copy(self) -> Draft:
        return Draft(dict(self.values), dict(self.provenance))


def replace(draft: Draft, field: str, value: Any, source: Source) -> None:
    draft.values[field] = value
    draft.provenance[field] = source


def per_key(draft: Draft, field: str, mapping: Mapping[str, Any], source: Source) -> None:
    if not mapping:
        return
    draft.values[field] = {**draft.values[field], **mapping}
    for key in mapping:
        draft.provenance[f"{field}.{key}"] = source


def deep(draft: Draft, field: str, mapping: Mapping[str, Any], source: Source) -> None:
    if mapping:
        draft.values[field] = _deep_merge(draft.values[field], mapping, field, draft.provenance, source)


def per_resource(draft: Draft, field: str, spec: ResourceSpec, source: Source) -> None:
    """``resources`` is ``per_key`` on each of requests and limits."""
    for kind in ResourceSpec.KINDS:
        per_key(draft, kind, getattr(spec, kind).named(), source)


RULES: Final[dict[str, Rule]] = {
    "resources": per_resource,
    "cache": replace,
    "cache_serialize": replace,
    "cache_version": replace,
    "retries": replace,
    "interruptible": replace,
    "container_image": replace,
    "environment": per_key,
    "task_config": deep,
}


def apply(draft: Draft, overrides: TaskNodeOverrides, source: Source) -> None:
    """Merge one layer's overrides onto ``draft``; unset fields change nothing."""
    for field, value in overrides.given:
        RULES[field](draft, field, value, source)


def combine(*layers: TaskNodeOverrides) -> TaskNodeOverrides:
    """Several overrides as one, later wins, by the same rules (e.g. a hook's defaults)."""
    draft = Draft.empty()
    anonymous = Source(Layer.WORKFLOW, "")
    for overrides in layers:
        apply(draft, overrides, anonymous)
    return to_overrides(draft)


def combine_maps(*maps: Mapping[str, TaskNodeOverrides]) -> dict[str, TaskNodeOverrides]:
    """Several ``hook -> overrides`` maps as one, later wins field by field (``combine`` per
    hook): ``--overrides FILE`` then ``-o``, or a parent's overrides then a relaunch's."""
    merged: dict[str, TaskNodeOverrides] = {}
    for overrides in maps:
        for hook, fields in overrides.items():
            merged[hook] = combine(merged[hook], fields) if hook in merged else fields
    return merged


def to_overrides(draft: Draft) -> TaskNodeOverrides:
    """The fields a draft has values for, as a ``TaskNodeOverrides``."""
    named: dict[str, Any] = {}
    resources = {kind: draft.values[kind] for kind in ResourceSpec.KINDS if draft.values[kind]}
    if resources:
        named["resources"] = resources
    for field in RULES:
        if field != "resources" and field in draft.provenance:
            named[field] = draft.values[field]
    for field in ("environment", "task_config"):
        if draft.values[field]:
            named[field] = draft.values[field]
    return TaskNodeOverrides(**named)


def _deep_merge(
    base: Mapping[str, Any],
    top: Mapping[str, Any],
    prefix: str,
    provenance: dict[str, Source],
    source: Source,
) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        path = f"{prefix}.{key}"
        if key not in out:
            out[key] = _record_leaves(value, path, provenance, source)
            continue
        old = out[key]
        if isinstance(value, Mapping) != isinstance(old, Mapping):
            raise MergeConflict(path, _source_under(provenance, path), source)
        if isinstance(value, Mapping):
            out[key] = _deep_merge(old, value, path, provenance, source)
        else:
            provenance[path] = source
            out[key] = value
    return out


def _record_leaves(value: Any, path: str, provenance: dict[str, Source], source: Source) -> Any:
    if isinstance(value, Mapping) and value:
        return {k: _record_leaves(v, f"{path}.{k}", provenance, source) for k, v in value.items()}
    provenance[path] = source
    return dict(value) if isinstance(value, Mapping) else value


def _source_under(provenance: Mapping[str, Source], path: str) -> Source | None:
    nested = path + "."
    return next((s for k, s in provenance.items() if k == path or k.startswith(nested)), None)
