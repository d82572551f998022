"""JSON-shaped values: primitives, ``Literal``, unions, ``Optional``, containers and ``Any``."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, Final

from retune.model.values.base import BlobLike, Codec, Io, Mismatch, expected, marker_key, put_blob, type_name
from retune.model.values.blobs import Directory, File, decode_dir, decode_file, encode_dir, encode_file


class ScalarCodec(Codec):
    __slots__ = ("json_type", "kind")

    def __init__(self, json_type: type, kind: str) -> None:
        self.json_type = json_type
        self.kind = kind

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if type(value) is self.json_type:
            return value
        return self.enc_slow(value)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is self.json_type:
            return data
        return self.dec_slow(data)

    def enc_slow(self, value: Any) -> Any:
        if isinstance(value, self.json_type) and not isinstance(value, bool):
            return self.json_type(value)  # a subclass (IntEnum, StrEnum) as its plain value
        raise expected(self.kind, value)

    def dec_slow(self, data: Any) -> Any:
        raise expected(self.kind, data)


class BoolCodec(ScalarCodec):
    __slots__ = ()

    def enc_slow(self, value: Any) -> Any:
        raise expected(self.kind, value)


_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class FloatCodec(ScalarCodec):
    """Floats as JSON numbers; ints are accepted (and become floats); non-finite as strings."""

    __slots__ = ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if type(value) is float and value - value == 0.0:  # finite
            return value
        return self.enc_slow(value)

    def enc_slow(self, value: Any) -> Any:
        if isinstance(value, float | int) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int past 1.8e308: the float it stands for does not exist
                raise Mismatch(
                    f"the int of {int(value).bit_length()} bits is too large for a float"
                ) from None
            if math.isfinite(number):
                return number
            return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
        raise expected(self.kind, value)

    def dec_slow(self, data: Any) -> Any:
        if type(data) is int:
            return self.enc_slow(data)  # float(data), refusing one too large for a float
        if type(data) is str and data in _NON_FINITE:
            return _NON_FINITE[data]
        raise expected(self.kind, data)


class NoneCodec(Codec):
    __slots__ = ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if value is None:
            return None
        raise expected("None", value)

    def dec(self, data: Any, io: Io) -> Any:
        if data is None:
            return None
        raise expected("None", data)


INT = ScalarCodec(int, "int")
STR = ScalarCodec(str, "str")
BOOL = BoolCodec(bool, "bool")
FLOAT = FloatCodec(float, "float")
NONE = NoneCodec()


class LiteralCodec(Codec):
    __slots__ = ("allowed",)

    def __init__(self, allowed: tuple[Any, ...]) -> None:
        for item in allowed:
            if not isinstance(item, str | int | bool | type(None)) or isinstance(item, enum.Enum):
                raise TypeError(f"Literal values must be str, int, bool or None, not {item!r}.")
        self.allowed = allowed

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        return self.dec(value, None)  # type: ignore[arg-type]

    def dec(self, data: Any, io: Io) -> Any:
        for item in self.allowed:
            if data == item and type(data) is type(item):
                return item
        raise Mismatch(f"expected one of {', '.join(map(repr, self.allowed))}, got {data!r}")


class ScalarUnionCodec(Codec):
    """``int | str`` and the like: JSON keeps the member types apart."""

    __slots__ = ("kind", "members")

    def __init__(self, members: list[ScalarCodec]) -> None:
        self.members = members
        self.kind = " | ".join(m.kind for m in members)

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        for member in self.members:
            if type(value) is member.json_type:
                return member.enc(value, blobs)
        for member in self.members:
            try:
                return member.enc_slow(value)
            except Mismatch:
                continue
        raise expected(self.kind, value)

    def dec(self, data: Any, io: Io) -> Any:
        for member in self.members:
            if type(data) is member.json_type:
                return data
        for member in self.members:
            try:
                return member.dec_slow(data)
            except Mismatch:
                continue
        raise expected(self.kind, data)


class OptionalCodec(Codec):
    __slots__ = ("inner",)

    def __init__(self, inner: Codec) -> None:
        self.inner = inner

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        return None if value is None else self.inner.enc(value, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        return None if data is None else self.inner.dec(data, io)


class ListCodec(Codec):
    __slots__ = ("item", "scalar")

    def __init__(self, item: Codec) -> None:
        self.item = item
        # Items of these types are their own encoding: a list of them is checked, not rebuilt.
        self.scalar = item.json_type if type(item) in (ScalarCodec, BoolCodec) else None  # type: ignore[attr-defined]

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, list):
            raise expected("list", value)
        scalar = self.scalar
        if scalar is not None:
            for x in value:
                if type(x) is not scalar:
                    break
            else:
                return value[:]
        return each(self.item.enc, value, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not list:
            raise expected("a JSON array", data)
        scalar = self.scalar
        if scalar is not None:
            for x in data:
                if type(x) is not scalar:
                    break
            else:
                return data[:]
        return each(self.item.dec, data, io)


def each(convert: Callable[[Any, Any], Any], items: Any, io: Any) -> list[Any]:
    out = []
    for index, item in enumerate(items):
        try:
            out.append(convert(item, io))
        except Mismatch as exc:
            raise exc.at(f"[{index}]") from None
    return out


class VarTupleCodec(ListCodec):
    __slots__ = ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, tuple):
            raise expected("tuple", value)
        return each(self.item.enc, value, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        return tuple(super().dec(data, io))


class FixedTupleCodec(Codec):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Codec, ...]) -> None:
        self.items = items

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, tuple) or len(value) != len(self.items):
            raise expected(f"a tuple of {len(self.items)}", value)
        return _pairwise(self.items, value, blobs, encoding=True)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not list or len(data) != len(self.items):
            raise expected(f"a JSON array of {len(self.items)}", data)
        return tuple(_pairwise(self.items, data, io, encoding=False))


def _pairwise(codecs: tuple[Codec, ...], items: Any, io: Any, *, encoding: bool) -> list[Any]:
    out = []
    for index, (codec, item) in enumerate(zip(codecs, items, strict=True)):
        try:
            out.append(codec.enc(item, io) if encoding else codec.dec(item, io))
        except Mismatch as exc:
            raise exc.at(f"[{index}]") from None
    return out


class SetCodec(Codec):
    """Sets as arrays sorted by their items' JSON, so equal sets encode (and hash) equally."""

    __slots__ = ("item", "origin")

    def __init__(self, origin: type, item: Codec) -> None:
        self.origin = origin
        self.item = item

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, set | frozenset):
            raise expected(self.origin.__name__, value)
        import json

        items = each(self.item.enc, value, blobs)
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not list:
            raise expected("a JSON array", data)
        return self.origin(each(self.item.dec, data, io))


class StrDictCodec(Codec):
    __slots__ = ("scalar", "value")

    def __init__(self, value: Codec) -> None:
        self.value = value
        self.scalar = value.json_type if type(value) in (ScalarCodec, BoolCodec) else None  # type: ignore[attr-defined]

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, dict):
            raise expected("dict", value)
        scalar = self.scalar
        if scalar is not None:
            for k, v in value.items():
                if type(k) is not str or type(v) is not scalar:
                    break
            else:
                return dict(value)
        out = {}
        convert = self.value.enc
        for k, v in value.items():
            if type(k) is not str:
                raise Mismatch(f"expected str keys, got {type(k).__name__} {k!r}")
            try:
                out[k] = convert(v, blobs)
            except Mismatch as exc:
                raise exc.at(f"[{k!r}]") from None
        return out

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not dict:
            raise expected("a JSON object", data)
        scalar = self.scalar
        if scalar is not None:
            for v in data.values():
                if type(v) is not scalar:
                    break
            else:
                return dict(data)
        out = {}
        convert = self.value.dec
        for k, v in data.items():
            try:
                out[k] = convert(v, io)
            except Mismatch as exc:
                raise exc.at(f"[{k!r}]") from None
        return out


class IntDictCodec(Codec):
    """``dict[int, V]`` as a JSON object whose keys are the decimal ints."""

    __slots__ = ("value",)

    def __init__(self, value: Codec) -> None:
        self.value = value

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, dict):
            raise expected("dict", value)
        out = {}
        for k, v in value.items():
            if type(k) is not int:
                raise Mismatch(f"expected int keys, got {type(k).__name__} {k!r}")
            try:
                out[str(k)] = self.value.enc(v, blobs)
            except Mismatch as exc:
                raise exc.at(f"[{k!r}]") from None
        return out

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not dict:
            raise expected("a JSON object", data)
        out = {}
        for k, v in data.items():
            try:
                out[int(k)] = self.value.dec(v, io)
            except ValueError:
                raise Mismatch(f"expected int keys, got {k!r}") from None
            except Mismatch as exc:
                raise exc.at(f"[{k}]") from None
        return out


class PairsDictCodec(Codec):
    """Dicts with other keys (tuples, enums, dates) as ``[[key, value], ...]``, in order."""

    __slots__ = ("key", "value")

    def __init__(self, key: Codec, value: Codec) -> None:
        self.key = key
        self.value = value

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, dict):
            raise expected("dict", value)
        return each(lambda kv, b: [self.key.enc(kv[0], b), self.value.enc(kv[1], b)], value.items(), blobs)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is not list or any(type(p) is not list or len(p) != 2 for p in data):
            raise expected("a JSON array of [key, value] pairs", data)
        return dict(each(lambda kv, i: (self.key.dec(kv[0], i), self.value.dec(kv[1], i)), data, io))


class AnyCodec(Codec):
    """No annotation: JSON-native values, and blobs whose marker says what they are."""

    __slots__ = ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        kind = type(value)
        if kind in (str, int, bool) or value is None:
            return value
        if kind is float:
            if value - value == 0.0:
                return value
            raise Mismatch(f"a non-finite float ({value!r}) needs the annotation float")
        if kind is list:
            return each(self.enc, value, blobs)
        if kind is dict:
            if len(value) <= 2 and any(tag in value for tag in _MARKERS):
                raise Mismatch(
                    f"a dict with the key {next(t for t in _MARKERS if t in value)!r} would be read back as a "
                    "blob reference where the annotation is Any or missing; rename the key, or annotate "
                    "the value (dict[str, str], a dataclass)"
                )
            return ANY_DICT.enc(value, blobs)
        if kind is bytes:
            return {"$bytes": put_blob(blobs, value)}
        if kind is File:
            return encode_file(value.path, blobs)
        if kind is Directory:
            return encode_dir(value.path, blobs)
        raise Mismatch(
            f"a {type_name(kind)} cannot be decoded as the same type where the annotation is Any or missing "
            "(only JSON values, bytes, rt.File and rt.Directory can); annotate the parameter or return "
            "value with its type"
        )

    def dec(self, data: Any, io: Io) -> Any:
        kind = type(data)
        if kind is list:
            return each(self.dec, data, io)
        if kind is dict:
            if len(data) <= 2:
                for tag, decode_marker in _MARKERS.items():
                    if tag in data:
                        return decode_marker(data, io)
            return ANY_DICT.dec(data, io)
        return data


ANY = AnyCodec()
ANY_DICT = StrDictCodec(ANY)
_MARKERS: Final[dict[str, Callable[[Any, Io], Any]]] = {
    "$bytes": lambda data, io: io.store().get(marker_key(data, "$bytes")),
    "$file": lambda data, io: File(decode_file(data, io)),
    "$dir": lambda data, io: Directory(decode_dir(data, io)),
}
