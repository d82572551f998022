"""Limits the local executor enforces: memory, timeout, lost processes, admission."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import local_tasks as tasks
from local_support import MI, DirBlobs, effective, ref, request, resources

from retune.executors.base import Outcome
from retune.executors.local import LocalExecutor
from retune.model import EffectiveConfig


def _limited(mem: int) -> EffectiveConfig:
    return effective(requests=resources(mem=mem), limits=resources(mem=mem))


def test_allocating_past_the_memory_limit_is_an_oom_then_a_higher_limit_succeeds(
    executor: LocalExecutor,
) -> None:
    allocate = request(ref(tasks.allocate), [{"mb": 300}], config=_limited(128 * MI))
    roomy = request(ref(tasks.allocate), [{"mb": 300}], config=_limited(1024 * MI))

    failed = executor.submit(allocate).result(timeout=30)
    succeeded = executor.submit(roomy).result(timeout=30)

    assert failed.outcome is Outcome.OOM
    assert (failed.error or "").startswith("memory limit 128Mi exceeded: MemoryError")
    assert succeeded.outcome is Outcome.SUCCEEDED
    assert succeeded.outputs == [{"o0": 300 * MI}]


def test_resident_memory_past_the_limit_kills_the_task_process(executor: LocalExecutor) -> None:
    shared = request(ref(tasks.touch_shared), [{"mb": 300, "hold": 20}], config=_limited(128 * MI))

    result = executor.submit(shared).result(timeout=30)

    assert result.outcome is Outcome.OOM
    assert "memory limit 128Mi exceeded: the task process used" in (result.error or "")
    assert (
        executor.submit(request(ref(tasks.add), [{"x": 1}])).result(timeout=30).outcome is Outcome.SUCCEEDED
    )


def test_an_attempt_past_its_timeout_is_ended(executor: LocalExecutor) -> None:
    slow = request(ref(tasks.sleep), [{"seconds": 30}], config=effective(timeout=0.5))

    result = executor.submit(slow).result(timeout=30)

    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "timed out after 0.5s (timeout 0.5s per call)"
    assert executor.submit(request(ref(tasks.add), [{"x": 1}])).result(timeout=30).outputs == [{"o0": 2}]


def test_a_killed_task_process_is_lost_and_the_pool_recovers(executor: LocalExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    running = executor.submit(request(ref(tasks.pid_then_sleep), [{"path": str(marker), "seconds": 30}]))
    pid = int(_wait_for(marker))

    os.kill(pid, signal.SIGKILL)
    result = running.result(timeout=30)
    after = executor.submit(request(ref(tasks.getenv), [{"name": "none"}])).result(timeout=30)

    assert result.outcome is Outcome.LOST
    assert result.error == f"the task process (pid {pid}) was killed by SIGKILL"
    assert after.outcome is Outcome.SUCCEEDED
    assert after.outputs is not None and after.outputs[0]["o1"] != pid


def test_concurrent_attempts_never_exceed_the_cpu_capacity(blobs: DirBlobs, tmp_path: Path) -> None:
    one_cpu = effective(requests=resources(cpu=1), limits=resources(cpu=1, mem=1024 * MI))
    with LocalExecutor(blobs, capacity={"cpu": "2"}) as executor:
        futures = [
            executor.submit(
                request(
                    ref(tasks.span),
                    [{"directory": str(tmp_path), "name": f"t{i}", "seconds": 0.3}],
                    config=one_cpu,
                )
            )
            for i in range(4)
        ]
        outcomes = [f.result(timeout=60).outcome for f in futures]

    assert outcomes == [Outcome.SUCCEEDED] * 4
    assert _most_at_once(tmp_path, 4) == 2


def test_memory_requests_are_admitted_against_the_memory_capacity(blobs: DirBlobs, tmp_path: Path) -> None:
    big = effective(requests=resources(cpu=0.1, mem=600 * MI), limits=resources(cpu=0.1, mem=1024 * MI))
    with LocalExecutor(blobs, capacity={"cpu": "8", "mem": "1Gi"}) as executor:
        futures = [
            executor.submit(
                request(
                    ref(tasks.span),
                    [{"directory": str(tmp_path), "name": f"t{i}", "seconds": 0.2}],
                    config=big,
                )
            )
            for i in range(3)
        ]
        assert [f.result(timeout=60).outcome for f in futures] == [Outcome.SUCCEEDED] * 3

    assert _most_at_once(tmp_path, 3) == 1


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def _most_at_once(directory: Path, count: int) -> int:
    spans = [tuple(map(float, (directory / f"t{i}").read_text().split())) for i in range(count)]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


def test_a_short_attempt_does_not_wait_behind_a_long_one_when_capacity_allows(
    executor: LocalExecutor,
) -> None:
    for x in range(20):  # a history of quick attempts: no reason to start more workers for them
        executor.submit(request(ref(tasks.add), [{"x": x}])).result(timeout=30)
    long = executor.submit(request(ref(tasks.sleep), [{"seconds": 20}]))

    short = executor.submit(request(ref(tasks.add), [{"x": 1}])).result(timeout=10)

    assert short.outputs == [{"o0": 2}]
    assert not long.done()
