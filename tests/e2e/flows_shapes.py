"""Workflows returning one value and a tuple, to read their records back every way there is."""

from __future__ import annotations

import retune as rt


@rt.task
def times_ten(x: int) -> int:
    return x * 10


@rt.task
def pair(x: int) -> tuple[int, str]:
    return x, "a"


@rt.workflow
def single(x: int = 3) -> int:
    return times_ten(x=x)


@rt.workflow
def two(x: int = 3) -> tuple[int, str]:
    a, b = pair(x=x)
    return a, b
