"""Workflows for the engine's unit tests (run in-process by retune.testing.InlineExecutor)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import retune as rt

CALLS: Counter[str] = Counter()
FAILURES: dict[str, int] = {}
LOCK = threading.Lock()


def called(name: str) -> None:
    with LOCK:
        CALLS[name] += 1


@rt.task
def inc(x: int) -> int:
    called(f"inc-{x}")
    return x + 1


@rt.task
def flaky(x: int) -> int:
    """Fails as many times as FAILURES['flaky'] says, then succeeds."""
    called("flaky")
    with LOCK:
        if FAILURES.get("flaky", 0) > 0:
            FAILURES["flaky"] -= 1
            raise RuntimeError("flaky failed on purpose")
    return x * 10


@rt.task(cache=True, cache_version="1")
def slow_square(x: int) -> int:
    called("slow_square")
    time.sleep(0.2)
    return x * x


@rt.task
def total(xs: list[int]) -> int:
    return sum(xs)


@rt.workflow
def chain(x: int = 0) -> int:
    a = inc(x=x)
    b = inc(x=a)
    return inc(x=b).with_runtime_override("last")


@rt.workflow
def with_flaky(x: int = 1) -> int:
    a = flaky(x=x).with_runtime_override("flaky")
    return inc(x=a)


@rt.workflow
def cached(x: int = 3) -> int:
    return slow_square(x=x).with_runtime_override("square")


@rt.workflow
def fan(n: int = 4) -> int:
    parts = [inc(x=i) for i in range(4)]
    mapped = rt.map_task(inc)(x=[10, 20, 30])
    return total(xs=[total(xs=parts), total(xs=mapped)])


@rt.workflow
def long_chain(x: int = 0) -> int:
    value = x
    for _ in range(10):
        value = inc(x=value)
    return value


@rt.task(cache=True, cache_version="1")
def cached_add(x: int, k: int) -> int:
    called("cached_add")
    return x + k


@rt.workflow
def cached_fan(x: int = 0) -> int:
    return total(xs=[cached_add(x=x, k=k) for k in range(6)])


@rt.workflow
def wide(xs: list[int]) -> list[int]:
    return rt.map_task(inc)(x=xs)
