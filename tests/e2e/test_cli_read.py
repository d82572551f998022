"""`retune hooks | explain | executions list | show | logs | resume`: what users read after a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FLOWS = Path(__file__).with_name("flows_cli.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def launched() -> dict[str, Any]:
    done = retune("run", f"{FLOWS}:shout_flow", "--word", "hey", "-o", "shout.env.MOOD=loud", "--json")
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def test_hooks_json_lists_each_hook_with_its_default_and_call_site() -> None:
    done = retune("hooks", f"{FLOWS}:shout_flow", "--json")

    assert done.returncode == 0, done.stderr
    hooks = json.loads(done.stdout)
    assert list(hooks) == ["shout"]
    assert hooks["shout"]["default"] == {"retries": 2}
    assert hooks["shout"]["declared_at"].endswith("flows_cli.py:19")


def test_explain_names_the_source_of_every_value() -> None:
    record = launched()

    done = retune("explain", record["id"], "--node", "shout", "--json")

    assert done.returncode == 0, done.stderr
    node = json.loads(done.stdout)["n0"]
    assert node["config"]["retries"] == 2
    assert node["provenance"]["retries"] == {
        "layer": "workflow",
        "name": "flows_cli.shout_flow",
        "hook": "shout",
    }
    assert node["provenance"]["environment.MOOD"] == {
        "layer": "execution",
        "name": record["id"],
        "hook": "shout",
    }
    human = retune("explain", record["id"])
    assert "environment.MOOD" in human.stdout
    assert f"execution: {record['id']} (hook shout)" in human.stdout


def test_list_show_and_logs_read_back_the_run() -> None:
    record = launched()

    listed = json.loads(retune("executions", "list", "--json").stdout)
    shown = json.loads(retune("executions", "show", record["id"], "--json").stdout)
    stdout = retune("executions", "logs", record["id"], "--node", "shout")
    stderr = retune("executions", "logs", record["id"], "--node", "n0", "--stream", "stderr")

    assert [r["id"] for r in listed] == [record["id"]]
    assert shown["outputs"] == "HEY"
    assert shown["nodes"][0]["attempts"][0]["kind"] == "user"
    assert stdout.stdout == "shouting hey\n"
    assert stderr.stdout == "to stderr\n"


def test_resuming_a_finished_execution_changes_nothing() -> None:
    record = launched()

    done = retune("executions", "resume", record["id"])
    shown = json.loads(retune("executions", "show", record["id"], "--json").stdout)

    assert done.returncode == 0, done.stderr
    assert shown["phase"] == "SUCCEEDED"
    assert len(shown["nodes"][0]["attempts"]) == 1


def test_unknown_executions_and_nodes_are_one_clear_line() -> None:
    record = launched()

    missing = retune("executions", "show", "ex-nope")
    bad_node = retune("explain", record["id"], "--node", "nope")

    assert missing.returncode == bad_node.returncode == 2
    assert "ex-nope" in missing.stderr
    assert "retune executions list" in missing.stderr
    assert "has no node or hook 'nope'" in bad_node.stderr
    assert "Traceback" not in missing.stderr + bad_node.stderr
