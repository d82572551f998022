"""`retune run -o` changes what runs, field by field; bad command lines fail cleanly and store nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows_fields.py")
IMAGE_FLOWS = Path(__file__).with_name("flows_image.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETUNE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def run_json(target: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = retune("run", f"{FLOWS}:{target}", *args, "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def node(record: dict[str, Any], hook: str) -> dict[str, Any]:
    return next(n for n in record["nodes"] if n["hook"] == hook)


def stored_executions() -> list[Any]:
    done = retune("executions", "list", "--json")
    assert done.returncode == 0, done.stderr
    found: list[Any] = json.loads(done.stdout)
    return found


def test_env_override() -> None:
    record = run_json("env_flow", "-o", "env.env.GREETING=hi from the cli")
    assert record["outputs"] == "hi from the cli"
    assert node(record, "env")["provenance"]["environment.GREETING"]["layer"] == "execution"


def test_retries_override(tmp_path: Path) -> None:
    record = run_json(
        "retry_flow", "--counter", str(tmp_path / "n"), "--failures", "2", "-o", "flaky.retries=2"
    )
    assert record["outputs"] == 3
    assert [a["kind"] for a in node(record, "flaky")["attempts"]] == ["user", "user", "user"]


def test_cache_and_cache_version_overrides(tmp_path: Path) -> None:
    args = ("--counter", str(tmp_path / "ran"))
    statuses = [
        node(run_json("cache_flow", *args), "cached")["cache"],
        node(run_json("cache_flow", *args), "cached")["cache"],
        node(run_json("cache_flow", *args, "-o", "cached.cache_version=2"), "cached")["cache"],
        node(run_json("cache_flow", *args, "-o", "cached.cache=false"), "cached")["cache"],
        node(run_json("cache_flow", *args, "-o", "cached.cache_serialize=true"), "cached")["cache"],
    ]
    assert statuses == ["miss", "hit", "miss", "disabled", "hit"]


def test_memory_override_turns_an_oom_into_a_success() -> None:
    failed = retune("run", f"{FLOWS}:memory_flow", "--mb", "200")
    raised = run_json("memory_flow", "--mb", "200", "-o", "alloc.mem=1Gi")

    assert failed.returncode == 1
    assert "memory limit 128Mi exceeded" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert raised["phase"] == "SUCCEEDED"
    assert raised["outputs"] == 200


def test_an_impossible_cpu_request_is_refused_and_nothing_is_stored() -> None:
    done = retune("run", f"{FLOWS}:cpu_flow", "-o", "cpu.cpu=512")

    assert done.returncode == 2
    assert "hook 'cpu'" in done.stderr
    assert "resources.requests.cpu" in done.stderr
    assert "Traceback" not in done.stderr
    assert stored_executions() == []


def test_image_override_runs_under_the_mapped_interpreter(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    interpreter = str(venv / "bin" / "python")
    done = retune(
        "run",
        f"{IMAGE_FLOWS}:image_flow",
        "-o",
        "image.image=py-venv",
        "--json",
        env={"RETUNE_IMAGES": f"py-venv={interpreter}"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"] == interpreter


def test_task_config_override_reaches_the_task() -> None:
    record = run_json("spark_flow", "-o", "spark.task_config.spark_conf[spark.executor.memory]=4g")
    assert record["outputs"]["spark.executor.memory"] == "4g"


def test_interruptible_override_is_recorded_and_placed_on_demand_locally() -> None:
    record = run_json("env_flow", "-o", "env.interruptible=true")
    env_node = node(record, "env")
    assert env_node["config"]["interruptible"] is True
    assert [a["capacity"] for a in env_node["attempts"]] == ["on_demand"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "env.retries=-1"], "hook 'env', field 'retries'"),
        (["-o", "evn.retries=1"], "Did you mean 'env'?"),
        (["-o", "env.mem=lots"], "field 'resources.requests.mem'"),
        (["--nope", "1"], "unknown option '--nope'"),
    ],
)
def test_bad_command_lines_exit_non_zero_with_one_message_and_store_nothing(
    args: list[str], message: str
) -> None:
    done = retune("run", f"{FLOWS}:env_flow", *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
    assert stored_executions() == []


def test_missing_and_mistyped_inputs_are_refused(tmp_path: Path) -> None:
    missing = retune("run", f"{FLOWS}:retry_flow", "--failures", "1")
    mistyped = retune("run", f"{FLOWS}:retry_flow", "--counter", "x", "--failures", "many")

    assert missing.returncode == mistyped.returncode == 2
    assert "needs input 'counter'" in missing.stderr
    assert "--failures expects int, got 'many'" in mistyped.stderr
    assert "Traceback" not in missing.stderr + mistyped.stderr
    assert stored_executions() == []


def test_help_lists_the_inputs_and_names_the_command_that_lists_the_hooks() -> None:
    done = retune("run", f"{FLOWS}:retry_flow", "--help")

    assert done.returncode == 0
    assert "--counter STR (required)" in done.stdout
    assert "--failures INT (required)" in done.stdout
    assert f"retune hooks {FLOWS}:retry_flow" in done.stdout
    hooks = retune("hooks", f"{FLOWS}:retry_flow")
    assert hooks.returncode == 0
    assert "flaky" in hooks.stdout


def test_help_lists_the_hooks_too_when_the_file_has_loaded_the_specs(tmp_path: Path) -> None:
    flows = tmp_path / "planned.py"
    flows.write_text(
        "import retune as rt\n\n"
        "@rt.task\ndef inc(x: int) -> int:\n    return x + 1\n\n"
        "@rt.workflow\ndef flow(x: int = 2, label: str | None = None) -> int:\n"
        "    return inc(x=x).with_runtime_override('bump', rt.runtime_override_config(retries=3))\n\n"
        "nightly = rt.LaunchPlan.get_or_create(workflow=flow, name='nightly')\n"
    )

    done = retune("run", f"{flows}:flow", "--help")

    assert done.returncode == 0, done.stderr
    assert "--x INT (default 2)" in done.stdout
    assert "--label OPTIONAL[STR] (default None)" in done.stdout
    assert "Hooks (override with -o HOOK.FIELD=VALUE): bump" in done.stdout
    assert "default: retries=3" in done.stdout


# Which state of the cyclic garbage collector the command's work meets: paused while starting
# up, on once a run's execution has started, and on at once for every other command.
COLLECTOR_PROBE = """
import gc, json, sys
import retune.cli.main as main
from retune.cli import render
seen = []
shown = main._Progress.__call__
def progress(self, changes):
    shown(self, changes)
    seen.append(("run", gc.isenabled()))
main._Progress.__call__ = progress
emit = render.emit_json
def emit_json(data):
    seen.append(("json", gc.isenabled()))
    emit(data)
render.emit_json = emit_json
load = main.load_target
def load_target(target):
    seen.append(("load", gc.isenabled()))
    return load(target)
main.load_target = load_target
sys.argv = ["retune", *sys.argv[1:]]
try:
    main.main()
finally:
    frozen = gc.get_freeze_count() > 0
    print(json.dumps({"seen": sorted(set(seen)), "at_exit": gc.isenabled(), "frozen": frozen}), file=sys.stderr)
"""


def test_the_collector_is_paused_only_while_a_command_starts_up(tmp_path: Path) -> None:
    def probe(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-c", COLLECTOR_PROBE, *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stderr.strip().splitlines()[-1])

    ran = probe("run", f"{FLOWS}:env_flow", "--json")
    listed = probe("executions", "list", "--json")

    assert ran == {"seen": [["json", True], ["load", False], ["run", True]], "at_exit": True, "frozen": True}
    assert listed == {"seen": [["json", True]], "at_exit": True, "frozen": False}
