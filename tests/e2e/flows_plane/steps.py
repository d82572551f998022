"""Tasks of the control-plane end-to-end test. Each body records the attempt it ran in, so the
test can tell whether any node ran twice."""

from __future__ import annotations

import os
import time

import retune as rt


def _record() -> None:
    """One line per body run: execution, node, attempt, and the worker that ran it."""
    ctx = rt.current_context()
    worker = os.environ.get("RETUNE_TEST_WORKER", "-")
    with open(os.environ["RETUNE_TEST_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"{ctx.execution_id} {ctx.node} {ctx.attempt} {worker}\n")


@rt.task
def step(x: int) -> int:
    time.sleep(float(os.environ.get("RETUNE_TEST_STEP_SECONDS", "0.05")))
    _record()
    return x + 1


@rt.task
def report(x: int) -> str:
    """What the node saw of its effective config: its TAG variable, its cpu and its retries."""
    ctx = rt.current_context()
    _record()
    print(f"reporting for {os.environ.get('TAG', '-')}")
    return (
        f"{os.environ.get('TAG', '-')}|cpu={os.environ['RETUNE_CPU']}|retries={ctx.config['retries']}|x={x}"
    )
