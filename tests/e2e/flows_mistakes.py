"""Mistakes in a user's workflow code, each of which the CLI reports in one line."""

from __future__ import annotations

import retune as rt


@rt.task
def inc(x: int) -> int:
    return x + 1


@rt.workflow
def compares(x: int = 1) -> int:
    y = inc(x=x)
    if y > 3:  # a promise has no value yet
        return y
    return y


@rt.workflow
def raises(x: int = 1) -> int:
    raise ValueError("a mistake in the workflow body")
