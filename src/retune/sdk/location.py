"""Call sites as ``file:line``, relative to the working directory when under it."""

from __future__ import annotations

import os
import sys
from functools import lru_cache


def caller(depth: int = 2) -> str:
    """The ``file:line`` of the user's call, ``depth`` frames above this function's caller."""
    frame = sys._getframe(depth)
    return f"{_short(frame.f_code.co_filename)}:{frame.f_lineno}"


def of_function(fn: object) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{_short(code.co_filename)}:{code.co_firstlineno}"


@lru_cache(maxsize=256)
def _short(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def module_of(fn: object) -> str:
    """The module a function was defined in; code run with ``exec`` (notebooks) has none: ``__main__``."""
    return getattr(fn, "__module__", None) or "__main__"


def qualified_name(fn: object) -> str:
    return f"{module_of(fn)}.{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"


def forget_locations() -> None:
    """Drop the cached relative paths (they depend on the working directory, which just changed)."""
    _short.cache_clear()
