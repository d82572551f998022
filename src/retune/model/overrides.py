"""``TaskNodeOverrides``: the RFC's per-node override message, every field optional.

A field left at ``UNSET`` says nothing, so a layer changes only what it names; ``0``,
``False`` and ``""`` are values like any other. Values are checked and normalised when
the object is built (quantities to cores and bytes, ``cache_version`` to text), so a
``TaskNodeOverrides`` that exists is a valid one; the hook-level checks (does the hook
exist, is ``cache_serialize`` honourable once layered) belong to ``retune.overrides``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from retune.model.quantity import QuantityError
from retune.model.resources import RESOURCE_NAMES, Resources, ResourceSpec, normalise
from retune.model.unset import UNSET, Unset

FIELD_NAMES: Final = (
    "resources",
    "cache",
    "cache_serialize",
    "cache_version",
    "retries",
    "interruptible",
    "container_image",
    "environment",
    "task_config",
)
MAX_RETRIES: Final = 100
RESERVED_ENV_PREFIX: Final = "RETUNE_"
ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE: Final = re.compile(r"^[^\s]{1,255}$")
_SHORTHANDS: Final = {
    "cpu": "resources",
    "mem": "resources",
    "gpu": "resources",
    "storage": "resources",
    "requests": "resources",
    "limits": "resources",
    "image": "container_image",
    "env": "environment",
}


class FieldError(ValueError):
    """One override field is wrong: ``field`` is its path (``resources.requests.mem``)."""

    def __init__(self, field: str | None, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}" if field else f"{problem}. {fix}")


@dataclass(frozen=True, slots=True)
class TaskNodeOverrides:
    """What one layer says about a task node; ``UNSET`` fields say nothing.

    ``TaskNodeOverrides(retries=0, environment={"LOG": "debug"})``. ``resources`` takes a
    ``ResourceSpec`` or ``{"requests": {...}, "limits": {...}}``, each naming exactly what it sets.
    """

    resources: ResourceSpec | Unset = UNSET
    cache: bool | Unset = UNSET
    cache_serialize: bool | Unset = UNSET
    cache_version: str | Unset = UNSET
    retries: int | Unset = UNSET
    interruptible: bool | Unset = UNSET
    container_image: str | Unset = UNSET
    environment: Mapping[str, str] | Unset = UNSET
    task_config: Mapping[str, Any] | Unset = UNSET
    given: tuple[tuple[str, Any], ...] = field(default=(), init=False, repr=False, compare=False)
    """``(field, value)`` for each field this override sets, in canonical order: worked out
    once, when the object is built, for resolution, which merges each layer many times."""

    def __post_init__(self) -> None:
        given = []
        for name in FIELD_NAMES:
            value = getattr(self, name)
            if value is not UNSET:
                value = _NORMALISE[name](value)
                object.__setattr__(self, name, value)
                given.append((name, value))
        object.__setattr__(self, "given", tuple(given))

    def set_fields(self) -> list[str]:
        """Names of the fields this override sets, in canonical order."""
        return [name for name, _ in self.given]

    def __bool__(self) -> bool:
        return bool(self.given)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; unset fields are absent."""
        out: dict[str, Any] = {}
        for name, value in self.given:
            if isinstance(value, ResourceSpec):
                out[name] = value.to_dict()
            elif isinstance(value, Mapping):
                out[name] = _thaw(value)
            else:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskNodeOverrides:
        """Read the JSON/YAML form; unknown fields are refused with the nearest name."""
        if isinstance(data, TaskNodeOverrides):
            return data
        if not isinstance(data, Mapping):
            raise FieldError(
                None,
                f"{data!r} is not a map of fields",
                f"Give a map such as {{retries: 3}}; fields are {', '.join(FIELD_NAMES)}.",
            )
        for key in data:
            if key not in FIELD_NAMES:
                raise FieldError(str(key), "is not an override field", _unknown_field_fix(str(key)))
        if data.get("cache_serialize") is True and data.get("cache") is False:
            # Caught here for early, precise feedback; resolution checks the layered result too.
            raise FieldError(
                "cache_serialize",
                "is true while cache is false in the same override",
                "Serialising needs caching: set cache=true too, or drop cache_serialize.",
            )
        return cls(**data)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.set_fields())
        return f"TaskNodeOverrides({shown})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.from_dict,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.to_dict()),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return overrides_json_schema()


TaskNodeConfigOverride = TaskNodeOverrides
"""The RFC uses both names for the same message."""


def runtime_override_config(
    *,
    cpu: str | float | Unset = UNSET,
    mem: str | int | Unset = UNSET,
    gpu: str | int | Unset = UNSET,
    storage: str | int | Unset = UNSET,
    retries: int | Unset = UNSET,
    cache: bool | Unset = UNSET,
    cache_version: str | Unset = UNSET,
    cache_serialize: bool | Unset = UNSET,
    interruptible: bool | Unset = UNSET,
    container_image: str | Unset = UNSET,
    environment: Mapping[str, str] | Unset = UNSET,
    task_config: Mapping[str, Any] | Unset = UNSET,
) -> TaskNodeOverrides:
    """The shorthand: ``cpu/mem/gpu/storage`` set request *and* limit ("I want 1Gi")."""
    named = {"cpu": cpu, "mem": mem, "gpu": gpu, "storage": storage}
    wanted = {name: value for name, value in named.items() if value is not UNSET}
    resources: ResourceSpec | Unset = UNSET
    if wanted:
        both = Resources.of_normalised(_checked_resources("resources", wanted))
        resources = ResourceSpec(requests=both, limits=both)
    return TaskNodeOverrides(
        resources=resources,
        cache=cache,
        cache_serialize=cache_serialize,
        cache_version=cache_version,
        retries=retries,
        interruptible=interruptible,
        container_image=container_image,
        environment=environment,
        task_config=task_config,
    )


def overrides_json_schema() -> dict[str, Any]:
    """JSON Schema of the wire form, for the API's OpenAPI document and the web form."""
    number = r"\s*(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
    units = "(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?"
    size = {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": f"^{number}{units}\\s*$"}]
    }
    quantities = {
        "cpu": {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": f"^{number}m?\\s*$"}]
        },
        "mem": size,
        "gpu": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\s*\d+\s*$"}]},
        "storage": size,
    }
    resources = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: {**quantities[name], "title": name} for name in RESOURCE_NAMES},
        "description": "Kubernetes quantities; the server also refuses absurd sizes (cpu > 1024, mem > 1Pi).",
    }
    return {
        "title": "TaskNodeOverrides",
        "description": "Overrides for one hook; every field is optional and unset fields change nothing.",
        "type": "object",
        "additionalProperties": False,
        "not": {
            "required": ["cache", "cache_serialize"],
            "properties": {"cache": {"const": False}, "cache_serialize": {"const": True}},
        },
        "properties": {
            "resources": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"requests": resources, "limits": resources},
                "description": "Kubernetes quantities, merged per resource name.",
            },
            "cache": {"type": "boolean"},
            "cache_serialize": {"type": "boolean", "description": "Needs cache."},
            "cache_version": {
                "anyOf": [{"type": "string", "maxLength": 128, "pattern": r"^[^\n]*$"}, {"type": "integer"}]
            },
            "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
            "interruptible": {"type": "boolean"},
            "container_image": {"type": "string", "pattern": r"^\S{1,255}$"},
            "environment": {
                "type": "object",
                "propertyNames": {
                    "pattern": ENV_NAME.pattern,
                    "not": {"pattern": "^[Rr][Ee][Tt][Uu][Nn][Ee]_"},
                },
                "additionalProperties": {"type": "string"},
                "description": "Merged per key; RETUNE_* names are reserved.",
            },
            "task_config": {
                "type": "object",
                "description": "Deep-merged; checked by the task type.",
            },
        },
    }


# --- normalisers: one per field, each raising FieldError with the field's path -------------


def _resources(value: Any) -> ResourceSpec:
    if isinstance(value, ResourceSpec):
        return value
    if isinstance(value, Resources):
        raise FieldError(
            "resources",
            "is a single Resources, but requests and limits must be told apart",
            "Write resources={'requests': Resources(...), 'limits': Resources(...)} "
            "or use runtime_override_config(cpu=..., mem=...) to set both.",
        )
    if not isinstance(value, Mapping):
        raise FieldError("resources", f"{value!r} is not a map", "Write {requests: {...}, limits: {...}}.")
    for kind in value:
        if kind not in ResourceSpec.KINDS:
            raise FieldError(
                f"resources.{kind}",
                "is not requests or limits",
                "Write {requests: {...}, limits: {...}}.",
            )
    parts: dict[str, Resources] = {}
    for kind, named in value.items():
        if isinstance(named, Resources):
            parts[kind] = named
        elif isinstance(named, Mapping):
            parts[kind] = Resources.of_normalised(_checked_resources(f"resources.{kind}", named))
        else:
            raise FieldError(
                f"resources.{kind}",
                f"{named!r} is not a map of resources",
                "Write e.g. {cpu: 2, mem: 1Gi}.",
            )
    return ResourceSpec(**parts)


def _checked_resources(path: str, named: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, quantity in named.items():
        if name not in RESOURCE_NAMES:
            raise FieldError(
                f"{path}.{name}", "is not a resource", f"Resources are {', '.join(RESOURCE_NAMES)}."
            )
        try:
            out[name] = normalise(name, quantity)
        except QuantityError as exc:
            raise FieldError(f"{path}.{name}", f"{quantity!r} {exc.reason}", exc.fix) from None
    return out


def _flag(name: str) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise FieldError(name, f"{value!r} is not true or false", f"Write {name}=true or {name}=false.")
        return value

    return check


def _cache_version(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        # Whole numbers read back exactly; a float would not (1.10 -> "1.1").
        raise FieldError("cache_version", f"{value!r} is not text", "Write a version such as '2' (quoted).")
    text = str(value)
    if len(text) > 128 or "\n" in text:
        raise FieldError("cache_version", "is longer than one line of 128 characters", "Use a short tag.")
    return text


def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("retries", f"{value!r} is not a whole number", "Write retries=3.")
    if value < 0:
        raise FieldError("retries", f"{value} is negative", "Use 0 for no retries, or a positive count.")
    if value > MAX_RETRIES:
        raise FieldError("retries", f"{value} is more than {MAX_RETRIES}", "Retry fewer times.")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not _IMAGE.match(value):
        raise FieldError(
            "container_image",
            f"{value!r} is not an image name",
            "Name an image from the image registry.",
        )
    return value


def _environment(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise FieldError("environment", f"{value!r} is not a map", "Write {NAME: value}.")
    out: dict[str, str] = {}
    for key, raw in value.items():
        check_env_name(key)
        if not isinstance(raw, str):
            # As Kubernetes does: YAML would silently turn 007 into 7 and 1.10 into 1.1.
            raise FieldError(
                f"environment.{key}",
                f"{raw!r} is not text",
                f"Environment values are strings: quote it ({str(raw)!r}).",
            )
        out[key] = raw
    return out


def check_env_name(key: object) -> None:
    """Environment names are shell-safe and outside the reserved ``RETUNE_`` prefix."""
    if not isinstance(key, str) or not ENV_NAME.match(key):
        raise FieldError(
            f"environment.{key}",
            f"{key!r} is not a valid environment variable name",
            "Use letters, digits and underscores, not starting with a digit (e.g. LOG_LEVEL).",
        )
    if key.upper().startswith(RESERVED_ENV_PREFIX):
        raise FieldError(
            f"environment.{key}",
            f"names starting with {RESERVED_ENV_PREFIX} are reserved for retune itself",
            "Pick another name.",
        )


def _task_config(value: Any) -> dict[str, Any]:
    task_type = getattr(type(value), "task_type", None)
    if hasattr(value, "model_dump") and isinstance(task_type, str):  # rt.SQL(...) given as an override
        return {**value.model_dump(mode="json", exclude_unset=True), "task_type": task_type}
    if not isinstance(value, Mapping):
        raise FieldError("task_config", f"{value!r} is not a map", "Write {key: value}.")
    return _thaw(value)


def _thaw(value: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, plain-dict copy, so no caller can mutate a layer after the fact."""
    return {key: _thaw(item) if isinstance(item, Mapping) else item for key, item in value.items()}


def _unknown_field_fix(key: str) -> str:
    if key in _SHORTHANDS:
        target = _SHORTHANDS[key]
        return (
            f"{key!r} is a CLI shorthand; in a map write {target!r} "
            "(resources: {requests: {...}, limits: {...}}), or use runtime_override_config()."
        )
    near = difflib.get_close_matches(key, FIELD_NAMES, n=1)
    hint = f"Did you mean {near[0]!r}? " if near else ""
    return f"{hint}Fields are {', '.join(sorted(FIELD_NAMES))}."


_NORMALISE: Final = {
    "resources": _resources,
    "cache": _flag("cache"),
    "cache_serialize": _flag("cache_serialize"),
    "cache_version": _cache_version,
    "retries": _retries,
    "interruptible": _flag("interruptible"),
    "container_image": _image,
    "environment": _environment,
    "task_config": _task_config,
}

assert tuple(f.name for f in fields(TaskNodeOverrides) if f.init) == FIELD_NAMES
