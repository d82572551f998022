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
