"""Resources as Flyte names them (cpu, mem, gpu, storage), normalised when constructed.

``Resources`` is a partial set (a field left ``None`` is simply not named), which is what a
task definition or an override layer says. ``ResolvedResources`` is the fully resolved form
inside an ``EffectiveConfig``: every resource has a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar, Final

from retune.model.quantity import format_bytes, format_cpu, parse_bytes, parse_cpu, parse_gpu

RESOURCE_NAMES: Final = ("cpu", "mem", "gpu", "storage")


def normalise(name: str, value: object) -> float | int:
    """Normalise one quantity by resource name (raises ``QuantityError``)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _normalise_cached(name, value)
    return _normalise(name, value)


@lru_cache(maxsize=1024)
def _normalise_cached(name: str, value: str | int | float) -> float | int:
    # The same few spellings ("1Gi", "500m") recur across thousands of hooks.
    return _normalise(name, value)


def _normalise(name: str, value: object) -> float | int:
    if name == "cpu":
        return parse_cpu(value)
    if name == "gpu":
        return parse_gpu(value)
    return parse_bytes(name, value)


def format_quantity(name: str, value: float | int) -> str:
    """The Kubernetes spelling of a normalised quantity (for humans; JSON keeps numbers)."""
    if name == "cpu":
        return format_cpu(float(value))
    if name == "gpu":
        return str(int(value))
    return format_bytes(int(value))


@dataclass(frozen=True, slots=True, init=False)
class Resources:
    """``Resources(cpu="500m", mem="1Gi", gpu=1, storage="10Gi")``; unnamed ones are ``None``."""

    cpu: float | None
    mem: int | None
    gpu: int | None
    storage: int | None
    _named: dict[str, float | int] = field(repr=False, compare=False, hash=False)

    def __init__(
        self,
        cpu: str | float | None = None,
        mem: str | int | None = None,
        gpu: str | int | None = None,
        storage: str | int | None = None,
    ) -> None:
        raw = {"cpu": cpu, "mem": mem, "gpu": gpu, "storage": storage}
        self._set({name: normalise(name, value) for name, value in raw.items() if value is not None})

    @classmethod
    def of_normalised(cls, named: Mapping[str, float | int]) -> Resources:
        """``Resources`` of quantities ``normalise`` already gave, by resource name (names
        checked by the caller), without normalising them again: parsing 50 overrides of a launch
        normalised every quantity twice."""
        made = object.__new__(cls)
        made._set(named)
        return made

    def _set(self, named: Mapping[str, float | int]) -> None:
        for name in RESOURCE_NAMES:
            object.__setattr__(self, name, named.get(name))
        object.__setattr__(self, "_named", {name: named[name] for name in RESOURCE_NAMES if name in named})

    def items(self) -> list[tuple[str, float | int]]:
        """The named resources, in canonical order."""
        return list(self._named.items())

    def named(self) -> Mapping[str, float | int]:
        """The named resources as a read-only view (no copy: merging reads it per node)."""
        return MappingProxyType(self._named)

    def to_dict(self) -> dict[str, float | int]:
        return dict(self._named)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        unknown = sorted(set(data) - set(RESOURCE_NAMES))
        if unknown:
            raise KeyError(unknown[0])
        return cls(**data)

    def __bool__(self) -> bool:
        return bool(self._named)

    def __repr__(self) -> str:
        named = ", ".join(f"{n}={format_quantity(n, v)!r}" for n, v in self.items())
        return f"Resources({named})"


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """The ``resources`` field of an override: requests and limits, each partial."""

    requests: Resources = field(default_factory=Resources)
    limits: Resources = field(default_factory=Resources)

    KINDS: ClassVar[tuple[str, str]] = ("requests", "limits")

    def to_dict(self) -> dict[str, dict[str, float | int]]:
        out = {}
        for kind in self.KINDS:
            named = getattr(self, kind).to_dict()
            if named:
                out[kind] = named
        return out


@dataclass(frozen=True, slots=True)
class ResolvedResources:
    """Every resource resolved: cores, bytes, whole GPUs, bytes."""

    cpu: float
    mem: int
    gpu: int
    storage: int

    def to_dict(self) -> dict[str, float | int]:
        return {"cpu": self.cpu, "mem": self.mem, "gpu": self.gpu, "storage": self.storage}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResolvedResources:
        return cls(
            cpu=float(data["cpu"]),
            mem=int(data["mem"]),
            gpu=int(data["gpu"]),
            storage=int(data["storage"]),
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={format_quantity(n, v)}" for n, v in self.to_dict().items())
        return f"ResolvedResources({shown})"
