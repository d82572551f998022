"""Values of classes: dataclasses, ``NamedTuple``, ``TypedDict``, pydantic models, ``Enum``,
dates and times, ``UUID`` and ``Decimal``."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import typing
from typing import Any

from retune.model.values.base import BlobLike, Codec, Io, Mismatch, expected, type_name


class FieldsCodec(Codec):
    """Classes encoded as a JSON object of their annotated fields."""

    __slots__ = ("cls", "fields", "required")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.fields: dict[str, Codec] = {}
        self.required: frozenset[str] = frozenset()

    def build_fields(self) -> None:
        try:
            hints = typing.get_type_hints(self.cls, include_extras=True)
        except Exception as exc:
            raise TypeError(f"Cannot read the field types of {type_name(self.cls)}: {exc}") from None
        from retune.model.values.build import codec_for  # build imports this module

        for name in self.field_names(hints):
            try:
                self.fields[name] = codec_for(hints.get(name, Any))
            except TypeError as exc:
                raise TypeError(f"Field {name!r} of {type_name(self.cls)}: {exc}") from None

    def field_names(self, hints: dict[str, Any]) -> list[str]:
        return list(hints)

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if type(value) is not self.cls:
            raise self.wrong_type(value)
        out = {}
        for name, codec in self.fields.items():
            try:
                out[name] = codec.enc(self.get(value, name), blobs)
            except Mismatch as exc:
                raise exc.at(f".{name}") from None
        return out

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not dict:
            raise expected(f"a JSON object for {type_name(self.cls)}", data)
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise Mismatch(
                f"{type_name(self.cls)} has no field {unknown[0]!r}; it has {', '.join(self.fields)}"
            )
        missing = sorted(self.required - set(data))
        if missing:
            raise Mismatch(f"{type_name(self.cls)} needs field {missing[0]!r}")
        values = {}
        for name, item in data.items():
            try:
                values[name] = self.fields[name].dec(item, io)
            except Mismatch as exc:
                raise exc.at(f".{name}") from None
        return self.build(values)

    def wrong_type(self, value: Any) -> Mismatch:
        if isinstance(value, self.cls):
            return Mismatch(
                f"got a {type_name(type(value))}, a subclass of {type_name(self.cls)} whose extra fields would be "
                "lost; annotate with the subclass"
            )
        return expected(type_name(self.cls), value)

    def get(self, value: Any, name: str) -> Any:
        return getattr(value, name)

    def build(self, values: dict[str, Any]) -> Any:
        return self.cls(**values)


class DataclassCodec(FieldsCodec):
    __slots__ = ("late",)

    def field_names(self, hints: dict[str, Any]) -> list[str]:
        fields = dataclasses.fields(self.cls)
        no_default = dataclasses.MISSING
        self.required = frozenset(
            f.name for f in fields if f.init and f.default is no_default and f.default_factory is no_default
        )
        self.late = frozenset(f.name for f in fields if not f.init)
        return [f.name for f in fields]

    def build(self, values: dict[str, Any]) -> Any:
        late = {name: values.pop(name) for name in self.late if name in values}
        made = self.cls(**values)
        for name, value in late.items():  # fields outside __init__ keep the value they had
            object.__setattr__(made, name, value)
        return made


class NamedTupleCodec(FieldsCodec):
    __slots__ = ()

    def field_names(self, hints: dict[str, Any]) -> list[str]:
        defaults = getattr(self.cls, "_field_defaults", {})
        names: list[str] = list(self.cls._fields)  # type: ignore[attr-defined]
        self.required = frozenset(n for n in names if n not in defaults)
        return names


class TypedDictCodec(FieldsCodec):
    __slots__ = ()

    def field_names(self, hints: dict[str, Any]) -> list[str]:
        self.required = frozenset(getattr(self.cls, "__required_keys__", hints))
        return list(hints)

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, dict):
            raise expected(f"a dict for {type_name(self.cls)}", value)
        unknown = sorted(set(value) - set(self.fields))
        if unknown:
            raise Mismatch(f"{type_name(self.cls)} has no key {unknown[0]!r}")
        out = {}
        for name, item in value.items():
            try:
                out[name] = self.fields[name].enc(item, blobs)
            except Mismatch as exc:
                raise exc.at(f"[{name!r}]") from None
        return out

    def build(self, values: dict[str, Any]) -> Any:
        return values


class PydanticCodec(Codec):
    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls: Any = cls

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if type(value) is not self.cls:
            raise expected(type_name(self.cls), value)
        return value.model_dump(mode="json")

    def dec(self, data: Any, io: Io) -> Any:
        try:
            return self.cls.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError
            raise Mismatch(str(exc)) from None


class EnumCodec(Codec):
    __slots__ = ("cls",)

    def __init__(self, cls: type[enum.Enum]) -> None:
        self.cls = cls

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, self.cls):
            raise expected(type_name(self.cls), value)
        raw = value.value
        if not isinstance(raw, str | int | float | bool | type(None)):
            raise Mismatch(
                f"{type_name(self.cls)}.{value.name} has a value of type {type(raw).__name__}, not JSON"
            )
        return raw

    def dec(self, data: Any, io: Io) -> Any:
        try:
            return self.cls(data)
        except ValueError:
            names = ", ".join(repr(m.value) for m in self.cls)
            raise Mismatch(f"{data!r} is not a value of {type_name(self.cls)} ({names})") from None


class IsoCodec(Codec):
    """datetime, date and time as ISO 8601 strings."""

    __slots__ = ("cls", "excluded")

    def __init__(self, cls: type) -> None:
        self.cls: Any = cls
        # A datetime is a date; stored as a date it would lose its time, so it is refused.
        self.excluded = datetime.datetime if cls is datetime.date else ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, self.cls) or isinstance(value, self.excluded):
            raise expected(self.cls.__name__, value)
        return value.isoformat()

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not str:
            raise expected(f"an ISO 8601 {self.cls.__name__} string", data)
        try:
            return self.cls.fromisoformat(data)
        except ValueError as exc:
            raise Mismatch(str(exc)) from None


class TimedeltaCodec(Codec):
    """Seconds: an int when whole, else a float (exact to the microsecond within ~285 years)."""

    __slots__ = ()

    def __init__(self, cls: type) -> None:
        pass

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, datetime.timedelta):
            raise expected("timedelta", value)
        seconds = value.days * 86400 + value.seconds
        return seconds if not value.microseconds else value.total_seconds()

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) not in (int, float):
            raise expected("seconds", data)
        return datetime.timedelta(seconds=data)


class StringFormCodec(Codec):
    """Types whose ``str`` is exact and whose constructor reads it back (UUID, Decimal)."""

    __slots__ = ("cls", "kind")

    def __init__(self, cls: type, kind: str) -> None:
        self.cls: Any = cls
        self.kind = kind

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, self.cls):
            raise expected(self.kind, value)
        return str(value)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not str:
            raise expected(f"{self.kind} as a string", data)
        try:
            return self.cls(data)
        except (ValueError, ArithmeticError):
            raise Mismatch(f"{data!r} is not {self.kind}") from None
