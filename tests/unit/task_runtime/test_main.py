"""The task process on its own: its pipe protocol, its per-attempt isolation, its import budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retune.executors import wire

from . import tasks_runtime


class TaskProcessUnderTest:
    """A worker process driven by hand over its two pipes."""

    def __init__(self) -> None:
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "retune.task_runtime.main", str(to_r), str(from_w)],
            pass_fds=(to_r, from_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self.reader = wire.Reader(self.from_r)
        assert self.reader.recv()[0] == "ready"

    def run(
        self, tmp_path: Path, qualname: str, calls: list[dict[str, Any]], **extra: Any
    ) -> tuple[Any, ...]:
        attempt = {
            "name": qualname,
            "task": (tasks_runtime.__name__, qualname, None, tuple(sys.path)),
            "calls": calls,
            "env": {},
            "stdout": str(tmp_path / "stdout"),
            "stderr": str(tmp_path / "stderr"),
            "mem_limit": 0,
            "context": {"execution_id": "e1", "node": "n0", "attempt": 1, "config": {"task_config": {}}},
            **extra,
        }
        wire.send(self.to_w, ("run", attempt))
        return self.reader.recv()

    def close(self) -> int:
        """Close the worker's input, as the executor does to end it; its exit status."""
        if self.to_w >= 0:
            os.close(self.to_w)
            os.close(self.from_r)
            self.to_w = -1
        return self.proc.wait(timeout=10)


@pytest.fixture
def worker() -> Iterator[TaskProcessUnderTest]:
    process = TaskProcessUnderTest()
    yield process
    process.close()


def test_a_task_process_runs_attempt_after_attempt_over_its_pipe(
    worker: TaskProcessUnderTest, tmp_path: Path
) -> None:
    assert worker.run(tmp_path, "plain", [{"x": 1}]) == ("done", [{"o0": 2}])
    assert worker.run(tmp_path, "divide", [{"a": 7, "b": 2}, {"a": 9, "b": 4}]) == (
        "done",
        [{"o0": 3, "o1": 1}, {"o0": 2, "o1": 1}],
    )


def test_a_failing_task_is_reported_and_the_task_process_lives_on(
    worker: TaskProcessUnderTest, tmp_path: Path
) -> None:
    kind, category, error = worker.run(tmp_path, "exits", [{"x": 1}])

    assert (kind, category) == ("failed", "user")
    assert error.startswith("SystemExit: 3")
    assert worker.run(tmp_path, "plain", [{"x": 1}]) == ("done", [{"o0": 2}])


def test_a_batch_s_items_each_get_their_own_working_directory_all_removed_after_the_batch(
    worker: TaskProcessUnderTest, tmp_path: Path
) -> None:
    contents = {f"values/{index:064x}": f"content {index}".encode() for index in range(3)}
    batch = {
        "name": "read_back",
        "task": (tasks_runtime.__name__, "read_back", None, tuple(sys.path)),
        "calls": [{"given": {"$file": key, "name": "given.txt"}} for key in contents],
        "numbers": [1, 2, 3],
        "env": {"BATCH_VAR": "set"},
        "stdout": str(tmp_path / "stdout"),
        "stderr": str(tmp_path / "stderr"),
        "mem_limit": 0,
        "context": {"execution_id": "e1", "node": "n0", "attempt": 0, "config": {"task_config": {}}},
    }
    wire.send(worker.to_w, ("each", batch))
    answers = []
    while len(answers) < 3:
        message = worker.reader.recv()
        if message[0] == "blob_get":  # the executor's side of the pipe: the blob store
            wire.send(worker.to_w, ("blob", contents[message[1]]))
            continue
        assert message[0] == "items"
        answers.extend(message[1])

    given = []
    for index, (answered, reply, _spans, _started, _ended) in enumerate(answers):
        assert answered == index and reply[0] == "done"
        path, content = reply[1][0]["o0"].split("|")
        assert content == f"content {index}"
        given.append(Path(path))
    assert len({path.parent.parent for path in given}) == 3  # a working directory each
    # Once the batch has ended (the next message answered), none of them is left on disk.
    assert worker.run(tmp_path, "plain", [{"x": 1}]) == ("done", [{"o0": 2}])
    assert not any(path.parent.parent.exists() for path in given)


def test_the_task_process_exits_cleanly_when_its_pipe_closes(worker: TaskProcessUnderTest) -> None:
    assert worker.close() == 0


def test_the_worker_imports_no_heavy_dependency() -> None:
    heavy = ("pydantic", "cloudpickle", "yaml", "sqlalchemy", "fsspec", "click", "rich")
    probe = (
        "import json, sys; import retune.task_runtime.main; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
