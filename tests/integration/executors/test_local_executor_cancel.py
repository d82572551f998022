"""``LocalExecutor.cancel`` and ``check(config, task_type)``: a cancelled attempt's processes are
gone and its future resolves at once; an unknown task type is refused before it runs."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import local_tasks as tasks
import pytest
from local_support import DirBlobs, effective, ref, request

from retune.executors.base import CANCELLED, Outcome, Refused
from retune.executors.local import LocalExecutor

PROMPTLY = 2.0
"""Seconds within which a cancelled attempt's future resolves and its processes are gone."""


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _pid_in(path: Path, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"the task never wrote {path}"
        time.sleep(0.01)
    return int(path.read_text())


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Processes a test's tasks started; any left at the end is killed (by its pid)."""
    started: list[int] = []
    yield started
    for pid in started:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_cancelling_a_running_attempt_kills_its_process_and_what_it_started_at_once(
    executor: LocalExecutor, tmp_path: Path, pids: list[int]
) -> None:
    sleeper = tmp_path / "sleeper"
    running = request(ref(tasks.start_sleeper), [{"pid_file": str(sleeper), "how": "setsid", "then": "hang"}])
    future = executor.submit(running)
    pids.append(_pid_in(sleeper))

    began = time.monotonic()
    executor.cancel(running)
    result = future.result(timeout=PROMPTLY)

    assert (result.outcome, result.error) == (Outcome.LOST, CANCELLED)
    while _alive(pids[0]) and time.monotonic() - began < PROMPTLY:
        time.sleep(0.01)
    assert not _alive(pids[0]), "the process the task started in a session of its own is gone"
    again = executor.submit(request(ref(tasks.add), [{"x": 1}], attempt=2))
    assert again.result(timeout=30).outputs == [{"o0": 2}], "the executor runs the next attempt"


def test_cancelling_a_queued_attempt_resolves_it_at_once_and_it_never_runs(
    blobs: DirBlobs, tmp_path: Path, pids: list[int]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    with LocalExecutor(blobs, workers=1) as executor:  # one at a time: the second one waits
        busy = request(ref(tasks.pid_then_sleep), [{"path": str(first), "seconds": 30}], node="n0")
        waiting = request(ref(tasks.pid_then_sleep), [{"path": str(second), "seconds": 0}], node="n1")
        busy_future, waiting_future = executor.submit(busy), executor.submit(waiting)
        pids.append(_pid_in(first))

        executor.cancel(waiting)
        assert waiting_future.result(timeout=0.5).error == CANCELLED
        executor.cancel(busy)
        assert busy_future.result(timeout=PROMPTLY).error == CANCELLED
        follow = executor.submit(request(ref(tasks.add), [{"x": 2}], node="n2"))
        assert follow.result(timeout=30).outputs == [{"o0": 3}]

    assert not second.exists(), "the cancelled queued attempt never ran"


def test_cancelling_a_finished_or_unknown_attempt_changes_nothing(executor: LocalExecutor) -> None:
    done = request(ref(tasks.add), [{"x": 4}])
    result = executor.submit(done).result(timeout=30)

    executor.cancel(done)
    executor.cancel(request(ref(tasks.add), [{"x": 4}], node="never-submitted"))

    assert result.outputs == [{"o0": 5}]
    assert executor.submit(request(ref(tasks.add), [{"x": 5}], attempt=2)).result(timeout=30).outputs == [
        {"o0": 6}
    ]


def test_an_unknown_task_type_is_refused_by_check_and_at_submit(executor: LocalExecutor) -> None:
    with pytest.raises(Refused) as refused:
        executor.check(effective(), "hive")
    assert refused.value.field == "task_type"
    assert "Unknown task type 'hive'; known types are python, shell, spark, sql" in str(refused.value)
    executor.check(effective(), "spark")  # every built-in type has a runner

    hive = dataclasses.replace(ref(tasks.add), task_type="hive")
    result = executor.submit(request(hive, [{"x": 1}])).result(timeout=5)

    assert result.outcome is Outcome.USER_ERROR
    assert (result.error or "").startswith("refused: task_type: Unknown task type 'hive'")
