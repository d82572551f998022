"""The local executor runs attempts in worker processes: results, errors, logs, isolation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import MappingProxyType

import local_tasks as tasks
import pytest
from local_support import DirBlobs, RemoteBlobs, effective, ref, request, resources

from retune.executors.base import Outcome, Refused
from retune.executors.local import LocalExecutor
from retune.model.execution import Capacity
from retune.model.values import Directory, File, decode, encode


def test_a_task_from_a_test_module_runs_and_reports_its_outputs(executor: LocalExecutor) -> None:
    result = executor.submit(request(ref(tasks.add), [{"x": 41}])).result(timeout=30)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.outputs == [{"o0": 42}]
    assert result.error is None


def test_the_local_executor_offers_no_interruptible_capacity(executor: LocalExecutor) -> None:
    result = executor.submit(request(ref(tasks.add), [{"x": 1}])).result(timeout=30)

    assert executor.interruptible_capacity is False
    assert result.capacity is Capacity.ON_DEMAND


def test_a_map_attempt_runs_all_its_calls_in_one_go(executor: LocalExecutor) -> None:
    calls = [{"x": i, "y": 10} for i in range(500)]

    result = executor.submit(request(ref(tasks.add), calls)).result(timeout=30)

    assert result.outputs == [{"o0": i + 10} for i in range(500)]


def test_a_task_that_raises_is_a_user_error_with_its_traceback(executor: LocalExecutor) -> None:
    result = executor.submit(request(ref(tasks.fails), [{"x": 3}])).result(timeout=30)

    assert result.outcome is Outcome.USER_ERROR
    assert result.error is not None
    assert result.error.startswith("ValueError: no good: 3\nTraceback")
    assert 'local_tasks.py", line' in result.error
    assert "retune/task_runtime" not in result.error


def test_a_task_that_cannot_be_imported_is_a_user_error_saying_why(executor: LocalExecutor) -> None:
    missing = ref(tasks.add).__class__(name="ghost", module="no_such_module", qualname="ghost")

    result = executor.submit(request(missing, [{}])).result(timeout=30)

    assert result.outcome is Outcome.USER_ERROR
    assert "Cannot import task 'ghost'" in (result.error or "")


def test_environment_is_set_for_its_attempt_only(blobs: DirBlobs) -> None:
    with LocalExecutor(blobs, workers=1) as executor:  # one process, reused by every attempt
        with_k = effective(environment=MappingProxyType({"K": "from override"}))
        seen, pid = (
            executor.submit(request(ref(tasks.getenv), [{"name": "K"}], config=with_k))
            .result(30)
            .outputs[0]
            .values()
        )
        executor.submit(request(ref(tasks.meddle))).result(timeout=30)
        after, same_pid = (
            executor.submit(request(ref(tasks.getenv), [{"name": "K"}])).result(30).outputs[0].values()
        )
        meddled = (
            executor.submit(request(ref(tasks.getenv), [{"name": "MEDDLED"}])).result(30).outputs[0]["o0"]
        )
        home = executor.submit(request(ref(tasks.getenv), [{"name": "HOME"}])).result(30).outputs[0]["o0"]
        # a variable the task process started with, given another value by one attempt, is
        # back to what it was for the next (the task process keeps the last attempt's set)
        elsewhere = effective(environment=MappingProxyType({"HOME": "/elsewhere"}))
        moved = executor.submit(request(ref(tasks.getenv), [{"name": "HOME"}], config=elsewhere))
        moved_again = executor.submit(request(ref(tasks.getenv), [{"name": "HOME"}], config=elsewhere))
        back = executor.submit(request(ref(tasks.getenv), [{"name": "HOME"}])).result(30).outputs[0]["o0"]
        cwd = executor.submit(request(ref(tasks.where))).result(timeout=30).outputs[0]["o0"]

    assert seen == "from override"
    assert (after, meddled) == (None, None)
    assert home == back == os.environ.get("HOME")
    assert moved.result(30).outputs[0]["o0"] == moved_again.result(30).outputs[0]["o0"] == "/elsewhere"
    assert cwd == os.getcwd()
    assert pid == same_pid


@pytest.mark.parametrize("store", [DirBlobs, RemoteBlobs], ids=["local-files", "upload"])
def test_stdout_and_stderr_land_in_the_attempts_log_blobs(store: type[DirBlobs], tmp_path: Path) -> None:
    blobs = store(tmp_path / "blobs")
    with LocalExecutor(blobs) as executor:
        shouted = request(ref(tasks.shout), [{"text": "hello"}])
        result = executor.submit(shouted).result(timeout=30)
        quiet = executor.submit(request(ref(tasks.add), [{"x": 1}], attempt=2)).result(timeout=30)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.logs == {"stdout": "logs/e1/n0/1/stdout", "stderr": "logs/e1/n0/1/stderr"}
    stdout = blobs.get(result.logs["stdout"]).decode()
    assert stdout.splitlines() == ["hello", "raw fd", "from a child process"]
    assert blobs.get(result.logs["stderr"]).decode() == "err hello\n"
    assert quiet.logs == {}  # nothing printed, no blobs


def test_a_killed_attempt_keeps_what_it_printed(executor: LocalExecutor, blobs: DirBlobs) -> None:
    chatty = request(ref(tasks.shout_then_sleep), [{"text": "before the end"}], config=effective(timeout=1))

    result = executor.submit(chatty).result(timeout=30)

    assert result.outcome is Outcome.TIMEOUT
    assert blobs.get(result.logs["stdout"]) == b"before the end\n"


def test_the_log_prefix_of_the_request_is_used(executor: LocalExecutor, blobs: DirBlobs) -> None:
    from dataclasses import replace

    prefixed = replace(request(ref(tasks.shout), [{"text": "x"}]), log_prefix="runs/r1/n0/a1")

    result = executor.submit(prefixed).result(timeout=30)

    assert result.logs["stdout"] == "runs/r1/n0/a1/stdout"
    assert blobs.get("runs/r1/n0/a1/stdout").startswith(b"x\n")


def test_the_task_sees_its_attempt_through_current_context(executor: LocalExecutor) -> None:
    configured = effective(retries=3, task_config=MappingProxyType({"threads": 4}))

    single = executor.submit(request(ref(tasks.context), config=configured, node="sub/n2", attempt=2)).result(
        30
    )
    mapped = executor.submit(request(ref(tasks.context), [{"x": 0}, {"x": 1}, {"x": 2}])).result(30)

    assert single.outputs == [
        {
            "o0": {
                "execution_id": "e1",
                "node": "sub/n2",
                "attempt": 2,
                "task": "local_tasks.context",
                "task_config": {"threads": 4},
                "retries": 3,
                "index": None,
            }
        }
    ]
    assert [out["o0"]["index"] for out in mapped.outputs or []] == [0, 1, 2]


@pytest.mark.parametrize(("cpu", "cores", "shown"), [(1.0, 1, "1"), (0.5, 1, "0.5")])
def test_the_cpu_request_is_exposed_to_the_task(
    executor: LocalExecutor, cpu: float, cores: int, shown: str
) -> None:
    config = effective(requests=resources(cpu=cpu), limits=resources(cpu=cpu, mem=2**30))

    result = executor.submit(request(ref(tasks.cpus), config=config)).result(timeout=30)

    assert result.outputs == [{"o0": cores, "o1": shown}]


def test_bytes_files_and_directories_travel_through_the_blob_store(
    executor: LocalExecutor, blobs: DirBlobs, tmp_path: Path
) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("a\nb\nc\n")

    reversed_ = executor.submit(request(ref(tasks.reverse), [{"data": encode(b"abc", bytes, blobs=blobs)}]))
    counted = executor.submit(
        request(ref(tasks.count_lines), [{"file": encode(File(source), File, blobs=blobs)}])
    )
    tree = executor.submit(request(ref(tasks.make_tree), [{"names": ["x", "y"]}]))

    assert decode(reversed_.result(30).outputs[0]["o0"], bytes, blobs=blobs) == b"cba"  # type: ignore[index]
    assert counted.result(30).outputs == [{"o0": 3}]
    made = decode(tree.result(30).outputs[0]["o0"], Directory, blobs=blobs, workdir=tmp_path / "out")  # type: ignore[index]
    assert sorted(p.name for p in made.path.iterdir()) == ["x", "y"]
    assert (made.path / "y").read_text() == "Y"


def test_check_refuses_a_request_larger_than_the_capacity(blobs: DirBlobs) -> None:
    with LocalExecutor(blobs, capacity={"cpu": "2", "mem": "4Gi"}) as executor:
        with pytest.raises(Refused) as refused:
            executor.check(effective(requests=resources(cpu=64)), "python")

        assert refused.value.field == "resources.requests.cpu"
        assert "requests cpu=64 but the local executor's capacity is cpu=2" in str(refused.value)
        with pytest.raises(Refused, match="capacity is mem=4Gi"):
            executor.check(effective(requests=resources(mem=5 * 2**30)), "python")
        with pytest.raises(Refused, match="capacity is gpu=0"):
            executor.check(effective(requests=resources(gpu=1)), "python")
        executor.check(effective(requests=resources(cpu=2, mem=4 * 2**30)), "python")


def test_check_refuses_an_unknown_image_listing_the_known_ones(blobs: DirBlobs) -> None:
    with (
        LocalExecutor(blobs, images={"py311": "/usr/bin/python3"}) as executor,
        pytest.raises(Refused) as refused,
    ):
        executor.check(effective(container_image="cuda"), "python")

    assert refused.value.field == "container_image"
    assert "unknown image 'cuda' (the local executor knows: 'py311')" in str(refused.value)


def test_submitting_what_check_refuses_fails_the_attempt_instead_of_waiting_forever(
    executor: LocalExecutor,
) -> None:
    result = executor.submit(request(ref(tasks.add), [{"x": 1}], config=effective(container_image="nope")))

    assert result.result(timeout=5).outcome is Outcome.USER_ERROR
    assert "unknown image 'nope'" in (result.result().error or "")


def test_closing_ends_running_and_queued_attempts(blobs: DirBlobs) -> None:
    executor = LocalExecutor(blobs, workers=1)
    running = executor.submit(request(ref(tasks.sleep), [{"seconds": 30}]))
    queued = executor.submit(request(ref(tasks.add), [{"x": 1}]))

    executor.close()

    assert running.result(timeout=10).outcome is Outcome.LOST
    assert queued.result(timeout=10).outcome is Outcome.LOST
    assert executor.submit(request(ref(tasks.add), [{"x": 1}])).result(timeout=5).outcome is Outcome.LOST


def test_task_processes_die_with_the_process_that_launched_them(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
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
            executor.submit(request(ref(tasks.pid_then_sleep), [{{"path": {str(marker)!r}, "seconds": 60}}]))
            time.sleep(60)
            """
        )
    )
    launcher = subprocess.Popen([sys.executable, str(script)])
    try:
        worker = int(_wait_for(marker))
    finally:
        launcher.kill()
        launcher.wait()

    assert _gone(worker)


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as exited)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False
