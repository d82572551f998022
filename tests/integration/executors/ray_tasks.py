"""Tasks and workflows the Ray executor's tests run (imported by reference from their bundle)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import retune as rt


@rt.task
def report(tag: str) -> dict[str, Any]:
    """What the Ray task sees: its assigned resources, environment, process and task id."""
    import ray

    context = ray.get_runtime_context()
    print(f"reporting {tag}")
    return {
        "tag": tag,
        "resources": context.get_assigned_resources(),
        "task_id": context.get_task_id(),
        "pid": os.getpid(),
        "greeting": os.environ.get("GREETING"),
        "retune_cpu": os.environ.get("RETUNE_CPU"),
    }


@rt.workflow
def reporting(tag: str = "x") -> dict[str, Any]:
    return report(tag=tag).with_runtime_override("probe")


@rt.task
def hold(pid_file: str) -> int:
    """Writes its pid and sleeps; the attempt after the first one (the file exists) returns at once."""
    path = Path(pid_file)
    if path.exists():
        return 2
    partial = path.with_suffix(".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(path)
    time.sleep(60)
    return 1


@rt.workflow
def holding(pid_file: str) -> int:
    return hold(pid_file=pid_file).with_runtime_override("hold")


@rt.task(retries=0)
def fail(n: int) -> int:
    return _check(n)


def _check(n: int) -> int:
    raise ValueError(f"bad input {n}")


@rt.workflow
def failing(n: int = 3) -> int:
    return fail(n=n)


def nap(seconds: float) -> float:
    """A plain function the executor-level tests call by reference."""
    Path(os.environ["NAP_STARTED"]).write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def add(a: int, b: int) -> int:
    return a + b


@rt.task(interruptible=True, retries=1)
def place(marker: str) -> str:
    """Appends the id of the Ray node it runs on to ``marker``; the first attempt then sleeps
    (its node is taken away under it), a later one returns that id at once."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    path = Path(marker)
    first = not path.exists()
    with path.open("a") as seen:
        seen.write(f"{node}\n")
    if first:
        time.sleep(60)
    return node


@rt.workflow
def placing(marker: str) -> str:
    return place(marker=marker).with_runtime_override("place")


@rt.task
def interpreter() -> dict[str, Any]:
    """The interpreter the task runs under, and the marker a wrapper interpreter sets."""
    import sys

    return {"executable": sys.executable, "marker": os.environ.get("RETUNE_IMAGE_MARKER")}


@rt.workflow
def imaged() -> dict[str, Any]:
    return interpreter().with_runtime_override("image")


@rt.task(retries=1)
def alloc(mb: int) -> int:
    """Allocates ``mb`` MiB at once and returns how many bytes it holds."""
    block = bytearray(mb * 2**20)
    return len(block)


@rt.workflow
def allocating(mb: int) -> int:
    return alloc(mb=mb).with_runtime_override("alloc")


def alloc_noting(mb: int, pid_file: str) -> int:
    """Writes its pid to ``pid_file``, then allocates ``mb`` MiB at once."""
    Path(pid_file).write_text(str(os.getpid()))
    return len(bytearray(mb * 2**20))


def limit_seen() -> str:
    """``pid:limit``: this process's pid and soft ``RLIMIT_DATA`` (-1: none)."""
    import resource

    return f"{os.getpid()}:{resource.getrlimit(resource.RLIMIT_DATA)[0]}"
