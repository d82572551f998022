"""The limits every stored value is held to, checked in one walk over its encoded JSON.

An encoded value is kept inline in the database's JSON columns, crosses process pipes and is
read back by any Python with default settings, so it must be writable *and* readable by all of
them. ``check_stored(data)`` raises ``LimitExceeded`` (saying which limit, where in the value, and how
to fix it) for a value with:

1. arrays and objects nested more than ``MAX_DEPTH`` levels: every JSON reader recurses
   (``json``, psycopg, pydantic, the codec itself) and a stack is finite;
2. an integer of more than ``MAX_INT_DIGITS`` decimal digits: Python refuses to turn longer
   ones into text (``sys.get_int_max_str_digits``), so ``json.dumps`` would raise;
3. a non-finite float: JSON has none and PostgreSQL refuses ``NaN`` (the float codec writes
   ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` instead);
4. a string that is not valid Unicode (a lone surrogate): it cannot be written as UTF-8;
5. an object key that is not a string, or anything but ``dict``, ``list``, ``str``, ``int``,
   ``float``, ``bool`` and ``None``: it would not read back as itself;
6. more than ``MAX_SIZE`` characters of compact JSON text (escapes counted as one character):
   larger data belongs in the blob store (bytes, ``rt.File``, ``rt.Directory``), which retune
   does not limit.

``check_given(data)`` is for values a client hands over (launch inputs, launch plan
inputs), which never went through ``encode``: on top of the above, a blob reference there may
only name a value blob (``values/<sha256>``), and ``$pickle`` is refused outright, since
unpickling runs code and a client can get bytes of its choosing into ``values/`` (any task
returning ``bytes`` derived from an input writes them there). See docs/decisions/0006.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Final

MAX_DEPTH: Final = 100
MAX_INT_DIGITS: Final = 4300
MAX_SIZE: Final = 16 * 2**20

_INT_BOUND: Final = 10**MAX_INT_DIGITS
_INT_FLOOR: Final = -_INT_BOUND  # once: negating a 14,000-bit int costs more than the walk of an item
_BLOB_TAGS: Final = ("$bytes", "$file", "$dir")
VALUE_KEY: Final = re.compile(r"values/[0-9a-f]{64}")


class LimitExceeded(ValueError):
    """A value that could not be stored and read back; ``str()`` is ``problem`` and where."""

    def __init__(self, problem: str, fix: str, where: str = "") -> None:
        self.problem = problem
        self.fix = fix
        self.where = where
        super().__init__(f"{problem} (at {where})" if where else problem)


def check_stored(data: Any) -> None:
    """Raise ``LimitExceeded`` unless ``data`` can be stored as JSON and read back as itself."""
    _check(data, given=False)


def check_given(data: Any) -> None:
    """``check_stored``, and refuse blob references a client may not hand over."""
    _check(data, given=True)


def _check(data: Any, *, given: bool) -> None:
    kind = type(data)
    if kind is bool or data is None or (kind is int and _INT_FLOOR < data < _INT_BOUND):
        return  # the common scalar outputs, without setting up a walk
    if kind is str and len(data) < MAX_SIZE - 2 and data.isascii():
        return
    try:
        _walk(data, given, exact=False)
    except _TooLarge:
        _walk(data, given, exact=True)  # the estimate was over the limit: is the value?


def too_deep(where: str = "") -> LimitExceeded:
    return LimitExceeded(
        f"it nests arrays and objects more than {MAX_DEPTH} levels deep, or contains itself",
        f"Values are kept to {MAX_DEPTH} levels of nesting, so that every reader of the stored JSON "
        "can follow them; flatten it, or pass it as bytes or an rt.File.",
        where,
    )


def _walk(data: Any, given: bool, *, exact: bool) -> None:
    """Visit every item without recursion. Sizes are exact, except that long lists of numbers
    are counted by an upper bound unless ``exact`` (the widest int, or 24 characters a float),
    which spares a ``str()`` per number; so a refusal on size is only final from an exact walk."""
    floor, bound = _INT_FLOOR, _INT_BOUND
    size = 0
    path: list[Any] = []  # the index or key of each container entered
    stack: list[Iterator[tuple[Any, Any]]] = []
    current: Iterator[tuple[Any, Any]] = iter(((None, data),))
    while True:
        for segment, item in current:
            kind = type(item)
            if kind is str:
                size += len(item) + 2
                if not item.isascii():
                    _check_unicode(item, path, segment)
            elif kind is int:
                if not floor < item < bound:
                    raise _too_long_int(path, segment)
                size += len(str(item))
            elif kind is float:
                if item - item != 0.0:
                    raise _non_finite(item, path, segment)
                size += len(repr(item))
            elif item is None or item is True:
                size += 4
            elif item is False:
                size += 5
            elif kind is list or kind is dict:
                if len(stack) >= MAX_DEPTH:
                    raise too_deep(_where(path, segment))
                if kind is dict:
                    size += _check_keys(item, given, path, segment)
                    entries: Iterator[tuple[Any, Any]] = iter(item.items())
                else:
                    flat = _flat_size(item, exact) if len(item) >= 32 else None
                    if flat is not None:
                        size += flat
                        if size > MAX_SIZE:
                            raise _too_large()
                        continue
                    size += len(item) + 1 if item else 2  # brackets and commas
                    entries = enumerate(item)
                stack.append(current)
                path.append(segment)
                current = entries
                break
            else:
                raise _not_json(item, path, segment)
            if size > MAX_SIZE:
                raise _too_large()
        else:
            if not stack:
                if size > MAX_SIZE:  # keys are counted when their object is entered
                    raise _too_large()
                return
            current = stack.pop()
            path.pop()


def _flat_size(items: list[Any], exact: bool) -> int | None:
    """The JSON size of a list of one kind of scalar that is within the limits, at C speed (a
    list of 100,000 floats is common, and walking it item by item costs ~0.3 us each); ``None``
    for any other list, which the walk then visits item by item and so names what is wrong."""
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is int:
        low, high = min(items), max(items)
        if not (low > _INT_FLOOR and high < _INT_BOUND):
            return None
        if not exact:
            return len(items) * (max(len(str(low)), len(str(high))) + 1) + 1
        return len(items) + 1 + sum(map(len, map(str, items)))
    if kind is float and all(map(math.isfinite, items)):
        if not exact:  # no finite float's repr is longer than 24 characters (-1.2345678901234567e-308)
            return 25 * len(items) + 1
        return len(items) + 1 + sum(map(len, map(repr, items)))
    if kind is str and all(map(str.isascii, items)):
        return 3 * len(items) + 1 + sum(map(len, items))
    return None


def _check_keys(item: dict[Any, Any], given: bool, path: list[Any], segment: Any) -> int:
    """The size the braces and keys add (quotes, colon, comma); refuses keys JSON would change."""
    size = 1 if item else 2
    for key in item:
        if type(key) is not str:
            raise LimitExceeded(
                f"it holds an object key {key!r} of type {type(key).__name__}, which JSON would turn "
                "into a string",
                "Use string keys, or annotate the value (dict[int, V] and other key types are encoded "
                "by the codec).",
                _where(path, segment),
            )
        size += len(key) + 4
        if not key.isascii():
            _check_unicode(key, path, segment)
    if given and any(tag in item for tag in ("$pickle", *_BLOB_TAGS)):
        _check_reference(item, _where(path, segment))
    return size


def _check_reference(item: dict[Any, Any], where: str) -> None:
    if "$pickle" in item:
        raise LimitExceeded(
            "it holds a pickled-value reference ($pickle), which only retune itself may write",
            "A client cannot hand over pickled values, since unpickling runs code. Pass the value as "
            "JSON (a dataclass or pydantic model as the object of its fields), or run the workflow "
            "with rt.run, which pickles rt.Pickled[...] inputs in your own process.",
            where,
        )
    for tag in _BLOB_TAGS:
        key = item.get(tag)
        if tag in item and (type(key) is not str or VALUE_KEY.fullmatch(key) is None):
            raise LimitExceeded(
                f"it holds a blob reference {{{tag!r}: {shown(key)}}} outside values/",
                "A blob reference may only name a value retune stored: values/<sha256 of the content>, "
                "as it appears in an execution's inputs or outputs.",
                where,
            )


def _check_unicode(text: str, path: list[Any], segment: Any) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LimitExceeded(
            f"it holds a string that is not valid Unicode ({exc.reason}: {text[exc.start : exc.end]!r})",
            "Pass text as valid Unicode, and binary data as bytes.",
            _where(path, segment),
        ) from None


def _too_long_int(path: list[Any], segment: Any) -> LimitExceeded:
    return LimitExceeded(
        f"it holds an integer of more than {MAX_INT_DIGITS} digits",
        f"Integers are stored as JSON numbers of at most {MAX_INT_DIGITS} digits, the most Python reads "
        "back by default; pass a longer one as a str or as bytes (or annotate it rt.Pickled[int]).",
        _where(path, segment),
    )


def _non_finite(item: float, path: list[Any], segment: Any) -> LimitExceeded:
    return LimitExceeded(
        f"it holds a non-finite float ({item!r}), which JSON cannot represent",
        'Annotate it float (stored as "NaN", "Infinity" or "-Infinity"), or give a float input one '
        "of those three strings.",
        _where(path, segment),
    )


class _TooLarge(LimitExceeded):
    """Over ``MAX_SIZE``: from an estimating walk, checked again exactly."""


def _too_large() -> LimitExceeded:
    return _TooLarge(
        f"its JSON is over {MAX_SIZE:,} characters ({MAX_SIZE // 2**20} MiB), the limit for a value kept "
        "in the execution record",
        "Keep large data in the blob store: pass it as bytes, an rt.File or an rt.Directory, whose "
        "size retune does not limit, or pass where to read it from.",
    )


def _not_json(item: Any, path: list[Any], segment: Any) -> LimitExceeded:
    return LimitExceeded(
        f"it holds a {type(item).__module__}.{type(item).__qualname__} ({shown(item)}), which is not a "
        "JSON value",
        "Pass JSON values (objects, arrays, strings, numbers, true, false, null).",
        _where(path, segment),
    )


def _where(path: list[Any], segment: Any) -> str:
    parts = [*path[1:], segment] if path else []
    shown_parts = [f"[{p}]" if type(p) is int else f"[{p!r}]" for p in parts[:12]]
    return "".join(shown_parts) + ("..." if len(parts) > 12 else "")


def shown(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width``, safe for values whose repr raises (huge ints) or is huge."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = width
    try:
        text = short.repr(value)
    except Exception:  # an int over Python's digit limit, or a repr that raises
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."
