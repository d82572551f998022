"""The in-task entrypoint of a Ray attempt, called in this process as a Ray worker calls it (no
Ray needed): the reply the executor reads, the memory limit as locally and lifted with its
attempt, the captured stdout in the blob store (task_runtime.on_ray)."""

from __future__ import annotations

import resource
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune.executors.base import AttemptRequest, Outcome, TaskRef
from retune.executors.ray_attempt import attempt_part, result, task_part
from retune.store import open_blobs
from retune.task_runtime import on_ray

from . import tasks_runtime

MI = 2**20


@rt.task
def step() -> int:
    return 1


@rt.workflow
def flow() -> int:
    return step()


CONFIG = next(iter(rt.resolve(flow).values())).config


def _attempt(fn: Any, call: dict[str, Any], mem_limit: int, number: int = 1) -> AttemptRequest:
    task = TaskRef(name=fn.__qualname__, module=fn.__module__, qualname=fn.__qualname__)
    config = replace(CONFIG, limits=replace(CONFIG.limits, mem=mem_limit))
    return AttemptRequest("e1", "n0", number, task, [call], config)


def _run(request: AttemptRequest, blobs_at: Path) -> tuple[tuple[Any, ...], Any]:
    reply = on_ray.run(task_part(request.task, request.config, (str(blobs_at), {})), attempt_part(request))
    return reply, result(reply, request.config)


@pytest.fixture(autouse=True)
def _data_limit_kept() -> Any:
    before = resource.getrlimit(resource.RLIMIT_DATA)
    yield
    assert resource.getrlimit(resource.RLIMIT_DATA) == before, "the attempt's memory limit was lifted"


def test_an_allocation_past_the_memory_limit_is_an_oom_with_the_local_executors_message(
    tmp_path: Path,
) -> None:
    reply, failed = _run(_attempt(tasks_runtime.allocate, {"mb": 1024}, 200 * MI), tmp_path)

    assert reply[:2] == ("failed", "oom")
    assert failed.outcome is Outcome.OOM
    assert (failed.error or "").startswith("memory limit 200Mi exceeded: MemoryError")


def test_the_limit_counts_what_the_attempt_adds_and_ends_with_it(tmp_path: Path) -> None:
    _, limited = _run(_attempt(tasks_runtime.allocate, {"mb": 1024}, 200 * MI), tmp_path)
    _, within = _run(_attempt(tasks_runtime.allocate, {"mb": 150}, 200 * MI, number=2), tmp_path)
    _, unlimited = _run(_attempt(tasks_runtime.allocate, {"mb": 300}, 0, number=3), tmp_path)

    assert limited.outcome is Outcome.OOM
    assert (within.outcome, within.outputs) == (Outcome.SUCCEEDED, [{"o0": 150 * MI}])
    assert (unlimited.outcome, unlimited.outputs) == (Outcome.SUCCEEDED, [{"o0": 300 * MI}])


def test_the_attempts_stdout_lands_in_the_blob_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # sys.stdout writes to fd 1 again, as in a Ray worker
        _, said = _run(_attempt(tasks_runtime.shout, {"text": "hello from ray"}, 1024 * MI), tmp_path)

    assert said.outcome is Outcome.SUCCEEDED
    assert said.logs == {"stdout": "logs/e1/n0/1/stdout"}
    assert open_blobs(tmp_path).get("logs/e1/n0/1/stdout") == b"hello from ray\n"
