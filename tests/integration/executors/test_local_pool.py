"""How many task processes the local executor keeps: short attempts (a fan-out of trivial tasks)
never grow the pool past the cores, since another process would only take turns on them; long
ones (sleeps) still do, also on an executor that saw only short attempts before.

Real task processes; flows_batches.py's map, each run a fresh set of inputs."""

from __future__ import annotations

from pathlib import Path

import flows_batches as flows

import retune as rt
from retune.executors import local
from retune.executors.local import LocalExecutor
from retune.model.execution import Phase
from retune.store.base import BlobStore, Store

Parts = tuple[LocalExecutor, Store, BlobStore]


def run_map(parts: Parts, where: Path, plans: list[str]) -> None:
    executor, store, blobs = parts
    where.mkdir()
    record = rt.run(
        flows.items,
        {"jobs": [f"{where}|{i}|{plan}" for i, plan in enumerate(plans)]},
        executor=executor,
        store=store,
        blobs=blobs,
    )
    assert record.phase is Phase.SUCCEEDED


def test_short_attempts_keep_no_more_task_processes_than_cores(parts: Parts, tmp_path: Path) -> None:
    for run in range(4):
        run_map(parts, tmp_path / str(run), ["ok"] * 300)

    assert len(parts[0]._slots) <= max(local._CORES, 1)


def test_long_attempts_after_short_ones_still_run_side_by_side(parts: Parts, tmp_path: Path) -> None:
    for run in range(2):
        run_map(parts, tmp_path / str(run), ["ok"] * 300)
    items = max(local._CORES, 1) * 2  # twice as many sleeps as there are cores

    run_map(parts, tmp_path / "sleeps", ["sleep:1"] * items)

    # the pool grew for them (how soon is the bench's "4 x 1 s map items" row)
    assert len(parts[0]._slots) > max(local._CORES, 1)
