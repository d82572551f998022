"""Counts and sizes in words, for the pages (as Jinja filters) and the graph's labels.

    plural(1, "task node")      -> "1 task node"
    plural(2000, "task node")   -> "2,000 task nodes"
    plural(2, "match", "matches") -> "2 matches"
    byte_size(70_000)           -> "68.4 KiB"

One function rather than ``node{{ "s" if n != 1 }}`` in each template: a copy that forgets the
condition is how a page came to say "1 task nodes".
"""

from __future__ import annotations

from typing import Final

_UNITS: Final = ("KiB", "MiB", "GiB", "TiB")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` (with thousands separators) and ``noun``, or its plural unless ``count`` is 1;
    the plural is ``nouns`` when given, else ``noun`` + "s"."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def byte_size(size: int) -> str:
    """``812`` -> ``812 bytes``, ``70_000`` -> ``68.4 KiB``, ``5 * 2**20`` -> ``5.0 MiB``."""
    if size < 1024:
        return plural(size, "byte")
    value, unit = size / 1024, 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:,.1f} {_UNITS[unit]}"
