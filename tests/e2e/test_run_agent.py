"""``retune run`` through the run agent (decision 0027): the same run, output and exit status
as a fresh process, with the command's environment, working directory and signals; an agent
out of date, stopped or idle ends, and ``RETUNE_AGENT=0`` never starts one.

Real processes: the agent of each test listens in a directory of its own (RETUNE_AGENT_DIR)
and is ended by its pid at the test's end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows_agent.py")
INTERRUPT = Path(__file__).with_name("flows_interrupt.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


class Agent:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def retune(self, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RETUNE, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env={**self.env, **extra}
        )

    def status(self) -> dict[str, Any]:
        done = self.retune("agent", "status", "--json")
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def wait_until(self, running: bool, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (status := self.status())["running"] != running:
            assert time.monotonic() < deadline, f"agent running={status['running']} after {timeout} s"
            time.sleep(0.1)
        return status


@pytest.fixture
def agent(retune_home: Path) -> Iterator[Agent]:
    directory = tempfile.mkdtemp(prefix="ra-", dir="/tmp")  # a Unix socket path has 108 bytes at most
    env = {**os.environ, "RETUNE_AGENT": "1", "RETUNE_AGENT_DIR": directory}
    env.pop("RETUNE_AGENT_IDLE", None)
    try:
        yield Agent(env)
    finally:
        for pid in _agents_in(directory):  # the agents this test's runs started, and only those
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


def _agents_in(directory: str) -> list[int]:
    """The agent processes (agents, their spares and runs) listening in ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"retune.cli.agent" in cmdline and directory.encode() in cmdline:
                found.append(int(entry.name))
    return found


def outputs(done: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"^outputs: (.*)$", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    return found.group(1).strip("'")


def without_ids(text: str) -> str:
    return re.sub(r"ex-\w+|run@\S+|\d+", "#", text)


def test_runs_go_through_the_agent_with_the_commands_environment_and_directory(
    agent: Agent, tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for where, note in ((first, "in-a"), (second, "in-b")):
        where.mkdir()
        (where / "note.txt").write_text(note)

    cold = agent.retune("run", f"{FLOWS}:greet", "--name", "one", cwd=first, GREETING="hello")
    agent.wait_until(running=True)  # started by that run, once it was over
    warm = agent.retune("run", f"{FLOWS}:greet", "--name", "two", cwd=first, GREETING="hello")
    moved = agent.retune("run", f"{FLOWS}:greet", "--name", "three", cwd=second, GREETING="bonjour")
    again = agent.retune("run", f"{FLOWS}:greet", "--name", "four", cwd=second, GREETING="bonjour")
    status = agent.status()

    assert cold.returncode == warm.returncode == moved.returncode == again.returncode == 0, moved.stderr
    assert outputs(cold) == "hello/in-a/one"
    assert outputs(warm) == "hello/in-a/two"
    assert outputs(moved) == "bonjour/in-b/three"  # not the task process warmed where the last run was
    assert outputs(again) == "bonjour/in-b/four"
    assert status["served"] == 3
    assert without_ids(warm.stdout) == without_ids(cold.stdout).replace("one", "two")
    assert without_ids(warm.stderr) == without_ids(cold.stderr)


def test_a_refused_run_through_the_agent_exits_as_it_would_alone(agent: Agent) -> None:
    agent.retune("run", f"{FLOWS}:greet")
    agent.wait_until(running=True)

    through = agent.retune("run", f"{FLOWS}:greet", "--nope", "1")
    alone = agent.retune("run", f"{FLOWS}:greet", "--nope", "1", RETUNE_AGENT="0")

    assert through.returncode == alone.returncode == 2
    assert through.stderr == alone.stderr
    assert "--nope" in through.stderr and "Traceback" not in through.stderr
    assert agent.status()["served"] == 1


def _ledger_line(ledger: Path, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {prefix!r} in the ledger after {timeout} s")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["ctrl-c", "killed", "agent killed"])
def test_a_run_in_the_agent_stops_when_its_command_is_interrupted_or_killed(
    agent: Agent, tmp_path: Path, how: str
) -> None:
    agent.retune("run", f"{FLOWS}:greet")
    agent_pid = agent.wait_until(running=True)["pid"]
    ledger = tmp_path / "ledger.txt"
    command = subprocess.Popen(
        [RETUNE, "run", f"{INTERRUPT}:two_steps", "--ledger", str(ledger)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent.env,
    )
    task_pid = int(_ledger_line(ledger, "start second").split()[2])
    served = agent.status()["served"]
    try:
        if how == "agent killed":
            os.kill(agent_pid, signal.SIGKILL)
        else:
            command.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        _, err = command.communicate(timeout=30)
        stopped = _gone(task_pid, timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):  # never leave a task sleeping behind
            os.kill(task_pid, signal.SIGKILL)
    listed = json.loads(agent.retune("executions", "list", "--json").stdout)
    interrupted = [e for e in listed if e["workflow"].endswith("two_steps")]

    assert stopped, "the interrupted run's task process still runs"
    assert served == 1
    assert interrupted and interrupted[0]["phase"] == "RUNNING"  # interrupted, resumable
    shown = json.loads(agent.retune("executions", "show", interrupted[0]["id"], "--json").stdout)
    assert "interrupted" in (shown["error"] or "")
    if how == "ctrl-c":
        assert command.returncode == 130, err
    if how != "killed":  # the run said how to resume it, on the command's own stderr
        assert f"retune executions resume {interrupted[0]['id']}" in err
    if how == "agent killed":
        assert command.returncode == 1
        assert "the run agent stopped before the run ended" in err


def _state(pid: int) -> str:
    """The process's state letter (``T``: stopped), from /proc; ``gone`` once it has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.05)


def test_ctrl_z_stops_the_run_in_the_agent_with_its_command_and_fg_carries_it_on(
    agent: Agent, tmp_path: Path
) -> None:
    agent.retune("run", f"{FLOWS}:greet")
    agent.wait_until(running=True)
    ledger = tmp_path / "ledger.txt"
    command = subprocess.Popen(
        [RETUNE, "run", f"{INTERRUPT}:two_steps", "--ledger", str(ledger), "--seconds", "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent.env,
        process_group=0,  # a job of its own, as a shell makes it: a group that is not orphaned
    )
    task_pid = int(_ledger_line(ledger, "start second").split()[2])
    run_pid = _parent(task_pid)  # the agent's process that runs this command's run
    out = err = ""
    try:
        command.send_signal(signal.SIGTSTP)  # what a terminal sends on Ctrl-Z
        _until(lambda: _state(command.pid) == "T" and _state(run_pid) == "T", "stopped, command and run")
        # the attempt ends meanwhile: task processes have sessions of their own, as without the agent
        _ledger_line(ledger, "end second")
        time.sleep(0.5)
        listed = json.loads(agent.retune("executions", "list", "--json").stdout)
        meanwhile = next(e for e in listed if e["workflow"].endswith("two_steps"))
        still = (_state(command.pid), _state(run_pid))
        command.send_signal(signal.SIGCONT)  # fg
        out, err = command.communicate(timeout=60)
    finally:
        for pid in (run_pid, command.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if command.returncode is None:  # failed midway: end it, and close its pipes
            command.kill()
            command.communicate(timeout=30)

    assert still == ("T", "T"), "the command and its run stay stopped until continued"
    assert meanwhile["phase"] == "RUNNING", "a stopped run records nothing"
    assert command.returncode == 0, err
    assert "firstsecond" in out


def test_an_agent_whose_code_changed_runs_nothing_and_gives_way_to_a_new_one(
    agent: Agent, tmp_path: Path
) -> None:
    extra = tmp_path / "on-path"
    extra.mkdir()
    agent.env["PYTHONPATH"] = str(extra)  # a directory on sys.path: installing into it changes it
    agent.retune("run", f"{FLOWS}:greet")
    old = agent.wait_until(running=True)["pid"]

    (extra / "newly_installed.py").write_text("")
    changed = agent.retune("run", f"{FLOWS}:greet", "--name", "after")
    assert _gone(old, timeout=10), "the agent out of date still runs"
    new = agent.wait_until(running=True)["pid"]
    through_new = agent.retune("run", f"{FLOWS}:greet", "--name", "new")

    assert changed.returncode == 0, changed.stderr
    assert outputs(changed) == "-/-/after"  # run by the command itself
    assert new != old
    assert outputs(through_new) == "-/-/new"
    assert agent.status()["served"] == 1


def test_stop_idle_and_off(agent: Agent) -> None:
    off = agent.retune("run", f"{FLOWS}:greet", RETUNE_AGENT="0")
    time.sleep(1)
    never = agent.status()
    agent.retune("run", f"{FLOWS}:greet")
    agent.wait_until(running=True)
    stopped = agent.retune("agent", "stop")
    after_stop = agent.status()
    agent.env["RETUNE_AGENT_IDLE"] = "3"
    agent.retune("run", f"{FLOWS}:greet")
    agent.wait_until(running=True)
    agent.wait_until(running=False, timeout=20)  # idle for 3 s: it ends by itself
    said = agent.retune("agent", "status")

    assert off.returncode == 0 and not never["running"]
    assert stopped.returncode == 0 and "Stopped the run agent" in stopped.stdout
    assert not after_stop["running"]
    assert "The next `retune run` starts one" in said.stdout


def test_stopping_the_agent_lets_the_run_it_is_running_finish(agent: Agent, tmp_path: Path) -> None:
    agent.retune("run", f"{FLOWS}:greet")
    agent_pid = agent.wait_until(running=True)["pid"]
    ledger = tmp_path / "ledger.txt"
    command = subprocess.Popen(
        [RETUNE, "run", f"{INTERRUPT}:two_steps", "--ledger", str(ledger), "--seconds", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent.env,
    )
    _ledger_line(ledger, "start second")
    stopped = agent.retune("agent", "stop")
    out, err = command.communicate(timeout=60)

    assert stopped.returncode == 0, stopped.stderr
    assert command.returncode == 0, err
    assert outputs(subprocess.CompletedProcess([], 0, out, err)) == "firstsecond"
    assert _gone(agent_pid, timeout=10)
