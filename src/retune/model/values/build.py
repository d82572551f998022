"""Annotation -> codec, built once per annotation and cached.

Recursive types are built under a lock and published only when the outermost build
succeeded, so no thread sees a codec whose fields are still being filled in.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import sys
import threading
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

from retune.model.values.base import Codec, type_name, unsupported
from retune.model.values.blobs import (
    PICKLE,
    BytesCodec,
    Directory,
    DirectoryCodec,
    File,
    FileCodec,
    PathCodec,
    PickleCodec,
)
from retune.model.values.classes import (
    DataclassCodec,
    EnumCodec,
    FieldsCodec,
    IsoCodec,
    NamedTupleCodec,
    PydanticCodec,
    StringFormCodec,
    TimedeltaCodec,
    TypedDictCodec,
)
from retune.model.values.plain import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    NONE,
    STR,
    FixedTupleCodec,
    IntDictCodec,
    ListCodec,
    LiteralCodec,
    OptionalCodec,
    PairsDictCodec,
    ScalarCodec,
    ScalarUnionCodec,
    SetCodec,
    StrDictCodec,
    VarTupleCodec,
)

_CODECS: dict[Any, Codec] = {}
_STAGED: dict[Any, Codec] = {}
_BUILDING = threading.RLock()
_depth = 0


def codec_for(annotation: Any) -> Codec:
    try:
        return _CODECS[annotation]
    except KeyError:
        hashable = True
    except TypeError:  # an unhashable annotation (Annotated with a dict, say): built each time
        hashable = False
    with _BUILDING:
        return _staged(annotation) if hashable else _build(annotation)


def _staged(annotation: Any) -> Codec:
    """Build under the lock; codecs are published only once the outermost build succeeded,
    so no other thread sees a recursive type whose fields are still being filled in."""
    global _depth
    found = _CODECS.get(annotation) or _STAGED.get(annotation)
    if found is not None:
        return found
    _depth += 1
    done = False
    try:
        codec = _STAGED[annotation] = _build(annotation)
        done = True
    finally:
        _depth -= 1
        if _depth == 0:
            if done:
                _CODECS.update(_STAGED)
            _STAGED.clear()
    return codec


def _build(annotation: Any) -> Codec:
    if _is_any(annotation):
        return ANY
    if annotation is None or annotation is type(None):
        return NONE
    if isinstance(annotation, type):
        simple = _SIMPLE.get(annotation)
        if simple is not None:
            return simple
        if annotation in _BARE:
            return codec_for(_BARE[annotation])
    origin = typing.get_origin(annotation)
    if origin is not None:
        return _build_generic(annotation, origin, typing.get_args(annotation))
    if isinstance(annotation, typing.NewType):
        return codec_for(annotation.__supertype__)
    if isinstance(annotation, type):
        return _build_class(annotation)
    if isinstance(annotation, str):
        raise TypeError(f"Cannot resolve the annotation {annotation!r}: pass the type itself, not its name.")
    raise unsupported(annotation)


def _build_generic(annotation: Any, origin: Any, args: tuple[Any, ...]) -> Codec:
    if origin is Annotated:
        inner, *metadata = args
        return PickleCodec(inner) if any(m is PICKLE for m in metadata) else codec_for(inner)
    if origin is typing.Literal:
        return LiteralCodec(args)
    if origin in (typing.Union, types.UnionType):
        return _build_union(annotation, args)
    if origin is list:
        return ListCodec(codec_for(args[0]) if args else ANY)
    if origin in (set, frozenset):
        return SetCodec(origin, codec_for(args[0]) if args else ANY)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return VarTupleCodec(codec_for(args[0]))
        if args == ((),):
            return FixedTupleCodec(())
        return FixedTupleCodec(tuple(codec_for(a) for a in args))
    if origin is dict:
        key, value = args if args else (Any, Any)
        return _build_dict(key, codec_for(value))
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return codec_for(origin)  # a generic dataclass: its type variables decode as Any
    raise unsupported(annotation)


def _build_union(annotation: Any, args: tuple[Any, ...]) -> Codec:
    rest = tuple(a for a in args if a is not type(None))
    if any(_is_any(a) for a in rest):
        return ANY
    if len(rest) < len(args):
        inner = codec_for(rest[0]) if len(rest) == 1 else _build_union(annotation, rest)
        return OptionalCodec(inner)
    codecs = [codec_for(a) for a in rest]
    if all(isinstance(c, ScalarCodec) for c in codecs):
        return ScalarUnionCodec(typing.cast(list[ScalarCodec], codecs))
    raise TypeError(
        f"Cannot pass values of {type_name(annotation)} between tasks: a union whose members are not all "
        "primitives (int, float, str, bool) cannot be decoded unambiguously. Use Optional[X], or a "
        "dataclass with one optional field per kind."
    )


def _build_dict(key: Any, value: Codec) -> Codec:
    if _is_any(key) or key is str:
        return StrDictCodec(value)
    if key is int:
        return IntDictCodec(value)
    return PairsDictCodec(codec_for(key), value)


def _build_class(cls: type) -> Codec:
    for base, codec in _BY_BASE:  # first: File and Directory are dataclasses too
        if issubclass(cls, base):
            return codec(cls)
    if issubclass(cls, enum.Enum):
        return EnumCodec(cls)
    if dataclasses.is_dataclass(cls):
        return with_fields(DataclassCodec(cls))
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return with_fields(NamedTupleCodec(cls))
    if typing.is_typeddict(cls):
        return with_fields(TypedDictCodec(cls))
    if _is_pydantic(cls):
        return PydanticCodec(cls)
    if issubclass(cls, Path):
        return PathCodec(cls)
    uuid = sys.modules.get("uuid")
    if uuid is not None and issubclass(cls, uuid.UUID):
        return StringFormCodec(cls, "a UUID")
    decimal = sys.modules.get("decimal")
    if decimal is not None and issubclass(cls, decimal.Decimal):
        return StringFormCodec(cls, "a Decimal")
    raise unsupported(cls)


def _is_any(annotation: Any) -> bool:
    if isinstance(annotation, TypeVar):
        return True
    try:
        return annotation in _ANY_SPELLINGS
    except TypeError:
        return False


def _is_pydantic(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def with_fields(codec: FieldsCodec) -> FieldsCodec:
    _STAGED[codec.cls] = codec  # before its fields, so a recursive type finds itself
    codec.build_fields()
    return codec


_ANY_SPELLINGS: Final = frozenset({Any, object, inspect.Parameter.empty})
_SIMPLE: Final[dict[Any, Codec]] = {int: INT, float: FLOAT, str: STR, bool: BOOL}
_BARE: Final[dict[type, Any]] = {
    list: list[Any],
    dict: dict[str, Any],
    tuple: tuple[Any, ...],
    set: set[Any],
    frozenset: frozenset[Any],
}
_BY_BASE: Final[tuple[tuple[type, Callable[[type], Codec]], ...]] = (
    (datetime.datetime, IsoCodec),
    (datetime.date, IsoCodec),
    (datetime.time, IsoCodec),
    (datetime.timedelta, TimedeltaCodec),
    (bytes, BytesCodec),
    (File, FileCodec),
    (Directory, DirectoryCodec),
)
