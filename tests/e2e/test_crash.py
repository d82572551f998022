"""Crash tests with real processes: a killed engine resumes, a killed task is a system attempt,
concurrent identical ``cache_serialize`` runs execute the body once (issue 3, "Done when"); a
task that crashes its own process is a user attempt, and leaves no process behind (issue 8)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune.engine.run import LOST_ON_RESTART
from retune.model.execution import AttemptKind, Execution, Phase
from retune.store import open_store
from retune.testing import postgres_schema

from . import flows_crash

FLOWS = Path(__file__).with_name("flows_crash.py")
RETUNE = str(Path(sys.executable).with_name("retune"))
POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")


def retune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETUNE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def start_retune(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RETUNE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"gave up after {timeout:g}s waiting for {what}")


def resume_once_abandoned(execution_id: str) -> subprocess.CompletedProcess[str]:
    """``retune executions resume``, tried again while the killed engine's lease (15 s) has not
    expired: until then resume refuses, rightly, an execution that may still be running."""
    deadline = time.monotonic() + 60
    while True:
        resumed = retune("executions", "resume", execution_id)
        if "is being run by" not in resumed.stderr or time.monotonic() > deadline:
            return resumed
        time.sleep(1)


def stored(execution_id: str) -> Execution:
    store = open_store()
    try:
        return store.get_execution(execution_id)
    finally:
        store.close()


def node_outputs(record: Execution) -> dict[str, Any]:
    return {n.path: None if n.outputs is None else dict(n.outputs) for n in record.nodes}


def body_runs(log: Path) -> Counter[str]:
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


# -- SIGKILL the engine midway, then resume ---------------------------------------------------


def test_an_engine_killed_midway_resumes_without_rerunning_committed_nodes(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    store = open_store()  # the database exists (migrated) before the engine starts writing
    try:
        engine = start_retune("run", f"{FLOWS}:dag", "--log", str(log), "--json")
        try:
            execution_id = wait_for(
                "the execution", lambda: next((e.id for e in store.list_executions()), "")
            )

            def succeeded() -> int:
                return sum(n.phase is Phase.SUCCEEDED for n in store.get_execution(execution_id).nodes)

            wait_for("30 nodes to succeed", lambda: succeeded() >= 30)
            workers = children_of(engine.pid)
            os.kill(engine.pid, signal.SIGKILL)
        finally:
            engine.kill()
            engine.communicate()
        at_kill = store.get_execution(execution_id)
    finally:
        store.close()
    assert engine.returncode == -signal.SIGKILL
    assert workers, "the engine had no task worker processes to lose"
    wait_for("the task workers to die with the engine", lambda: not any(map(alive, workers)), timeout=5)

    committed = {n.path for n in at_kill.nodes if n.phase is Phase.SUCCEEDED}
    in_flight = {n.path for n in at_kill.nodes if n.phase is Phase.RUNNING}
    assert at_kill.phase is Phase.RUNNING
    assert 30 <= len(committed) < 100
    assert in_flight

    resumed = resume_once_abandoned(execution_id)
    assert resumed.returncode == 0, resumed.stderr
    record = stored(execution_id)
    runs = body_runs(log)

    assert record.phase is Phase.SUCCEEDED
    assert set(runs) == {n.path for n in record.nodes}
    assert {path: runs[path] for path in committed if runs[path] != 1} == {}
    assert {path: count for path, count in runs.items() if count != 1 and path not in in_flight} == {}
    assert max(runs[path] for path in in_flight) <= 2
    for path in committed:
        assert [(a.phase, a.kind) for a in record.node(path).attempts] == [
            (Phase.SUCCEEDED, AttemptKind.USER)
        ]
    for path in in_flight:
        attempts = record.node(path).attempts
        assert [(a.phase, a.kind, a.error) for a in attempts] == [
            (Phase.FAILED, AttemptKind.SYSTEM, LOST_ON_RESTART),
            (Phase.SUCCEEDED, AttemptKind.USER, None),
        ], path

    unbroken = retune("run", f"{FLOWS}:dag", "--log", str(tmp_path / "unbroken.log"), "--json")
    assert unbroken.returncode == 0, unbroken.stderr
    reference = stored(json.loads(unbroken.stdout)["id"])
    assert record.outputs == reference.outputs
    assert node_outputs(record) == node_outputs(reference)


# -- SIGKILL a task process ----------------------------------------------------------------


def test_a_killed_task_process_is_a_system_attempt_and_spends_no_user_retry(tmp_path: Path) -> None:
    pid_file = tmp_path / "task.pid"
    run = start_retune(
        "run", f"{FLOWS}:kill_flow", "--pid_file", str(pid_file), "-o", "victim.retries=0", "--json"
    )
    try:
        pid = int(wait_for("the task to write its pid", lambda: pid_file.exists() and pid_file.read_text()))
        os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.communicate()
    assert run.returncode == 0, err
    record = json.loads(out)
    victim = next(n for n in record["nodes"] if n["hook"] == "victim")
    killed, retried = victim["attempts"]

    assert record["phase"] == "SUCCEEDED"
    assert record["outputs"] == 2
    assert victim["config"]["retries"] == 0
    assert (killed["phase"], killed["kind"]) == ("FAILED", "system")
    assert f"(pid {pid}) was killed by SIGKILL" in killed["error"]
    assert (retried["phase"], retried["kind"]) == ("SUCCEEDED", "user")


# -- a task that crashes its own process --------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1])
def test_a_task_whose_process_exits_non_zero_spends_user_retries_only(retries: int) -> None:
    record = rt.run(
        flows_crash.crash_flow, {"how": "exit"}, {"crasher": {"retries": retries}}, raise_on_failure=False
    )
    attempts = record.node("crasher").attempts

    assert record.phase is Phase.FAILED
    assert [(a.phase, a.kind) for a in attempts] == [(Phase.FAILED, AttemptKind.USER)] * (retries + 1)
    assert all("the task process" in (a.error or "") for a in attempts)
    assert all("exited with status 1" in (a.error or "") for a in attempts)
    assert "exited with status 1" in (record.error or "")


def test_a_task_that_segfaults_is_one_user_attempt_naming_sigsegv() -> None:
    record = rt.run(
        flows_crash.crash_flow, {"how": "segfault"}, {"crasher": {"retries": 0}}, raise_on_failure=False
    )
    (attempt,) = record.node("crasher").attempts

    assert record.phase is Phase.FAILED
    assert (attempt.phase, attempt.kind) == (Phase.FAILED, AttemptKind.USER)
    assert "was killed by SIGSEGV (segmentation fault)" in (attempt.error or "")


def test_a_process_a_task_leaves_in_the_background_is_gone_when_the_run_returns(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    try:
        record = rt.run(flows_crash.sleeper_flow, {"pid_file": str(pid_file)})
        pid = int(pid_file.read_text())
        gone = (
            wait_for("the sleeper to end", lambda: not _sleeping(pid), timeout=5) if _sleeping(pid) else True
        )
    finally:
        if pid_file.exists() and _sleeping(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert record.phase is Phase.SUCCEEDED
    assert gone


def _sleeping(pid: int) -> bool:
    """``pid`` is a running ``sleep 300`` (so a reused pid is never taken for it)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return cmdline == b"sleep\x00300\x00" and alive(pid)


# -- 10 concurrent identical cache_serialize runs ----------------------------------------------


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
        ),
    ]
)
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment for the runs: the RETUNE_HOME SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_schema(POSTGRES, prefix="retune_crash") as url:
        yield {"RETUNE_DATABASE_URL": url}


def test_ten_concurrent_cache_serialize_runs_execute_the_body_once(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    log, barrier = tmp_path / "body.log", tmp_path / "barrier"
    args = ("--log", str(log), "--barrier", str(barrier), "-o", "slow.cache_serialize=true", "--json")
    runs = [start_retune("run", f"{FLOWS}:serialized_flow", *args, env=database_env) for _ in range(10)]
    try:
        done = [run.communicate(timeout=120) for run in runs]
    finally:
        for run in runs:
            run.kill()
            run.communicate()
    assert [run.returncode for run in runs] == [0] * 10, [err for _, err in done]
    records = [json.loads(out) for out, _ in done]
    nodes = [next(n for n in r["nodes"] if n["hook"] == "slow") for r in records]
    miss = next(n for n in nodes if n["cache"] == "miss")
    met = [a["finished_at"] for r in records for n in r["nodes"] if n["hook"] is None for a in n["attempts"]]

    assert max(met) < miss["attempts"][0]["finished_at"], "the runs did not reach the cached node together"
    assert len(log.read_text().splitlines()) == 1
    assert sorted(n["cache"] for n in nodes) == ["hit"] * 9 + ["miss"]
    assert [r["outputs"] for r in records] == [49] * 10
    if database_env:  # the runs used PostgreSQL: the RETUNE_HOME SQLite file was never created
        assert not (Path(os.environ["RETUNE_HOME"]) / "retune.db").exists()
