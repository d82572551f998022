"""Dagster's ``execute_in_process`` of the bench workloads: ``python run_dagster.py WORKLOAD SIZE REPS BUDGET``.

``GraphDefinition.execute_in_process`` runs every op in this process, one after another, on an
ephemeral instance (runs and events in memory) with the in-memory IO manager: nothing
persists and ops are not isolated. Dagster has no per-op result cache, so these run uncached.
An op's inputs must come from other ops or graph inputs, so the fan-out's per-node constant
``k`` is baked into 500 op definitions (``add_0`` ... ``add_499``) made by a factory, and a map
is a ``DynamicOut`` op (``split``) whose outputs are mapped and collected into ``gather``:
two ops more than the other frameworks' map, counted in nothing but the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster
from _protocol import args, emit, inputs_for, measure
from dagster import DynamicOut, DynamicOutput, OpDefinition, graph, op


@op
def inc(x: int) -> int:
    return x + 1


def add_op(k: int) -> OpDefinition:
    @op(name=f"add_{k}")
    def add(x: int) -> int:
        return x + k

    return add


@op
def total(xs: list[int]) -> int:
    return sum(xs)


@op(out=DynamicOut(int))
def split(xs: list[int]) -> Iterator[DynamicOutput[int]]:
    for i, value in enumerate(xs):
        yield DynamicOutput(value, mapping_key=str(i))


@op
def gather(xs: list[int]) -> list[int]:
    return xs


def build(workload: str, size: int) -> Any:
    if workload == "chain":

        @graph
        def chain(x: int) -> int:
            for _ in range(size):
                x = inc(x)
            return x

        return chain
    if workload == "fan":
        adds = [add_op(k) for k in range(size)]

        @graph
        def fan(x: int) -> int:
            return total([add(x) for add in adds])

        return fan

    @graph
    def mapped(xs: list[int]) -> list[int]:
        return gather(split(xs).map(inc).collect())

    return mapped


def direct(workload: str, size: int) -> Any:
    inc_fn, total_fn = inc.compute_fn.decorated_fn, total.compute_fn.decorated_fn
    if workload == "chain":

        def chain(given: dict[str, Any]) -> int:
            x = given["x"]
            for _ in range(size):
                x = inc_fn(x)
            return x

        return chain
    if workload == "fan":
        adds = [add_op(k).compute_fn.decorated_fn for k in range(size)]
        return lambda given: total_fn([add(given["x"]) for add in adds])
    return lambda given: [inc_fn(v) for v in given["xs"]]


def main() -> None:
    workload, size, reps, budget = args()
    wf = build(workload, size)

    def run(given: dict[str, Any]) -> Any:
        return wf.execute_in_process(input_values=given).output_value()

    result = measure(run, direct(workload, size), inputs_for(workload, size), reps=reps, budget=budget)
    emit("dagster", dagster.__version__, workload, size, result)


if __name__ == "__main__":
    main()
