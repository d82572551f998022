"""A map whose items say what to do: ``"LEDGER|NAME|PLAN"``. Every attempt of an item appends
``start NAME PID TIME`` to LEDGER, and ``end NAME TIME`` when it returns. PLAN is one of
``sleep:SECONDS`` (no sleep once ``LEDGER.fast`` exists), ``fail-once`` (fails its first
attempt, leaving a marker file ``LEDGER.failed.NAME``) and ``fail``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import retune as rt


def _write(ledger: str, line: str) -> None:
    with open(ledger, "a") as f:
        f.write(line + "\n")


@rt.task
def each(job: str) -> str:
    ledger, name, plan = job.split("|")
    _write(ledger, f"start {name} {os.getpid()} {time.time()}")
    marker = Path(f"{ledger}.failed.{name}")
    if plan == "fail" or (plan == "fail-once" and not marker.exists()):
        marker.touch()
        raise RuntimeError(f"item {name} failed on purpose")
    if plan.startswith("sleep:") and not Path(ledger + ".fast").exists():
        time.sleep(float(plan.removeprefix("sleep:")))
    _write(ledger, f"end {name} {time.time()}")
    return name


@rt.workflow
def items(jobs: list[str]) -> list[str]:
    return rt.map_task(each)(job=jobs).with_runtime_override("each")
