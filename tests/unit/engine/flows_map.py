"""Workflows for the map items' unit tests (run in-process by retune.testing.InlineExecutor)."""

from __future__ import annotations

import threading
from collections import Counter

import retune as rt

CALLS: Counter[str] = Counter()
FAILURES: dict[int, int] = {}  # item value -> how many more times it fails
RELEASE = threading.Event()  # items listed in HELD wait for it
HELD: set[int] = set()
LOCK = threading.Lock()


@rt.task
def nap(x: int) -> int:
    """Counts its calls; fails while FAILURES says so; waits for RELEASE when x is HELD."""
    with LOCK:
        CALLS[f"start-{x}"] += 1
        failing = FAILURES.get(x, 0)
        if failing > 0:
            FAILURES[x] = failing - 1
    if failing:
        raise RuntimeError(f"item with x={x} failed on purpose")
    if x in HELD:
        RELEASE.wait(timeout=10)
    with LOCK:
        CALLS[f"end-{x}"] += 1
    return x * 10


@rt.workflow
def naps(xs: list[int]) -> list[int]:
    return rt.map_task(nap)(x=xs).with_runtime_override("nap")


@rt.task(cache=True, cache_version="1")
def cached_nap(x: int) -> int:
    with LOCK:
        CALLS[f"cached-{x}"] += 1
    return x * 10


@rt.workflow
def cached_naps(xs: list[int]) -> list[int]:
    return rt.map_task(cached_nap)(x=xs)


@rt.task
def pair(a: int, b: str) -> str:
    return f"{b}{a}"


@rt.workflow
def pairs(a: list[int], b: list[str]) -> list[str]:
    return rt.map_task(pair)(a=a, b=b)
