"""Tasks the task-runtime tests load by reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import retune as rt


@dataclasses.dataclass(frozen=True)
class Box:
    width: int
    height: int


class Stats(NamedTuple):
    total: int
    mean: float


@rt.task
def area(box: Box) -> int:
    return box.width * box.height


def plain(x: int) -> int:
    return x + 1


@rt.task
def divide(a: int, b: int) -> tuple[int, int]:
    return a // b, a % b


@rt.task
def stats(values: list[int]) -> Stats:
    return Stats(sum(values), sum(values) / len(values))


@rt.task
def nothing(x: int) -> None:
    return None


@rt.task
def unannotated(x):  # type: ignore[no-untyped-def]
    return x


@rt.task
def fails(x: int) -> int:
    if x < 0:
        raise ValueError(f"x must not be negative, got {x}")
    return x


@rt.task
def exits(x: int) -> int:
    raise SystemExit(3)


@rt.task
def lies(x: int) -> tuple[int, int]:
    return x  # type: ignore[return-value]


class Holder:
    @staticmethod
    def nested(x: int) -> int:
        return x * 10


def allocate(mb: int) -> int:
    """Allocates ``mb`` MiB at once."""
    return len(bytearray(mb * 2**20))


def shout(text: str) -> str:
    print(text)
    return text


@rt.task
def read_back(given: Path) -> str:
    """Where the task process put the file it was given, and what it holds."""
    return f"{given}|{given.read_text()}"
