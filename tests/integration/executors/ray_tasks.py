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
