"""Prefect's local run of the bench workloads: ``python run_prefect.py WORKLOAD SIZE REPS BUDGET``.

Prefect's default local setup: with no API URL configured, the first flow call starts a
temporary Prefect server (a subprocess, SQLite at ``PREFECT_HOME/prefect.db``; the caller points
PREFECT_HOME at a fresh directory) that records every flow and task run and their states.
Tasks cache on their inputs and source (``cache_policy=INPUTS + TASK_SOURCE``) with results
persisted to ``PREFECT_HOME/storage`` (``persist_result=True``): without persisted results a
Prefect cache cannot be reused. Tasks run in the flow's process (threads for ``submit`` and
``map``), not isolated. The server starts in the untimed warm-up and stays up for the reps.
"""

from __future__ import annotations

from typing import Any

import prefect
from _protocol import args, emit, inputs_for, measure
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

CACHE = INPUTS + TASK_SOURCE


@task(cache_policy=CACHE, persist_result=True)
def inc(x: int) -> int:
    return x + 1


@task(cache_policy=CACHE, persist_result=True)
def add(x: int, k: int) -> int:
    return x + k


@task(cache_policy=CACHE, persist_result=True)
def total(xs: list[int]) -> int:
    return sum(xs)


def build(workload: str, size: int) -> Any:
    if workload == "chain":

        @flow
        def chain(x: int) -> int:
            for _ in range(size):
                x = inc(x)
            return x

        return chain
    if workload == "fan":

        @flow
        def fan(x: int) -> int:
            return total([add.submit(x, k) for k in range(size)])

        return fan

    @flow
    def mapped(xs: list[int]) -> list[int]:
        return inc.map(xs).result()

    return mapped


def direct(workload: str, size: int) -> Any:
    inc_fn, add_fn, total_fn = inc.fn, add.fn, total.fn
    if workload == "chain":

        def chain(given: dict[str, Any]) -> int:
            x = given["x"]
            for _ in range(size):
                x = inc_fn(x)
            return x

        return chain
    if workload == "fan":
        return lambda given: total_fn([add_fn(given["x"], k) for k in range(size)])
    return lambda given: [inc_fn(v) for v in given["xs"]]


def main() -> None:
    workload, size, reps, budget = args()
    wf = build(workload, size)
    result = measure(
        lambda given: wf(**given),
        direct(workload, size),
        inputs_for(workload, size),
        reps=reps,
        budget=budget,
    )
    emit("prefect", prefect.__version__, workload, size, result)


if __name__ == "__main__":
    main()
