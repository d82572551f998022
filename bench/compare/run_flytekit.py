"""flytekit's local execution of the bench workloads: ``python run_flytekit.py WORKLOAD SIZE REPS BUDGET``.

Calling a ``@workflow`` outside a cluster runs it in this process, one task after another;
``cache=True`` tasks go through flytekit's local cache (diskcache, SQLite files under
``~/.flyte/local-cache``: the caller points HOME at a fresh directory). Nothing else persists,
and tasks are not isolated from the caller or each other.
"""

from __future__ import annotations

from typing import Any

import flytekit
from _protocol import args, emit, inputs_for, measure
from flytekit import map_task, task, workflow


@task(cache=True, cache_version="1")
def inc(x: int) -> int:
    return x + 1


@task(cache=True, cache_version="1")
def add(x: int, k: int) -> int:
    return x + k


@task(cache=True, cache_version="1")
def total(xs: list[int]) -> int:
    return sum(xs)


def build(workload: str, size: int) -> Any:
    if workload == "chain":

        @workflow
        def chain(x: int) -> int:
            for _ in range(size):
                x = inc(x=x)
            return x

        return chain
    if workload == "fan":

        @workflow
        def fan(x: int) -> int:
            return total(xs=[add(x=x, k=k) for k in range(size)])

        return fan

    @workflow
    def mapped(xs: list[int]) -> list[int]:
        return map_task(inc)(x=xs)

    return mapped


def direct(workload: str, size: int) -> Any:
    inc_fn, add_fn, total_fn = inc.task_function, add.task_function, total.task_function
    if workload == "chain":

        def chain(given: dict[str, Any]) -> int:
            x = given["x"]
            for _ in range(size):
                x = inc_fn(x=x)
            return x

        return chain
    if workload == "fan":
        return lambda given: total_fn(xs=[add_fn(x=given["x"], k=k) for k in range(size)])
    return lambda given: [inc_fn(x=v) for v in given["xs"]]


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
    emit("flytekit", flytekit.__version__, workload, size, result)


if __name__ == "__main__":
    main()
