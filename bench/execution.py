"""retune's side of the per-task overhead rows: ``rt.run`` against the same functions called directly.

Every measurement runs in a fresh ``RETUNE_HOME`` (a temporary directory, so an empty SQLite
store and blob directory; ``RETUNE_DATABASE_URL`` is removed for the duration) and every
repetition gets inputs no earlier run used, so each node's cache lookup misses; each record
is checked: execution succeeded, output equal to the direct call's, every node ``miss``.

Four figures per workload, each per task (node, item): total time minus the direct calls'
p50, divided by the number of tasks.

- **first run in a fresh process**: ``python -m bench.firstrun`` per repetition (the store
  already exists: an untimed first subprocess created it), timing ``rt.run`` from inside, so
  compiling the workflow, opening the stores and starting the local executor and its worker
  processes are all in it; interpreter start-up and ``import retune`` are not (see the import
  and ``retune run`` rows). What a script running one workflow pays.
- **whole rt.run**: ``rt.run(wf, inputs)`` called again in the same process, with nothing
  else: it uses the store and the executor ``rt.run`` keeps open for the process (both opened
  by the warm-up run, as in a notebook's second run: ``api.wiring.shared_store``,
  ``_executor``); the suite counts the worker processes started inside each timed run (new children of
  this process), so the row's note says whether executor start-up was inside. The workflow
  was compiled by the untimed warm-up run, which also created the schema.
- **warm**: the same runs given an executor and a store opened once beforehand (one warm-up
  run first), so executor start-up and store opening are outside the timed region.
- **marginal**: with that warm executor and store, runs of size n and 2n interleaved; the
  figure is ((t_2n - direct_2n) - (t_n - direct_n)) / (tasks_2n - tasks_n), repetition by
  repetition: what one more task costs once everything is running.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import retune as rt
from bench import workloads
from bench.timing import Stats, measure, profile, summarise
from retune.model.execution import CacheStatus, Execution, Phase

PROFILE_TOP = 10
ROOT = Path(__file__).resolve().parent.parent
_seeds = itertools.count(1)


@contextmanager
def fresh_home() -> Iterator[Path]:
    """``RETUNE_HOME`` in a new temporary directory (settings re-read), removed afterwards."""
    from retune import settings

    saved = {name: os.environ.get(name) for name in ("RETUNE_HOME", "RETUNE_DATABASE_URL")}
    home = Path(tempfile.mkdtemp(prefix="retune-bench-"))
    os.environ["RETUNE_HOME"] = str(home)
    os.environ.pop("RETUNE_DATABASE_URL", None)
    settings.load.cache_clear()
    try:
        yield home
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings.load.cache_clear()
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class Workload:
    """One shape; ``key`` is its name in the comparison scripts."""

    key: str
    size: int
    label: str
    unit: str
    target: float  # seconds per unit
    build: Callable[[int], rt.Workflow[Any, Any]]
    direct: Callable[[int, dict[str, Any]], Any]

    def units(self, size: int | None = None) -> int:
        size = self.size if size is None else size
        return size + 1 if self.key == "fan" else size

    def inputs(self, size: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Inputs no earlier run used (seeds a million apart; pass ``seed`` across processes)."""
        start = (next(_seeds) if seed is None else seed) * 1_000_000
        if self.key == "map":
            return {"xs": list(range(start, start + (self.size if size is None else size)))}
        return {"x": start}


CHAIN = Workload(
    "chain",
    200,
    "200-task chain",
    "task",
    0.001,
    workloads.build_chain,
    lambda n, given: workloads.direct_chain(n, given["x"]),
)
FAN = Workload(
    "fan",
    500,
    "500-node fan-out + reduce",
    "node",
    0.001,
    workloads.build_fan,
    lambda n, given: workloads.direct_fan(n, given["x"]),
)
MAP = Workload(
    "map",
    500,
    "500-item map_task",
    "item",
    0.0001,
    lambda _: workloads.mapped,
    lambda _, given: workloads.direct_map(given["xs"]),
)
WORKLOADS = {w.key: w for w in (CHAIN, FAN, MAP)}


@dataclass
class Measured:
    workload: Workload
    direct: Stats  # seconds for the whole direct computation of ``size``
    direct_double: Stats
    first: list[float] = field(default_factory=list)  # seconds of rt.run, first in a fresh process
    whole: list[float] = field(default_factory=list)  # seconds per rt.run
    spawned: list[int | None] = field(default_factory=list)  # worker processes started per whole run
    warm: list[float] = field(default_factory=list)
    warm_double: list[float] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)

    def per_unit(self, runs: list[float]) -> Stats:
        units = self.workload.units()
        return summarise([(t - self.direct.p50) / units for t in runs])

    def marginal(self) -> Stats:
        w = self.workload
        extra = w.units(2 * w.size) - w.units()
        return summarise(
            [
                ((double - self.direct_double.p50) - (single - self.direct.p50)) / extra
                for single, double in zip(self.warm, self.warm_double, strict=True)
            ]
        )


def measure_workload(workload: Workload, *, reps: int, warmups: int, with_profile: bool) -> Measured:
    size, double = workload.size, 2 * workload.size
    measured = Measured(
        workload,
        direct=_direct(workload, size),
        direct_double=_direct(workload, double),
    )
    with fresh_home() as home:
        measured.first = _first_runs(workload, home, reps=reps)
    with fresh_home():
        wf = workload.build(size)
        for _ in range(warmups):
            _checked_run(workload, wf, size)
        for _ in range(reps):
            before = _children()
            measured.whole.append(_checked_run(workload, wf, size))
            after = _children()
            measured.spawned.append(None if before is None or after is None else len(after - before))
        if with_profile:
            text = profile(
                lambda given: rt.run(wf, given),
                setup=lambda: workload.inputs(size),
                top=PROFILE_TOP,
                sorts=("tottime", "cumulative"),
            )
            measured.profile = [
                "cProfile of one more whole rt.run (engine process, main thread only: the executor's "
                f"threads and the worker processes are not in it), top {PROFILE_TOP} by own time, then "
                "by cumulative time",
                *text.splitlines(),
            ]
    with fresh_home(), _warm_parts() as parts:
        single, twice = workload.build(size), workload.build(double)
        for _ in range(warmups):
            _checked_run(workload, single, size, parts)
            _checked_run(workload, twice, double, parts)
        for _ in range(reps):
            measured.warm.append(_checked_run(workload, single, size, parts))
            measured.warm_double.append(_checked_run(workload, twice, double, parts))
    return measured


def _first_runs(workload: Workload, home: Path, *, reps: int) -> list[float]:
    """``python -m bench.firstrun`` once untimed (it creates the store), then ``reps`` times."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RETUNE_")}
    env["RETUNE_HOME"] = str(home)
    seconds = []
    for rep in range(reps + 1):
        seed = next(_seeds)
        result = subprocess.run(
            [sys.executable, "-m", "bench.firstrun", workload.key, str(seed)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"bench.firstrun {workload.key} exited {result.returncode}: {result.stderr[-2000:]}"
            )
        if rep:
            seconds.append(json.loads(result.stdout.strip().splitlines()[-1])["seconds"])
    return seconds


def _children() -> set[str] | None:
    """PIDs of this process's children (Linux ``/proc``), or None where that cannot be read."""
    pids: set[str] = set()
    try:
        for task in Path("/proc/self/task").iterdir():
            pids.update((task / "children").read_text().split())
    except OSError:
        return None
    return pids


def _direct(workload: Workload, size: int) -> Stats:
    return summarise(
        measure(
            lambda given: workload.direct(size, given),
            setup=lambda: workload.inputs(size),
            reps=20,
            warmups=2,
        )
    )


@contextmanager
def _warm_parts() -> Iterator[dict[str, Any]]:
    """A blob store, a SQLite store and a local executor, open for several runs."""
    from retune.executors.local import LocalExecutor
    from retune.store import open_blobs, open_store

    blobs = open_blobs()
    store = open_store()
    executor = LocalExecutor(blobs)
    try:
        yield {"blobs": blobs, "store": store, "executor": executor}
    finally:
        executor.close()
        store.close()


def checked(workload: Workload, record: Execution, given: dict[str, Any], size: int) -> None:
    """The run succeeded, returned what the direct calls return, and every node was a cache miss."""
    _check(record, workload.direct(size, given), workload.units(size) if workload.key != "map" else 1)


def _checked_run(
    workload: Workload, wf: rt.Workflow[Any, Any], size: int, parts: dict[str, Any] | None = None
) -> float:
    given = workload.inputs(size)
    gc.collect()
    start = time.perf_counter()
    record = rt.run(wf, given, **(parts or {}))
    seconds = time.perf_counter() - start
    checked(workload, record, given, size)
    return seconds


def _check(record: Execution, expected: Any, nodes: int) -> None:
    if record.phase is not Phase.SUCCEEDED:
        raise AssertionError(f"execution {record.id} ended {record.phase}: {record.error}")
    if record.outputs != expected:
        raise AssertionError(f"execution {record.id} returned {str(record.outputs)[:100]}, not {expected}")
    if len(record.nodes) != nodes:
        raise AssertionError(f"execution {record.id} has {len(record.nodes)} nodes, expected {nodes}")
    hits = [n.path for n in record.nodes if n.cache is not CacheStatus.MISS]
    if hits:
        raise AssertionError(f"execution {record.id}: nodes not a cache miss: {hits[:5]}")
