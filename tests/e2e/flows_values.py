"""Workflows for the value limits through rt.run: an identity, and a task whose output is over a limit."""

from __future__ import annotations

from typing import Any

import retune as rt


@rt.task
def echo(x: Any) -> Any:
    return x


@rt.task(retries=1)
def poison(kind: str) -> Any:
    if kind == "int":
        return 10**5000
    value: list[Any] = []
    for _ in range(150):
        value = [value]
    return value


@rt.workflow
def echo_flow(x: Any = None) -> Any:
    return echo(x=x)


@rt.workflow
def poison_flow(kind: str = "int") -> Any:
    return poison(kind=kind)
