"""What the execution pages' tests run for real (``rt.run`` into the server's home): a task that
writes to stdout and stderr, one that fails its first attempt, and a map."""

from __future__ import annotations

import sys
from pathlib import Path

import retune as rt


@rt.task
def shout(word: str) -> str:
    print(f"shouting {word} on stdout")
    print(f"whispering {word} on stderr", file=sys.stderr)
    return word.upper()


@rt.task(retries=1)
def flaky(marker: str) -> int:
    path = Path(marker)
    if not path.exists():
        path.touch()
        raise ValueError(f"first attempt fails on purpose ({path.name})")
    return 1


@rt.task(cache=True, cache_version="1")
def square(n: int) -> int:
    return n * n


@rt.workflow
def loud(word: str, marker: str) -> int:
    shout(word=word).with_runtime_override("shout")
    return flaky(marker=marker).with_runtime_override("flaky")


@rt.workflow
def squares(ns: list[int]) -> list[int]:
    return rt.map_task(square)(n=ns).with_runtime_override("square")
