"""``retune run`` interrupted (SIGINT, SIGTERM) and resumed; a live run cannot be resumed twice.

Real processes over a fresh SQLite store (RETUNE_HOME per test, tests/e2e/conftest.py); the
ledger written by every step says which ran, when, and in which process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows_interrupt.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120)


def record(execution_id: str) -> dict[str, Any]:
    done = retune("executions", "show", execution_id, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def wait_for_line(ledger: Path, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in ledger_lines(ledger) if line.startswith(prefix)]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {prefix!r} in the ledger after {timeout} s: {ledger_lines(ledger)}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.txt"


@pytest.fixture
def running(ledger: Path) -> Iterator[subprocess.Popen[str]]:
    """``retune run`` of two steps, the second sleeping 60 s; yielded once the second started."""
    proc = subprocess.Popen(
        [RETUNE, "run", f"{FLOWS}:two_steps", "--ledger", str(ledger)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(ledger, "start second")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        with proc:  # closes its pipes, waits for it
            pass
        for line in ledger_lines(ledger):  # never leave a task sleeping behind a failed test
            if line.startswith("start") and alive(pid := int(line.split()[2])):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_says_how_to_resume_and_resume_completes_it_running_no_step_twice(
    running: subprocess.Popen[str], ledger: Path, sig: signal.Signals
) -> None:
    task_pid = int(wait_for_line(ledger, "start second").split()[2])
    running.send_signal(sig)
    _, err = running.communicate(timeout=30)

    assert running.returncode == 130, err
    assert "Traceback" not in err
    started = re.search(r"execution (ex-\w+) started", err)
    assert started, err  # the id was printed when the run started, before the interrupt
    execution_id = started.group(1)
    assert f"retune executions resume {execution_id}" in err
    deadline = time.monotonic() + 5
    while alive(task_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(task_pid), "the interrupted step's task process still runs"
    interrupted = record(execution_id)
    assert interrupted["phase"] == "RUNNING"
    assert "interrupted" in interrupted["error"]

    Path(str(ledger) + ".fast").touch()  # the second step need not sleep again
    resumed = retune("executions", "resume", execution_id)
    assert resumed.returncode == 0, resumed.stderr

    final = record(execution_id)
    assert final["phase"] == "SUCCEEDED"
    assert final["error"] is None
    assert "firstsecond" in json.dumps(final["outputs"])  # its shape is issue "One launch path"
    lines = ledger_lines(ledger)
    assert [line.split()[:2] for line in lines if line.startswith("start first")] == [["start", "first"]]
    assert lines.count("end first") == 1
    assert lines.count("end second") == 1  # the interrupted attempt never finished; the resumed one did
    second = next(n for n in final["nodes"] if n["path"] == "n1")
    assert [a["phase"] for a in second["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert second["attempts"][0]["kind"] == "system"  # the interruption spent no user retry


def test_resume_of_a_run_that_is_still_going_is_refused_and_changes_nothing(
    running: subprocess.Popen[str], ledger: Path
) -> None:
    listed = retune("executions", "list", "--json")
    execution_id = json.loads(listed.stdout)[0]["id"]
    before = record(execution_id)

    refused = retune("executions", "resume", execution_id)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.startswith("error: ")
    assert f"execution {execution_id} is being run by run@" in refused.stderr
    assert f":{running.pid}" in refused.stderr  # names the process that holds it
    assert "Traceback" not in refused.stderr
    assert record(execution_id)["nodes"] == before["nodes"]
    assert running.poll() is None  # the run carries on
    assert len([line for line in ledger_lines(ledger) if line.startswith("start second")]) == 1


def test_resume_takes_over_a_killed_run_once_its_lease_has_lapsed(
    running: subprocess.Popen[str], ledger: Path, retune_home: Path
) -> None:
    execution_id = json.loads(retune("executions", "list", "--json").stdout)[0]["id"]
    running.kill()  # SIGKILL: no chance to release anything
    running.wait()
    held = retune("executions", "resume", execution_id)
    assert held.returncode == 2
    assert "is being run by" in held.stderr  # its lease has not lapsed yet
    with sqlite3.connect(retune_home / "retune.db") as db:  # as if LEASE seconds went by
        db.execute("UPDATE executions SET lease_expires_at = 0 WHERE id = ?", (execution_id,))

    Path(str(ledger) + ".fast").touch()
    resumed = retune("executions", "resume", execution_id)

    assert resumed.returncode == 0, resumed.stderr
    final = record(execution_id)
    assert final["phase"] == "SUCCEEDED"
    assert ledger_lines(ledger).count("end first") == 1
    assert ledger_lines(ledger).count("end second") == 1


def test_resume_completes_a_launched_execution_whose_worker_was_killed(ledger: Path) -> None:
    where = ["--project", "demo", "--domain", "dev", "--version", "v1"]
    assert retune("register", str(FLOWS), *where).returncode == 0
    launched = retune("launch", "demo/dev/e2e.flows_interrupt.two_steps", "-i", f"ledger={ledger}", "--json")
    assert launched.returncode == 0, launched.stderr
    execution_id = json.loads(launched.stdout)["id"]
    worker = subprocess.Popen([RETUNE, "worker", "--lease", "1"], stderr=subprocess.DEVNULL)
    try:
        wait_for_line(ledger, "start second")
    finally:
        worker.kill()  # SIGKILL mid-task: its lease lapses after a second
        worker.wait()
    task_pid = int(wait_for_line(ledger, "start second").split()[2])
    time.sleep(1.5)
    Path(str(ledger) + ".fast").touch()

    resumed = retune("executions", "resume", execution_id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = record(execution_id)
    assert final["phase"] == "SUCCEEDED"
    assert ledger_lines(ledger).count("end first") == 1  # what the worker finished is not run again
    assert ledger_lines(ledger).count("end second") == 1
    assert not alive(task_pid)  # the killed worker's task died with it


SCRIPT = """
import sys

import retune as rt
from steps import step  # a module next to the script: it travels in the run's code bundle


@rt.task
def shout(text: str) -> str:  # defined in __main__: it travels by value
    return text.upper()


@rt.workflow
def two_steps(ledger: str, seconds: float = 60.0) -> str:
    first = step(ledger=ledger, name="first", seconds=0.0, after="")
    return shout(text=step(ledger=ledger, name="second", seconds=seconds, after=first))


if __name__ == "__main__":
    rt.run(two_steps, inputs={"ledger": sys.argv[1]})
"""


@pytest.mark.parametrize("how", ["retune run", "python script"])
def test_a_local_run_resumes_from_the_store_alone_when_its_code_is_gone(
    tmp_path: Path, ledger: Path, how: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "steps.py").write_text(FLOWS.read_text())
    (project / "script.py").write_text(SCRIPT)
    command = (
        [RETUNE, "run", f"{project / 'steps.py'}:two_steps", "--ledger", str(ledger)]
        if how == "retune run"
        else [sys.executable, str(project / "script.py"), str(ledger)]
    )
    proc = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(ledger, "start second")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    execution_id = json.loads(retune("executions", "list", "--json").stdout)[0]["id"]
    for file in project.iterdir():  # the code is gone: only the store has it now
        file.unlink()
    project.rmdir()
    Path(str(ledger) + ".fast").touch()

    resumed = retune("executions", "resume", execution_id)  # from tmp_path, another directory

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = record(execution_id)
    assert final["phase"] == "SUCCEEDED", final["error"]
    assert final["outputs"] == ("FIRSTSECOND" if how == "python script" else "firstsecond")
    assert ledger_lines(ledger).count("end first") == 1
    assert ledger_lines(ledger).count("end second") == 1
