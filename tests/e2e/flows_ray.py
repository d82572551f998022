"""Workflows the Ray end-to-end tests run with ``retune run --executor ray``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import retune as rt


@rt.task
def greet(name: str) -> str:
    return f"{os.environ.get('GREETING', 'hello')} {name} on {os.environ['RETUNE_CPU']} cpu"


@rt.workflow
def greeting(name: str = "ray") -> str:
    return greet(name=name).with_runtime_override("greet")


@rt.task
def stall(started: str) -> int:
    """Says it started, then runs until its cluster goes away."""
    Path(started).write_text(str(os.getpid()))
    time.sleep(120)
    return 1


@rt.workflow
def stalled(started: str) -> int:
    return stall(started=started)


@rt.task
def ray_resources() -> dict[str, object]:
    """What Ray assigned to the task, and the cpu count retune exposes to it."""
    import ray

    return {
        "assigned": ray.get_runtime_context().get_assigned_resources(),
        "retune_cpu": os.environ["RETUNE_CPU"],
    }


@rt.workflow
def resources_flow() -> dict[str, object]:
    return ray_resources().with_runtime_override("res")


@rt.task
def interpreter() -> dict[str, str | None]:
    """The interpreter the task runs under, and the marker the test's wrapper interpreter sets."""
    import sys

    return {"executable": sys.executable, "marker": os.environ.get("RETUNE_IMAGE_MARKER")}


@rt.workflow
def image_flow() -> dict[str, str | None]:
    return interpreter().with_runtime_override("image")


@rt.task(timeout=1)
def oversleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@rt.workflow
def timeout_flow(seconds: float = 30) -> float:
    return oversleep(seconds=seconds).with_runtime_override("sleepy")
