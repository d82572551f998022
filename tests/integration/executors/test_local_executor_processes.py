"""Task processes: whose failure a dead one is (DESIGN §8), and no process a task starts
outlives its attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import local_tasks as tasks
import pytest
from local_support import DirBlobs, effective, ref, request

from retune.executors.base import USER_OUTCOMES, AttemptResult, Outcome
from retune.executors.local import LocalExecutor

GONE_WITHIN = 5.0
"""Seconds a process the attempt started may take to disappear after the attempt ended."""


def _sleeper(pid: int) -> bool:
    """``pid`` is a running ``sleep 300`` (not a zombie, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return cmdline == b"sleep\x00300\x00" and state not in ("Z", "X")


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_WITHIN
    while _sleeper(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[list[Path]]:
    """Pid files of the sleepers a test's tasks start; any still running at the end is killed."""
    files: list[Path] = []
    yield files
    for pid_file in files:
        if pid_file.exists() and _sleeper(pid := int(pid_file.read_text())):
            os.kill(pid, signal.SIGKILL)


def _run(executor: LocalExecutor, task: object, call: dict[str, object], **config: object) -> AttemptResult:
    return executor.submit(request(ref(task), [call], config=effective(**config))).result(timeout=60)


# -- a process that dies during an attempt ------------------------------------------------------


@pytest.mark.parametrize("status", [1, 0])
def test_a_task_process_that_exits_mid_attempt_is_a_user_failure_naming_its_status(
    executor: LocalExecutor, status: int
) -> None:
    result = _run(executor, tasks.exit_with, {"status": status})

    assert result.outcome is Outcome.CRASHED
    assert result.outcome in USER_OUTCOMES
    assert f"exited with status {status}" in (result.error or "")
    assert "its stderr ends with:\nabout to exit" in (result.error or "")
    assert _run(executor, tasks.add, {"x": 1}).outputs == [{"o0": 2}]


def test_a_segfault_is_a_user_failure_naming_sigsegv_and_the_python_line(executor: LocalExecutor) -> None:
    result = _run(executor, tasks.segfault, {})

    assert result.outcome is Outcome.CRASHED
    assert "was killed by SIGSEGV (segmentation fault)" in (result.error or "")
    assert "in segfault" in (result.error or ""), "faulthandler's stack names the task's function"
    assert result.logs.get("stderr"), "the crash report is kept in the attempt's stderr log too"


def test_an_abort_is_a_user_failure_naming_sigabrt(executor: LocalExecutor) -> None:
    result = _run(executor, tasks.abort, {})

    assert result.outcome is Outcome.CRASHED
    assert "was killed by SIGABRT (abort)" in (result.error or "")


def test_a_task_process_killed_from_outside_is_a_system_failure(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    running = executor.submit(request(ref(tasks.pid_then_sleep), [{"path": str(marker), "seconds": 30}]))
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(int(marker.read_text()), signal.SIGTERM)

    result = running.result(timeout=30)

    assert result.outcome is Outcome.LOST
    assert result.outcome not in USER_OUTCOMES
    assert result.error == f"the task process (pid {marker.read_text()}) was killed by SIGTERM"


# -- processes a task starts end with its attempt ------------------------------------------


@pytest.mark.parametrize("how", ["popen", "shell", "setsid"])
@pytest.mark.parametrize(("then", "outcome"), [("return", Outcome.SUCCEEDED), ("raise", Outcome.USER_ERROR)])
def test_processes_a_task_starts_end_when_its_attempt_ends(
    executor: LocalExecutor, tmp_path: Path, sleepers: list[Path], how: str, then: str, outcome: Outcome
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")

    result = _run(executor, tasks.start_sleeper, {"pid_file": str(pid_file), "how": how, "then": then})

    assert result.outcome is outcome, result.error
    assert _gone(int(pid_file.read_text()))


@pytest.mark.parametrize("how", ["popen", "setsid"])
def test_processes_a_task_starts_end_when_its_attempt_times_out(
    executor: LocalExecutor, tmp_path: Path, sleepers: list[Path], how: str
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")

    call = {"pid_file": str(pid_file), "how": how, "then": "hang"}
    result = _run(executor, tasks.start_sleeper, call, timeout=2.0)

    assert result.outcome is Outcome.TIMEOUT
    assert _gone(int(pid_file.read_text()))


def test_processes_a_task_starts_end_when_its_process_exits_under_it(
    executor: LocalExecutor, tmp_path: Path, sleepers: list[Path]
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")

    result = _run(executor, tasks.start_sleeper, {"pid_file": str(pid_file), "how": "popen", "then": "exit"})

    assert result.outcome is Outcome.CRASHED
    assert _gone(int(pid_file.read_text()))


def test_the_pooled_task_process_outlives_the_sweep_and_runs_the_next_attempt(
    executor: LocalExecutor, tmp_path: Path, sleepers: list[Path]
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")
    first = _run(executor, tasks.start_sleeper, {"pid_file": str(pid_file), "how": "shell", "then": "return"})

    after = _run(executor, tasks.children_now, {})

    assert first.outcome is Outcome.SUCCEEDED
    assert after.outputs == [{"o0": (first.outputs or [{}])[0]["o0"], "o1": []}], "same process, no children"


def test_multiprocessing_still_works_in_a_task_process_after_its_helpers_were_swept(
    executor: LocalExecutor,
) -> None:
    first = _run(executor, tasks.pool_square, {"x": 3})
    second = _run(executor, tasks.pool_square, {"x": 4})

    assert (first.outputs, second.outputs) == ([{"o0": 9}], [{"o0": 16}]), (first.error, second.error)


# -- the executor, or the process that owns it, goes away -------------------------------------


def test_closing_the_executor_ends_the_processes_its_running_tasks_started(
    blobs: DirBlobs, tmp_path: Path, sleepers: list[Path]
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")
    executor = LocalExecutor(blobs)
    try:
        call = {"pid_file": str(pid_file), "how": "setsid", "then": "hang"}
        running = executor.submit(request(ref(tasks.start_sleeper), [call]))
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        executor.close()

    assert running.result(timeout=10).outcome is Outcome.LOST
    assert _gone(int(pid_file.read_text()))


def test_processes_a_task_started_die_with_the_process_that_launched_it(
    tmp_path: Path, sleepers: list[Path]
) -> None:
    sleepers.append(pid_file := tmp_path / "sleeper")
    script = tmp_path / "launcher.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            sys.path[:0] = {sys.path!r}
            import local_tasks as tasks
            from local_support import DirBlobs, ref, request
            from retune.executors.local import LocalExecutor

            executor = LocalExecutor(DirBlobs(Path({str(tmp_path / "blobs")!r})))
            call = {{"pid_file": {str(pid_file)!r}, "how": "setsid", "then": "hang"}}
            executor.submit(request(ref(tasks.start_sleeper), [call]))
            time.sleep(60)
            """
        )
    )
    launcher = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        launcher.kill()
        launcher.wait()

    assert _gone(int(pid_file.read_text()))
