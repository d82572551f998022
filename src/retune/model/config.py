"""The resolved side: ``EffectiveConfig``, ``Source`` and provenance, ``NodeConfig``; and
``JsonFragments``, their JSON text as the store writes it and the API sends it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from retune.model.resources import ResolvedResources


class Layer(StrEnum):
    """Where a value came from, weakest first; the order is the layering order."""

    TASK = "task"
    NODE = "node"
    WORKFLOW = "workflow"
    LAUNCH_PLAN = "launch_plan"
    EXECUTION = "execution"


@dataclass(frozen=True, slots=True)
class Source:
    """Provenance of one value: the layer, which task/workflow/launch plan/execution, the hook."""

    layer: Layer
    name: str
    hook: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"layer": self.layer.value, "name": self.name, "hook": self.hook}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        return cls(Layer(data["layer"]), str(data["name"]), data.get("hook"))

    def __str__(self) -> str:
        hook = f" (hook {self.hook!r})" if self.hook else ""
        return f"{self.layer.value} {self.name!r}{hook}"


Provenance = Mapping[str, Source]
"""Field path (``retries``, ``requests.cpu``, ``environment.K``, ``task_config.a.b``) -> Source."""


@dataclass(frozen=True, slots=True)
class EffectiveConfig:
    """What a task node runs with, fully resolved.

    ``container_image=None`` means the executor's default image and ``timeout=None`` no
    timeout; every other field always holds a value.
    """

    requests: ResolvedResources
    limits: ResolvedResources
    cache: bool
    cache_serialize: bool
    cache_version: str
    retries: int
    interruptible: bool
    container_image: str | None
    environment: Mapping[str, str]
    task_config: Mapping[str, Any]
    timeout: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests.to_dict(),
            "limits": self.limits.to_dict(),
            "cache": self.cache,
            "cache_serialize": self.cache_serialize,
            "cache_version": self.cache_version,
            "retries": self.retries,
            "interruptible": self.interruptible,
            "container_image": self.container_image,
            "environment": dict(self.environment),
            "task_config": _plain(self.task_config),
            "timeout": self.timeout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EffectiveConfig:
        return cls(
            requests=ResolvedResources.from_dict(data["requests"]),
            limits=ResolvedResources.from_dict(data["limits"]),
            cache=bool(data["cache"]),
            cache_serialize=bool(data["cache_serialize"]),
            cache_version=str(data["cache_version"]),
            retries=int(data["retries"]),
            interruptible=bool(data["interruptible"]),
            container_image=data["container_image"],
            environment=MappingProxyType(dict(data["environment"])),
            task_config=MappingProxyType(dict(data["task_config"])),
            timeout=None if data["timeout"] is None else float(data["timeout"]),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EffectiveConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.requests, self.limits, self.retries, self.cache_version))


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One entry of ``rt.resolve``: a node's effective config, its provenance, hook and task."""

    config: EffectiveConfig
    provenance: Provenance
    hook: str | None
    task: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "provenance": {path: source.to_dict() for path, source in self.provenance.items()},
            "hook": self.hook,
            "task": self.task,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeConfig:
        provenance = {path: Source.from_dict(src) for path, src in data["provenance"].items()}
        return cls(
            config=EffectiveConfig.from_dict(data["config"]),
            provenance=MappingProxyType(provenance),
            hook=data.get("hook"),
            task=str(data["task"]),
        )


encode_json: Final[Callable[[Any], str]] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode
"""JSON as the store writes it and the API answers it (Starlette's ``JSONResponse`` too):
compact, non-ASCII kept as is, strict (no ``NaN``: raises ``ValueError``). One encoder built
once: ``json.dumps`` with these arguments builds a new one per call."""


def encode_known(value: Any) -> str:
    """``encode_json(value)`` for a value of JSON's own types (a config, a source), ~5x faster:
    pydantic-core's encoder, which writes the same text but for a float's exponent (``1e-7``
    where ``json`` writes ``1e-07``: the same number). It writes NaN and infinities as constants;
    those go to ``encode_json``, which refuses them as before, and so does any text long enough to
    hold an int past ``sys.get_int_max_str_digits()``, which it writes and json refuses."""
    from pydantic_core import to_json  # here: `import retune` loads no pydantic (import budget)

    try:
        text = to_json(value, inf_nan_mode="constants").decode()
    except ValueError:  # a type it does not know: json's own refusal says which
        return encode_json(value)
    if "NaN" in text or "Infinity" in text:  # a real one, or the letters in a string
        return encode_json(value)
    if len(text) > sys.get_int_max_str_digits() > 0:  # room for an int json refuses to write
        return encode_json(value)
    return text


class JsonFragments:
    """The JSON text of configs and provenances, each distinct object encoded once.

    Nodes share these objects: the nodes without a hook of one task share one config and one
    provenance, and within a provenance one ``Source`` names many fields. Encoding 100 nodes'
    dicts anew, for the stored rows and again for the answer, was a third of a launch's CPU.

    Keyed by identity (the objects are immutable), so each entry keeps its object alive, up to
    ``limit`` entries per table: then the table starts again empty. ``SHARED_FRAGMENTS`` serves the
    whole process, so that the store's rows and the API's answer of one launch encode each object once
    between them. A launch's hooked nodes are new objects; its unhooked nodes' configs are those of
    the spec's static part (decision 0029), encoded once for every launch of that spec.
    """

    __slots__ = ("_configs", "_keys", "_limit", "_provenances", "_sources")

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._configs: dict[int, tuple[EffectiveConfig, str]] = {}
        self._provenances: dict[int, tuple[Provenance, str]] = {}
        self._sources: dict[int, tuple[Source, str]] = {}
        self._keys: dict[str, str] = {}

    def config(self, config: EffectiveConfig) -> str:
        """``encode_json(config.to_dict())``, by ``encode_known`` unless it has a task_config."""
        found = self._configs.get(id(config))
        if found is None:
            # task_config holds what the task type accepted, maybe a date that json refuses and
            # pydantic-core would write: only json encodes one.
            encode = encode_json if config.task_config else encode_known
            found = self._kept(self._configs)[id(config)] = (config, encode(config.to_dict()))
        return found[1]

    def provenance(self, provenance: Provenance) -> str:
        """``encode_known({path: source.to_dict() for path, source in provenance.items()})``."""
        found = self._provenances.get(id(provenance))
        if found is None:
            text = self._encode_provenance(provenance)
            found = self._kept(self._provenances)[id(provenance)] = (provenance, text)
        return found[1]

    def _encode_provenance(self, provenance: Provenance) -> str:
        keys, sources = self._keys, self._sources
        parts = []
        for path, source in provenance.items():
            key = keys.get(path)
            if key is None:
                key = self._kept(keys)[path] = encode_known(path)
            known = sources.get(id(source))
            if known is None:
                known = self._kept(sources)[id(source)] = (source, encode_known(source.to_dict()))
            parts.append(f"{key}:{known[1]}")
        return "{" + ",".join(parts) + "}"

    def _kept(self, table: dict[Any, Any]) -> dict[Any, Any]:
        """``table``, emptied first when full (a thread racing this merely encodes again)."""
        if len(table) >= self._limit:
            table.clear()
        return table


SHARED_FRAGMENTS: Final = JsonFragments()
"""The process's ``JsonFragments``: the store's rows and the API's answer use it."""


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in value.items()}
