"""Abort of a launched execution whose attempt is running (DESIGN §8, issue 12's done-when): the
worker's engine cancels the attempt, so its task process is killed within 2 s of the abort
being seen, not left to run its 60 s."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from retune.control import LocalControlPlane
from retune.executors.factory import build_executor
from retune.model.control import ExecutionRequest
from retune.model.execution import Phase
from retune.settings import Settings
from retune.store import open_blobs, open_store
from retune.store.sql import SqlStore
from retune.testing import register_source
from retune.worker import Worker

FLOWS = """
import os
import time
from pathlib import Path

import retune as rt


@rt.task
def sleepy(pid_file: str) -> int:
    Path(pid_file + ".partial").write_text(str(os.getpid()))
    Path(pid_file + ".partial").rename(pid_file)
    time.sleep(60)
    return 1


@rt.workflow
def wf(pid_file: str) -> int:
    return sleepy(pid_file=pid_file)
"""

WITHIN = 2.0


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@dataclass
class Running:
    """A launched execution whose one task is running on a worker's thread (``retune worker``'s
    executor), and that task's pid."""

    store: SqlStore
    plane: LocalControlPlane
    execution_id: str
    thread: threading.Thread
    pid: int


@pytest.fixture
def running(database_url: str, tmp_path: Path) -> Iterator[Running]:
    store, blobs = open_store(database_url), open_blobs(tmp_path / "blobs")
    plane = LocalControlPlane(store, blobs)
    (spec,) = register_source(plane, FLOWS, tmp_path)[1]
    executor = build_executor(Settings(home=tmp_path), blobs)  # what `retune worker` runs
    worker = Worker(store, blobs, executor, lease=1.5, poll=0.05)
    pid_file = tmp_path / "task.pid"
    pid = None
    try:
        request = {
            "project": "p",
            "domain": "d",
            "workflow": spec.name,
            "inputs": {"pid_file": str(pid_file)},
        }
        execution_id = plane.launch(ExecutionRequest.model_validate(request))[0].id
        thread = threading.Thread(target=worker.serve, kwargs={"once": True})
        thread.start()
        _wait(pid_file.exists)
        pid = int(pid_file.read_text())
        yield Running(store, plane, execution_id, thread, pid)
    finally:
        if pid is not None and _running(pid):
            os.kill(pid, signal.SIGKILL)
        executor.close()
        store.close()


def _ends_within(pid: int, seconds: float) -> bool:
    seen = time.monotonic()
    while _running(pid) and time.monotonic() - seen < seconds:
        time.sleep(0.01)
    return not _running(pid)


def test_aborting_a_running_execution_kills_its_task_process_within_two_seconds(running: Running) -> None:
    store, execution_id = running.store, running.execution_id

    running.plane.abort(execution_id)
    _wait(lambda: store.get_execution(execution_id).phase is Phase.ABORTED)  # the worker saw it

    assert _ends_within(running.pid, WITHIN), (
        f"the task process still runs {WITHIN} s after the abort was seen"
    )
    running.thread.join(timeout=30)
    record = store.get_execution(execution_id)
    assert [a.phase for a in record.nodes[0].attempts] == [Phase.ABORTED]


def test_a_worker_that_loses_its_lease_cancels_its_running_attempt(
    running: Running, database_url: str
) -> None:
    marker = "?" if database_url.startswith("sqlite") else "%s"
    with running.store.engine.begin() as conn:  # another worker holds it now (as after an adoption)
        conn.exec_driver_sql(
            f"UPDATE executions SET worker = 'thief', lease_expires_at = 1e12 WHERE id = {marker}",
            (running.execution_id,),
        )

    running.thread.join(timeout=30)  # the worker saw its lease gone and stopped driving

    assert not running.thread.is_alive()
    assert _ends_within(running.pid, WITHIN), "the task process outlived the worker's hold on its execution"
