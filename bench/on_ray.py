"""The Ray rows (issue 10): the 500-node fan-out on Ray, on the local executor, and the same
functions called through Ray directly, in the same run.

Target: retune's time per task on Ray at most 2x that of the same functions as plain Ray tasks
(``ray.remote(add.fn)``: one Ray task per node, as retune submits one per attempt).

One timed run of each, after an untimed warm-up of each (a 100-node fan-out through retune, the
same through plain Ray), so that Ray's worker processes (up to 8: the nodes ask for 250m cpu), the local executor's task processes and
the SQLite schema exist before the clock starts: what is timed is the per-task cost, not
start-up. A local Ray (``ray.init(address="local", num_cpus=2, include_dashboard=False)``) is started for these
rows and shut down after them; every retune run gets inputs no earlier run used (cache misses),
a fresh RETUNE_HOME, an executor and a store opened beforehand.

The 500-item map rows wait for map items as attempts of their own (issue 10's map_task part):
a map node is still one attempt, so on Ray it would be one Ray task.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import retune as rt
from bench import workloads
from bench.execution import fresh_home
from bench.report import Row, format_seconds
from bench.timing import summarise
from retune.model.execution import CacheStatus, Phase

WIDTH, WARMUP_WIDTH = 500, 100
TARGET_RATIO = 2.0
_seeds = itertools.count(1000)


def bench_ray_fan() -> list[Row]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
    import ray  # here, not at the top: the other benchmarks neither need Ray nor pay its import

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    try:
        direct = _direct_per_task()
        on_ray = _retune_per_task("ray")
        local = _retune_per_task("local")
    finally:
        if started_here:
            ray.shutdown()
    ratio = on_ray / direct
    tasks = WIDTH + 1
    return [
        Row(
            f"rt.run fan-out {WIDTH} + reduce on Ray, per node",
            summarise([on_ray]),
            f"≤ {TARGET_RATIO:g}× direct Ray",
            "PASS" if ratio <= TARGET_RATIO else "FAIL",
            ratio=f"{ratio:.1f}× ({format_seconds(direct)})",
            note=(
                f"one timed `rt.run(fan, executor=RayExecutor)` of {tasks} task nodes (one Ray task per "
                "attempt, inputs and outputs through the blob store, every node a cache miss) on a local "
                "Ray with 2 cpus, after a 100-node warm-up; whole run / nodes, compared with the direct Ray row"
            ),
        ),
        Row(
            f"rt.run fan-out {WIDTH} + reduce on the local executor, per node",
            summarise([local]),
            "–",
            "info",
            ratio=f"{local / direct:.1f}× ({format_seconds(direct)})",
            note="the same run with the local executor (its warm task processes), same warm-up",
        ),
        Row(
            f"baseline: fan-out {WIDTH} + reduce, the same functions as plain Ray tasks, per node",
            summarise([direct]),
            "–",
            "info",
            note=(
                f"`ray.remote(add.fn)` {WIDTH} times with the nodes' effective requests as `num_cpus` and "
                "`memory` (the task default: 250m, 256Mi, so up to 8 at once on 2 cpus, as for retune), then "
                "`total.fn` as one more Ray task over their results; one timed run after a 100-node warm-up"
            ),
        ),
    ]


def _direct_per_task() -> float:
    """Seconds per task node of the fan-out as plain Ray tasks, after an untimed smaller one."""
    _direct_fan(WARMUP_WIDTH, next(_seeds))
    x = next(_seeds)
    began = time.perf_counter()
    result = _direct_fan(WIDTH, x)
    took = time.perf_counter() - began
    _expect(result, x, "plain Ray")
    return took / (WIDTH + 1)


def _direct_fan(width: int, x: int) -> int:
    import ray

    requests = _requests()
    add = ray.remote(**requests)(workloads.add.fn)
    total = ray.remote(**requests)(workloads.total.fn)
    parts = [add.remote(x=x, k=k) for k in range(width)]
    return int(ray.get(total.remote(xs=ray.get(parts))))


def _requests() -> dict[str, Any]:
    """The Ray task options of retune's attempts of the fan-out: its nodes' effective requests."""
    config = next(iter(rt.resolve(workloads.build_fan(1)).values())).config
    return {"num_cpus": config.requests.cpu, "memory": config.requests.mem, "max_retries": 0}


def _retune_per_task(kind: str) -> float:
    """Seconds per task node of ``rt.run`` of the fan-out on the executor ``kind``, opened
    with the store before the clock starts and warmed by an untimed smaller run."""
    from retune.executors.local import LocalExecutor
    from retune.executors.ray import RayExecutor
    from retune.store import open_blobs, open_store

    workflow = workloads.build_fan(WIDTH)
    with fresh_home() as home:
        store = open_store(f"sqlite:///{home}/retune.db")
        blobs = open_blobs(home / "blobs")
        executor = RayExecutor(blobs) if kind == "ray" else LocalExecutor(blobs)
        try:
            options: dict[str, Any] = {"executor": executor, "store": store, "blobs": blobs}
            rt.run(workloads.build_fan(WARMUP_WIDTH), {"x": next(_seeds)}, **options)
            x = next(_seeds)
            began = time.perf_counter()
            execution = rt.run(workflow, {"x": x}, **options)
            took = time.perf_counter() - began
        finally:
            executor.close()
            store.close()
    if execution.phase is not Phase.SUCCEEDED or any(
        n.cache is not CacheStatus.MISS for n in execution.nodes
    ):
        raise AssertionError(f"the fan-out on {kind} did not run every node: {execution.phase}")
    _expect(execution.outputs, x, f"rt.run on {kind}")
    return took / (WIDTH + 1)


def _expect(result: Any, x: int, where: str) -> None:
    expected = workloads.direct_fan(WIDTH, x)
    if result != expected:
        raise AssertionError(f"the fan-out of {WIDTH} {where} gave {result!r}, expected {expected!r}")
