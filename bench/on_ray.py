"""The Ray rows (issue 10): the 500-node fan-out on Ray, on the local executor, and the same
functions called through Ray directly, in the same run.

Target: retune's time per task node on Ray at most 2x that of the same functions as plain Ray
tasks (``ray.remote(add.fn)`` with the nodes' effective requests: one Ray task per node, as
retune submits one per attempt), compared at the p50.

``ROUNDS`` timed runs of each (plain Ray, retune on Ray, retune on the local executor), one after
the other, each block after an untimed run of the same size, so that Ray's worker processes (up to 8:
the nodes ask for 250m cpu), the local executor's task processes and the SQLite schema exist before
the clock starts. Not interleaved: Ray keeps few idle workers, and alternating plain tasks with
retune's (another ``runtime_env``) restarts workers on every switch (measured: plain Ray 11.7 ms
per task interleaved, under 1 ms in a block). A local Ray (``ray.init(address="local", num_cpus=2, include_dashboard=False)``:
never another cluster of this machine) is started for these rows and shut down after them; every
retune run gets inputs no earlier run used (every node a cache miss); one RETUNE_HOME, store and
executor of each kind serve all the runs, opened before the warm-up.

The 500-item map rows wait for map items as attempts of their own (issue 10's map_task part): a
map node is still one attempt, so on Ray it would be one Ray task.
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

WIDTH, ROUNDS = 500, 5
TARGET_RATIO = 2.0
_seeds = itertools.count(1000)


def bench_ray_fan() -> list[Row]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # no `uv run` in workers (executors/ray.py)
    import ray  # here, not at the top: the other benchmarks neither need Ray nor pay its import

    from retune.executors.local import LocalExecutor
    from retune.executors.ray import RayExecutor
    from retune.store import open_blobs, open_store

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    seconds: dict[str, list[float]] = {}
    try:
        with fresh_home() as home:
            store = open_store(f"sqlite:///{home}/retune.db")
            blobs = open_blobs(home / "blobs")
            executors = {"ray": RayExecutor(blobs), "local": LocalExecutor(blobs)}
            try:
                runs = {"direct": _direct_fan, "direct_env": _direct_fan_with_env} | {
                    kind: _retune_fan(executor, store, blobs) for kind, executor in executors.items()
                }
                for kind, run in runs.items():
                    run(WIDTH, next(_seeds))  # the warm-up: a 100-node one left the first timed run 2x slower
                    seconds[kind] = [_timed(run, kind) for _ in range(ROUNDS)]
            finally:
                for executor in executors.values():
                    executor.close()
                store.close()
    finally:
        if started_here:
            ray.shutdown()
    return _rows({kind: summarise(s) for kind, s in seconds.items()})


def _rows(stats: dict[str, Any]) -> list[Row]:
    direct, direct_env, on_ray, local = stats["direct"], stats["direct_env"], stats["ray"], stats["local"]
    ratio = on_ray.p50 / direct.p50
    return [
        Row(
            f"rt.run fan-out {WIDTH} + reduce on Ray, per node",
            on_ray,
            f"≤ {TARGET_RATIO:g}× plain Ray",
            "PASS" if ratio <= TARGET_RATIO else "FAIL",
            ratio=f"{ratio:.1f}× ({format_seconds(direct.p50)})",
            note=(
                f"`rt.run(fan, executor=RayExecutor)` of {WIDTH + 1} task nodes (one Ray task per attempt, "
                "inputs and outputs through the blob store, every node a cache miss) on a local Ray with 2 "
                f"cpus; whole run / nodes, p50 of {ROUNDS} runs after an untimed one; compared with the "
                "plain Ray row"
            ),
        ),
        Row(
            f"rt.run fan-out {WIDTH} + reduce on the local executor, per node",
            local,
            "–",
            "info",
            ratio=f"{local.p50 / direct.p50:.1f}× ({format_seconds(direct.p50)})",
            note="the same runs with the local executor (its warm task processes), same warm-up",
        ),
        Row(
            f"baseline: fan-out {WIDTH} + reduce, the same functions as plain Ray tasks, per node",
            direct,
            "–",
            "info",
            note=(
                f"`ray.remote(add.fn)` {WIDTH} times with the nodes' effective requests as `num_cpus` and "
                "`memory` (the task default: 250m, 256Mi, so up to 8 at once on 2 cpus, as for retune), then "
                "`total.fn` as one more Ray task over their results"
            ),
        ),
        Row(
            "baseline: the same plain Ray tasks, each with a runtime_env like retune's, per node",
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


def _timed(run: Any, where: str) -> float:
    """Seconds per task node of one ``run(WIDTH, x)``, its result checked."""
    x = next(_seeds)
    began = time.perf_counter()
    result = run(WIDTH, x)
    took = time.perf_counter() - began
    expected = workloads.direct_fan(WIDTH, x)
    if result != expected:
        raise AssertionError(f"the fan-out of {WIDTH} on {where} gave {result!r}, expected {expected!r}")
    return took / (WIDTH + 1)


def _direct_fan(width: int, x: int) -> int:
    import ray

    requests = _requests()
    add = ray.remote(**requests)(workloads.add.fn)
    total = ray.remote(**requests)(workloads.total.fn)
    parts = [add.remote(x=x, k=k) for k in range(width)]
    return int(ray.get(total.remote(xs=ray.get(parts))))


def _direct_fan_with_env(width: int, x: int) -> int:
    """The same, each task with a ``runtime_env`` as retune's attempts have one (DESIGN §4:
    the environment is ``runtime_env.env_vars``; here ``RETUNE_CPU`` and ``RETUNE_BUNDLE``)."""
    import ray

    env = {"env_vars": {"RETUNE_CPU": "0.25", "RETUNE_BUNDLE": "bench"}}
    requests = {**_requests(), "runtime_env": env}
    add = ray.remote(**requests)(workloads.add.fn)
    total = ray.remote(**requests)(workloads.total.fn)
    parts = [add.remote(x=x, k=k) for k in range(width)]
    return int(ray.get(total.remote(xs=ray.get(parts))))


def _requests() -> dict[str, Any]:
    """The Ray task options of retune's attempts of the fan-out: its nodes' effective requests."""
    config = next(iter(rt.resolve(workloads.build_fan(1)).values())).config
    return {"num_cpus": config.requests.cpu, "memory": config.requests.mem, "max_retries": 0}


def _retune_fan(executor: Any, store: Any, blobs: Any) -> Any:
    """``run(width, x)``: ``rt.run`` of the fan-out with ``executor``, every node checked a miss."""
    workflow = workloads.build_fan(WIDTH)

    def run(width: int, x: int) -> int:
        assert width == WIDTH
        execution = rt.run(workflow, {"x": x}, executor=executor, store=store, blobs=blobs)
        if execution.phase is not Phase.SUCCEEDED or any(
            n.cache is not CacheStatus.MISS for n in execution.nodes
        ):
            raise AssertionError(f"the fan-out on {executor.name} did not run every node: {execution.phase}")
        return int(execution.outputs)

    return run
