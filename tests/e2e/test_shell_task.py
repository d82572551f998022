"""Shell tasks (DESIGN §9) through `retune run`: inputs arrive as variables and arguments, never
as shell text; outputs are read back typed from files; a failing script reports its exit
status and the end of its stderr; a task_config override changes the script's environment and
working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

FLOWS = Path(__file__).with_name("flows_shell.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120)


def run_json(*args: str) -> dict[str, Any]:
    done = retune("run", *args, "--json")
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def test_an_input_with_shell_syntax_arrives_as_a_literal_string_and_runs_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("still here")
    hostile = f'x"; rm -rf {canary}; $(touch {tmp_path}/pwned) `touch {tmp_path}/pwned2` \' ; rm -rf "$HOME"'

    record = run_json(f"{FLOWS}:echo_flow", "--text", hostile, "--times", "21")

    as_variable, as_argument, doubled, greeting, cwd, items, ok = record["outputs"]
    assert as_variable == hostile
    assert as_argument == hostile
    assert canary.read_text() == "still here"
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()
    assert (doubled, greeting, items, ok) == (42, "unset", ["a", 1], True), "outputs come back typed"
    assert Path(cwd).name != tmp_path.name, "by default the script runs in the attempt's scratch directory"


def test_a_task_config_override_changes_the_scripts_environment_and_working_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    record = run_json(
        f"{FLOWS}:echo_flow", "--text", "hi", "-o", "echo.task_config.env.GREETING=bonjour",
        "-o", f"echo.task_config.cwd={workdir}", "-o", "echo.task_config.shell=sh",
    )  # fmt: skip
    _, _, _, greeting, cwd, _, _ = record["outputs"]
    assert greeting == "bonjour"
    assert cwd.strip() == str(workdir)
    node = record["nodes"][0]
    assert node["config"]["task_config"] == {
        "shell": "sh",
        "cwd": str(workdir),
        "env": {"GREETING": "bonjour"},
    }
    assert node["provenance"]["task_config.env.GREETING"]["layer"] == "execution"


def test_a_failing_script_reports_its_exit_status_and_the_end_of_its_stderr() -> None:
    done = retune("run", f"{FLOWS}:fail_flow", "--code", "3", "--json")
    assert done.returncode != 0
    record = json.loads(done.stdout)
    assert record["phase"] == "FAILED"
    error = record["nodes"][0]["error"]
    assert "exited with status 3" in error
    assert "disk full: cannot write /data/out" in error
    assert "working on 3" not in error, "stdout is the log's, not the error's"


def test_a_script_that_writes_no_output_file_says_which_and_where() -> None:
    done = retune("run", f"{FLOWS}:forgets_flow", "--json")
    assert done.returncode != 0
    error = json.loads(done.stdout)["nodes"][0]["error"]
    assert "the script wrote no output 'report'" in error
    assert '"$RETUNE_OUTPUTS/report"' in error


def test_a_shell_task_whose_input_would_replace_a_shell_variable_is_refused_where_it_is_declared(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "bad_shell.py"
    flow.write_text(
        "import retune as rt\n"
        "t = rt.ShellTask('t', 'echo hi', inputs={'PATH': str})\n"
        "@rt.workflow\n"
        "def wf(p: str) -> None:\n"
        "    t(PATH=p)\n"
    )
    done = retune("run", f"{flow}:wf", "--p", "x")
    assert done.returncode == 2
    assert "ShellTask 't' (bad_shell.py:2): input 'PATH' would replace the shell's own $PATH" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_registered_shell_task_runs_on_a_worker_from_the_registry_alone(tmp_path: Path) -> None:
    """Registered, launched with an override, run by `retune worker --once`: the worker's task
    process reads the script from the stored spec (it imports none of the flow's code)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "shell_flows.py").write_text(FLOWS.read_text())
    registered = retune("register", str(flows), "--project", "p", "--domain", "d", "--version", "v1")
    assert registered.returncode == 0, registered.stderr
    (flows / "shell_flows.py").unlink()  # the worker runs from the registry alone

    launched = retune(
        "launch",
        "p/d/shell_flows.echo_flow@v1",
        "-i",
        "text=$(id)",
        "-o",
        "echo.task_config.env.GREETING=hola",
        "--json",
    )
    assert launched.returncode == 0, launched.stderr
    execution = json.loads(launched.stdout)["id"]
    worked = retune("worker", "--once")
    assert worked.returncode == 0, worked.stderr
    shown = retune("executions", "show", execution, "--json")
    record = json.loads(shown.stdout)
    assert record["phase"] == "SUCCEEDED", record
    as_variable, as_argument, _, greeting, _, _, _ = record["outputs"]
    assert (as_variable, as_argument, greeting) == ("$(id)", "$(id)", "hola")
