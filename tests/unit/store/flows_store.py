"""Workflows whose resolved configs the store tests persist (never run)."""

from __future__ import annotations

import retune as rt


@rt.task(cache=True, cache_version="1", environment={"MODE": "fast"})
def double(x: int) -> int:
    return 2 * x


@rt.task(retries=1)
def add(a: int, b: int) -> int:
    return a + b


@rt.workflow
def pipeline(x: int = 1) -> int:
    first = double(x=x).with_runtime_override(
        "first", rt.runtime_override_config(cpu=2, mem="1Gi", retries=3)
    )
    second = double(x=first)
    return add(a=first, b=second).with_runtime_override("total")
