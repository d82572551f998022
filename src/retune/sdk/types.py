"""Python annotations and values -> the compiler's type strings (no pydantic needed)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import types
import typing
from typing import Any

_SIMPLE: dict[Any, str] = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    bytes: "bytes",
    type(None): "none",
    None: "none",
    datetime.datetime: "datetime",
    datetime.date: "date",
    datetime.timedelta: "timedelta",
    typing.Any: "any",
    inspect.Parameter.empty: "any",
}


def type_of(annotation: Any) -> str:
    """``list[int]`` -> ``"list[int]"``; ``int | None`` -> ``"optional[int]"``."""
    simple = _SIMPLE.get(annotation) if _hashable(annotation) else None
    if simple is not None:
        return simple
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, typing.List):  # noqa: UP006 - both spellings appear in user code
        return f"list[{type_of(args[0]) if args else 'any'}]"
    if origin in (dict, typing.Dict):  # noqa: UP006
        key, value = args if args else (str, Any)
        return f"dict[{type_of(key)}, {type_of(value)}]"
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            return f"optional[{type_of(rest[0])}]"
        return "any"
    if isinstance(annotation, type):
        return _class_type(annotation)
    return "any"


def type_of_value(value: Any) -> str:
    """The type string of a literal passed into a task call."""
    if isinstance(value, list) and value:
        kinds = {type_of_value(item) for item in value}
        return f"list[{kinds.pop()}]" if len(kinds) == 1 else "list[any]"
    if isinstance(value, list):
        return "list[any]"
    if isinstance(value, dict):
        return "dict[str, any]"
    return type_of(type(value))


def _class_type(cls: type) -> str:
    ref = f"{cls.__module__}.{cls.__qualname__}"
    if issubclass(cls, enum.Enum):
        return f"enum:{ref}"
    if dataclasses.is_dataclass(cls):
        return f"dataclass:{ref}"
    if hasattr(cls, "model_fields") and hasattr(cls, "model_validate"):
        return f"pydantic:{ref}"
    return f"pickle:{ref}"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
