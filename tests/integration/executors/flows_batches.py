"""A map whose items say what to do, ``"DIR|NAME|PLAN"``, for the local executor's batches
(tests/integration/executors/test_local_batches.py). PLAN: ``ok``; ``print`` (a line to stdout and
to stderr, naming the item); ``fail`` (raises), ``fail-once`` (raises on its first attempt); ``crash-once`` (its first
attempt ends the process, ``os._exit(3)``); ``sleep:S``. Every item sets ``LEAK`` in its
environment and returns what it found there before, with its attempt number as the context says. ``bounded`` is ``quick`` with a timeout of 1 s."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import retune as rt


@rt.task
def quick(job: str) -> str:
    return _item(job)


@rt.task(timeout=1.0)
def bounded(job: str) -> str:
    return _item(job)


def _item(job: str) -> str:
    where, name, plan = job.split("|")
    leaked = os.environ.get("LEAK", "-")
    os.environ["LEAK"] = name
    first = not Path(where, name).exists()
    Path(where, name).touch()
    if plan == "print":
        print(f"out {name}")
        print(f"err {name}", file=sys.stderr)
    elif plan == "fail" or (plan == "fail-once" and first):
        raise RuntimeError(f"item {name} failed on purpose")
    elif plan == "crash-once" and first:
        os._exit(3)
    elif plan.startswith("sleep:"):
        time.sleep(float(plan.removeprefix("sleep:")))
    return f"{name} {leaked} {rt.current_context().attempt}"


@rt.workflow
def items(jobs: list[str]) -> list[str]:
    return rt.map_task(quick)(job=jobs).with_runtime_override("q")


@rt.workflow
def bounded_items(jobs: list[str]) -> list[str]:
    return rt.map_task(bounded)(job=jobs)
