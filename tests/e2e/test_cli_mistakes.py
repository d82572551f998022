"""What a CLI user sees when their code is wrong, a value is huge, a task fails or nobody runs a
launch: one clear message, never a traceback (unless ``--debug``), output a terminal can hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

E2E = Path(__file__).parent
MISTAKES = E2E / "flows_mistakes.py"
FLOWS = E2E / "flows_interrupt.py"
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("RETUNE_SERVER", "RETUNE_API_TOKEN", "RETUNE_DEBUG")
    }
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120, env=env)


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


def test_an_import_error_in_the_users_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    flows = tmp_path / "broken.py"
    flows.write_text("import retune as rt\n\nimport no_such_module_here\n")

    done = retune("run", f"{flows}:wf")

    assert_one_line(done, 2, "broken.py:3", "ModuleNotFoundError", "no_such_module_here")


def test_an_exception_in_a_workflow_body_is_one_line_naming_file_and_line() -> None:
    done = retune("run", f"{MISTAKES}:raises")

    assert_one_line(done, 2, "flows_mistakes.py:23", "ValueError: a mistake in the workflow body")


def test_comparing_a_promise_says_why_and_where() -> None:
    done = retune("run", f"{MISTAKES}:compares")

    assert_one_line(done, 2, "flows_mistakes.py:16", "'>'", "inside a task")


def test_debug_shows_the_traceback() -> None:
    done = retune("--debug", "run", f"{MISTAKES}:raises")

    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "a mistake in the workflow body" in done.stderr


def test_an_unreachable_database_is_one_line_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETUNE_DATABASE_URL", "postgresql://postgres:secret@127.0.0.1:55499/x")

    done = retune("executions", "list")

    assert_one_line(done, 1, "127.0.0.1:55499", "RETUNE_DATABASE_URL")
    assert "secret" not in done.stderr


def test_a_huge_output_is_cut_short_on_the_terminal_and_whole_in_json() -> None:
    size = 5_000_000
    shown = retune("run", f"{FLOWS}:big_output", "--size", str(size))
    whole = retune("run", f"{FLOWS}:big_output", "--size", str(size), "--json")

    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout) < 5_000
    assert "cut short" in shown.stdout
    assert whole.returncode == 0, whole.stderr
    assert '"' + "x" * size + '"' in whole.stdout


def test_executions_show_gives_a_failed_nodes_error_with_its_traceback() -> None:
    run = retune("run", f"{FLOWS}:failing")
    assert run.returncode == 1
    execution_id = json.loads(retune("executions", "list", "--json").stdout)[0]["id"]

    shown = retune("executions", "show", execution_id)

    assert shown.returncode == 0
    assert "RuntimeError: the task's own mistake" in shown.stdout
    assert "flows_interrupt.py" in shown.stdout  # the task's traceback: where it raised
    assert "attempt 1 (user)" in shown.stdout


def test_launch_wait_without_a_worker_says_so_and_how_to_start_one() -> None:
    registered = retune("register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1")
    assert registered.returncode == 0, registered.stderr
    proc = subprocess.Popen(
        [RETUNE, "launch", "demo/dev/e2e.flows_interrupt.failing", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 30
            said = ""
            while "no worker" not in said and time.monotonic() < deadline:
                said += proc.stderr.readline()
        finally:
            proc.kill()
    assert "no worker has claimed" in said
    assert "retune worker" in said


def test_resume_runs_a_launched_execution_from_its_registered_code() -> None:
    registered = retune("register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1")
    assert registered.returncode == 0, registered.stderr
    launched = retune("launch", "demo/dev/e2e.flows_interrupt.big_output", "-i", "size=3", "--json")
    assert launched.returncode == 0, launched.stderr
    execution_id = json.loads(launched.stdout)["id"]

    resumed = retune("executions", "resume", execution_id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record = json.loads(retune("executions", "show", execution_id, "--json").stdout)
    assert record["phase"] == "SUCCEEDED"
    assert "xxx" in json.dumps(record["outputs"])


def test_progress_on_a_terminal_is_one_line_rewritten_in_place(tmp_path: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("RETUNE_SERVER", "RETUNE_API_TOKEN")}
    env["COLUMNS"] = "100"
    proc = subprocess.Popen(
        [RETUNE, "run", f"{FLOWS}:two_steps", "--ledger", str(tmp_path / "ledger"), "--seconds", "1"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    seen = b""
    with proc:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the run ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    os.close(primary)
    text = seen.decode(errors="replace")

    assert proc.returncode == 0, text
    assert "nodes done" in text
    progress_lines = [line for line in text.replace("\r\n", "\n").split("\n") if "nodes done" in line]
    assert len(progress_lines) <= 1, progress_lines  # rewritten with \r, never one line per update
    assert "\x1b[K" in text  # and cleared before the table is printed


def test_an_integer_too_long_to_store_is_refused_naming_the_input_and_the_limit() -> None:
    huge = "7" * 4301
    registered = retune("register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1")
    assert registered.returncode == 0, registered.stderr

    launched = retune("launch", "demo/dev/e2e.flows_interrupt.big_output", "-i", f"size={huge}")
    run = retune("run", f"{FLOWS}:big_output", "--size", huge)

    assert_one_line(launched, 2, "-i size", "4301 digits", "4300")
    assert_one_line(run, 2, "--size", "4301 digits", "4300")
    assert json.loads(retune("executions", "list", "--json").stdout) == []  # nothing was created
