"""Workflows for interrupting and resuming ``retune run``: each step writes to a ledger when it
starts (with its pid) and when it ends, and sleeps unless ``LEDGER.fast`` exists."""

from __future__ import annotations

import os
import time
from pathlib import Path

import retune as rt


@rt.task
def step(ledger: str, name: str, seconds: float, after: str) -> str:
    with open(ledger, "a") as f:
        f.write(f"start {name} {os.getpid()}\n")
    if not Path(ledger + ".fast").exists():
        time.sleep(seconds)
    with open(ledger, "a") as f:
        f.write(f"end {name}\n")
    return after + name


@rt.workflow
def two_steps(ledger: str, seconds: float = 60.0) -> str:
    first = step(ledger=ledger, name="first", seconds=0.0, after="")
    return step(ledger=ledger, name="second", seconds=seconds, after=first)


@rt.task
def big(size: int) -> str:
    return "x" * size


@rt.workflow
def big_output(size: int = 20_000_000) -> str:
    return big(size=size)


@rt.task
def fails() -> int:
    raise RuntimeError("the task's own mistake")


@rt.workflow
def failing() -> int:
    return fails()
