"""The Ray rows (issue 10): the 500-node fan-out and the 500-item map on Ray, on the local
executor, and the same functions called through Ray directly, in the same run.

Target: retune's time per task node (fan-out) or per item (map) on Ray at most 2x that of the
same functions as plain Ray tasks (``ray.remote(fn)`` with the nodes' effective requests: one Ray
task per node or item, as retune submits one per attempt), compared at the p50.

- fan-out: ``WIDTH`` independent ``add`` nodes, then one ``total`` over their results;
  plain Ray: ``add.remote`` ``WIDTH`` times, then ``total.remote`` over ``ray.get`` of them.
- map: ``rt.map_task(inc)`` over ``ITEMS`` values (one attempt, so one Ray task, per item);
  plain Ray: ``ray.get([inc.remote(x=v) for v in xs])``.

``ROUNDS`` timed runs of each (plain Ray, plain Ray with a ``runtime_env``, retune on Ray,
retune on the local executor), one after the other, each block after an untimed run of the
same size, so that Ray's worker processes (up to 8: the tasks ask for 250m cpu), the local
executor's task processes and the SQLite schema exist before the clock starts. Not interleaved:
Ray keeps few idle workers, and alternating plain tasks with retune's (another ``runtime_env``)
restarts workers on every switch (measured: plain Ray 11.7 ms per task interleaved, under 1 ms
in a block). A local Ray (``ray.init(address="local", num_cpus=2, include_dashboard=False)``:
never another cluster of this machine) is started for each benchmark and shut down after it;
every retune run gets inputs no earlier run used (every node and every map a cache miss); one
RETUNE_HOME, store and executor of each kind serve all the runs of a benchmark, opened before
the warm-ups.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import retune as rt
from bench import workloads
from bench.execution import fresh_home
from bench.report import Row, format_seconds
from bench.timing import Stats, summarise
from retune.model.execution import CacheStatus, Phase

WIDTH, ITEMS, ROUNDS = 500, 500, 5
TARGET_RATIO = 2.0
ENV = {"env_vars": {"RETUNE_CPU": "0.25", "RETUNE_BUNDLE": "bench"}}
"""A ``runtime_env`` like that of retune's attempts (DESIGN §4: the environment is
``runtime_env.env_vars``; here ``RETUNE_CPU`` and ``RETUNE_BUNDLE``)."""

_seeds = itertools.count(1000)
Run = Callable[[int], Any]


@dataclass(frozen=True)
class Shape:
    """One workload: how many task units (nodes or items) it has, and how to run it."""

    key: str
    title: str
    unit: str
    units: int
    direct: Callable[[int, dict[str, Any]], Any]
    """``direct(x, options)``: the same functions as plain Ray tasks with ``options``."""
    workflow: Callable[[], rt.Workflow[Any, Any]]
    inputs: Callable[[int], dict[str, Any]]
    expected: Callable[[int], Any]


def _direct_fan(x: int, options: dict[str, Any]) -> int:
    import ray

    add = ray.remote(**options)(workloads.add.fn)
    total = ray.remote(**options)(workloads.total.fn)
    parts = [add.remote(x=x, k=k) for k in range(WIDTH)]
    return int(ray.get(total.remote(xs=ray.get(parts))))


def _direct_map(x: int, options: dict[str, Any]) -> list[int]:
    import ray

    inc = ray.remote(**options)(workloads.inc.fn)
    return list(ray.get([inc.remote(x=v) for v in _items(x)]))


def _items(x: int) -> list[int]:
    return [x * ITEMS + i for i in range(ITEMS)]


FAN = Shape(
    "fan",
    f"fan-out {WIDTH} + reduce",
    "node",
    WIDTH + 1,
    _direct_fan,
    lambda: workloads.build_fan(WIDTH),
    lambda x: {"x": x},
    lambda x: workloads.direct_fan(WIDTH, x),
)
MAP = Shape(
    "map",
    f"map_task of {ITEMS} items",
    "item",
    ITEMS,
    _direct_map,
    lambda: workloads.mapped,
    lambda x: {"xs": _items(x)},
    lambda x: workloads.direct_map(_items(x)),
)


def bench_ray_fan() -> list[Row]:
    return _rows(FAN, _measure(FAN))


def bench_ray_map() -> list[Row]:
    return _rows(MAP, _measure(MAP))


def _measure(shape: Shape) -> dict[str, Stats]:
    """p50 etc. of seconds per unit of ``shape`` for every way of running it."""
    from retune.executors.local import LocalExecutor
    from retune.executors.ray import RayExecutor
    from retune.store import open_blobs, open_store

    seconds: dict[str, list[float]] = {}
    with _local_ray(), fresh_home() as home:
        store = open_store(f"sqlite:///{home}/retune.db")
        blobs = open_blobs(home / "blobs")
        executors = {"ray": RayExecutor(blobs), "local": LocalExecutor(blobs)}
        try:
            options = _requests(shape)
            runs: dict[str, Run] = {
                "direct": lambda x: shape.direct(x, options),
                "direct_env": lambda x: shape.direct(x, {**options, "runtime_env": ENV}),
            } | {kind: _retune(shape, executor, store, blobs) for kind, executor in executors.items()}
            for kind, run in runs.items():
                run(next(_seeds))  # the warm-up: a smaller one left the first timed run 2x slower
                seconds[kind] = [_timed(shape, run, kind) for _ in range(ROUNDS)]
        finally:
            for executor in executors.values():
                executor.close()
            store.close()
    return {kind: summarise(s) for kind, s in seconds.items()}


@contextlib.contextmanager
def _local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # no `uv run` in workers (executors/ray.py)
    import ray  # here, not at the top: the other benchmarks neither need Ray nor pay its import

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _rows(shape: Shape, stats: dict[str, Stats]) -> list[Row]:
    direct, direct_env, on_ray, local = stats["direct"], stats["direct_env"], stats["ray"], stats["local"]
    ratio = on_ray.p50 / direct.p50
    unit, units = shape.unit, shape.units
    how = "one Ray task per node" if shape is FAN else "one attempt, so one Ray task, per item"
    plain = (
        f"`ray.remote(add.fn)` {WIDTH} times, then `total.fn` as one more Ray task over their results"
        if shape is FAN
        else f"`ray.get([inc.remote(x=v) for v in xs])` over {ITEMS} values"
    )
    return [
        Row(
            f"rt.run {shape.title} on Ray, per {unit}",
            on_ray,
            f"≤ {TARGET_RATIO:g}× plain Ray",
            "PASS" if ratio <= TARGET_RATIO else "FAIL",
            ratio=f"{ratio:.1f}× ({format_seconds(direct.p50)})",
            note=(
                f"`rt.run(..., executor=RayExecutor)` of the {shape.title} ({units} {unit}s, {how}, inputs "
                "and outputs through the blob store, a cache miss every time) on a local Ray with 2 cpus; "
                f"whole run / {unit}s, p50 of {ROUNDS} runs after an untimed one; compared with the plain "
                "Ray row"
            ),
        ),
        Row(
            f"rt.run {shape.title} on the local executor, per {unit}",
            local,
            "–",
            "info",
            ratio=f"{local.p50 / direct.p50:.1f}× ({format_seconds(direct.p50)})",
            note="the same runs with the local executor (its warm task processes), same warm-up",
        ),
        Row(
            f"baseline: {shape.title}, the same functions as plain Ray tasks, per {unit}",
            direct,
            "–",
            "info",
            note=(
                f"{plain}, with the tasks' effective requests as `num_cpus` and `memory` (the default: "
                "250m, 256Mi, so up to 8 at once on 2 cpus, as for retune) and `max_retries=0`"
            ),
        ),
        Row(
            f"baseline: {shape.title}, the same plain Ray tasks with a runtime_env like retune's, per {unit}",
            direct_env,
            "–",
            "info",
            ratio=f"{direct_env.p50 / direct.p50:.1f}× ({format_seconds(direct.p50)})",
            note=(
                "the row above with `runtime_env={'env_vars': {...}}` on every task, as every retune attempt "
                "has (DESIGN §4: the environment is `runtime_env.env_vars`): what Ray itself charges for it"
            ),
        ),
    ]


def _timed(shape: Shape, run: Run, where: str) -> float:
    """Seconds per unit of one run, its result checked."""
    x = next(_seeds)
    began = time.perf_counter()
    result = run(x)
    took = time.perf_counter() - began
    expected = shape.expected(x)
    if result != expected:
        raise AssertionError(f"the {shape.title} on {where} gave {result!r}, expected {expected!r}")
    return took / shape.units


def _requests(shape: Shape) -> dict[str, Any]:
    """The Ray task options of retune's attempts of ``shape``: its nodes' effective requests."""
    config = next(iter(rt.resolve(shape.workflow()).values())).config
    return {"num_cpus": config.requests.cpu, "memory": config.requests.mem, "max_retries": 0}


def _retune(shape: Shape, executor: Any, store: Any, blobs: Any) -> Run:
    """``run(x)``: ``rt.run`` of ``shape`` with ``executor``, every node checked a miss."""
    workflow = shape.workflow()

    def run(x: int) -> Any:
        execution = rt.run(workflow, shape.inputs(x), executor=executor, store=store, blobs=blobs)
        if execution.phase is not Phase.SUCCEEDED or any(
            n.cache is not CacheStatus.MISS for n in execution.nodes
        ):
            raise AssertionError(
                f"the {shape.title} on {executor.name} did not run every node: {execution.phase}"
            )
        return execution.outputs

    return run
