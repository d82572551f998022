"""The ``UNSET`` sentinel: "this layer says nothing", distinct from ``None``, ``0`` and ``False``."""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal


class Unset(Enum):
    """The type of ``UNSET``; an enum so that ``value is UNSET`` narrows for mypy."""

    token = 0

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = Unset.token
