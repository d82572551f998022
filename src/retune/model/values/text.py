"""The one grammar of a workflow input typed as text: ``retune run --x VALUE``, ``retune launch
-i x=VALUE`` and the web launch form's ``inputs.x`` field all read their text with ``read_text``.

A ``str`` input is the text itself; any other is read as YAML (so JSON too: ``[1, 2]``,
``{a: 1}``, ``true``), keeping the text where YAML would turn it into a date, and a ``float``
input reads ``1e3`` as a number. Types are checked afterwards, by whoever launches.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from typing import Any, Final

_DECIMAL: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
"""A decimal integer YAML reads as ``int(text)`` (no ``_``, no leading zero: those YAML reads
its own way, as it does ``0o17`` and ``0x1f``)."""


def read_text(raw: str, kind: str) -> Any:
    """``raw`` as the value of an input of type ``kind`` (a type string: ``int``, ``list[str]``)."""
    if kind == "str":
        return raw
    if _DECIMAL.fullmatch(raw):  # what YAML reads it as, without importing yaml (~10 ms)
        value: Any = int(raw)
    else:
        value = _yaml(raw)
    if isinstance(value, datetime.date):  # YAML reads 2024-01-01 as a date: keep the text
        value = raw
    if kind == "float" and isinstance(value, str | int) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            value = float(raw)
    if kind == "bool" and value in (0, 1) and not isinstance(value, bool):
        value = bool(value)
    return value


def _yaml(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except (yaml.YAMLError, ValueError):  # ValueError: an int past Python's digit limit
        return raw
