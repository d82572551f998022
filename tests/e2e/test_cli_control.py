"""`retune register | launch | executions ... | worker`: the control plane from a shell, as real
processes over a fresh SQLite store (RETUNE_HOME per test, tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows_registry")
RETUNE = str(Path(sys.executable).with_name("retune"))
LOUD = "demo/dev/registry_text.loud"
GiB = 2**30


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    """``retune ARGS`` on the local store (whatever server the environment names)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RETUNE_SERVER", "RETUNE_API_TOKEN")}
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120, env=env)


def ok_json(*args: str) -> Any:
    done = retune(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def register(path: Path = FLOWS, version: str = "v1") -> subprocess.CompletedProcess[str]:
    return retune("register", str(path), "--project", "demo", "--domain", "dev", "--version", version)


@pytest.fixture
def registered() -> None:
    done = register()
    assert done.returncode == 0, done.stderr


def node(record: dict[str, Any], hook: str) -> dict[str, Any]:
    return next(n for n in record["nodes"] if n["hook"] == hook)


def launched_ids() -> list[str]:
    return [r["id"] for r in ok_json("executions", "list", "--project", "demo")]


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr


# -- register ---------------------------------------------------------------------------------


def test_the_same_code_registered_from_another_directory_is_the_same_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert register().returncode == 0
    monkeypatch.chdir(FLOWS)  # call sites are recorded relative to the bundle root, not to here

    again = register()

    assert again.returncode == 0, again.stderr
    assert "0 created, 6 unchanged" in again.stdout


def test_register_creates_each_task_workflow_and_launch_plan_then_again_changes_nothing() -> None:
    first = ok_json("register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1")
    again = register()

    assert sorted((e["kind"], e["name"], e["created"]) for e in first["entities"]) == [
        ("launch_plan", "loud_nightly", True),
        ("task", "registry_plans.announce", True),
        ("task", "registry_text.clean", True),
        ("task", "registry_text.shout", True),
        ("workflow", "registry_plans.announced", True),
        ("workflow", "registry_text.loud", True),
    ]
    assert again.returncode == 0, again.stderr
    assert "0 created, 6 unchanged" in again.stdout


def test_other_content_under_a_registered_version_is_refused_naming_what_changed(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows, ignore=shutil.ignore_patterns("__pycache__"))
    assert register(flows).returncode == 0
    text = flows / "registry_text.py"
    original = text.read_text()
    text.write_text(original.replace("retries=1)", "retries=3)"))

    refused = register(flows)
    text.write_text(original)
    unchanged = register(flows)

    assert_one_line_error(
        refused,
        2,
        "version 'v1' is already registered in demo/dev with other content",
        "task registry_text.shout (config)",
        "register the new content under a new version",
    )
    assert "0 created, 6 unchanged" in unchanged.stdout


def test_a_file_that_fails_to_import_is_named_without_a_traceback(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows, ignore=shutil.ignore_patterns("__pycache__"))
    (flows / "broken.py").write_text("import retune\n\nraise RuntimeError('no GPU here')\n")

    done = register(flows)

    assert_one_line_error(
        done,
        2,
        "Cannot import flows/broken.py (module 'broken') at flows/broken.py:3",
        "RuntimeError: no GPU",
    )
    assert ok_json("executions", "list") == []


# -- launch -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("registered")
def test_launch_queues_an_execution_with_the_effective_config_asked_for() -> None:
    launched = ok_json(
        "launch", LOUD, "-i", "word= Hey ", "-o", "shout.mem=2Gi", "-o", "shout.env.LOUD=yes",
        "-o", "clean.retries=0",
    )  # fmt: skip

    shown = ok_json("executions", "show", launched["id"])
    shout = node(shown, "shout")
    assert (shown["phase"], shown["project"], shown["domain"]) == ("QUEUED", "demo", "dev")
    assert shown["inputs"] == {"word": " Hey ", "times": 2}
    assert shout["config"]["requests"]["mem"] == shout["config"]["limits"]["mem"] == 2 * GiB
    assert shout["config"]["environment"] == {"LOUD": "yes"}
    assert shout["config"]["retries"] == 2  # the hook's default in the workflow
    assert shout["provenance"]["requests.mem"]["layer"] == "execution"
    assert node(shown, "clean")["config"]["retries"] == 0


@pytest.mark.usefixtures("registered")
def test_launching_a_launch_plan_applies_its_inputs_and_runtime_override() -> None:
    launched = ok_json("launch", LOUD, "--launch-plan", "loud_nightly", "-i", "word=hey")

    shout = node(launched, "shout")
    assert launched["inputs"] == {"word": "hey", "times": 3}
    assert shout["config"]["retries"] == 4
    assert shout["config"]["environment"] == {"WHEN": "night"}
    assert shout["provenance"]["retries"] == {"layer": "launch_plan", "name": "loud_nightly", "hook": "shout"}


@pytest.mark.usefixtures("registered")
def test_inputs_are_read_by_the_workflow_types() -> None:
    launched = ok_json(
        "launch", "demo/dev/registry_plans.announced", "-i", "text=007", "-i", "weights=[1, 2.5]"
    )

    assert launched["inputs"] == {"text": "007", "weights": [1.0, 2.5]}


@pytest.mark.usefixtures("registered")
def test_an_idempotency_key_returns_the_first_execution() -> None:
    first = ok_json("launch", LOUD, "-i", "word=a", "--idempotency-key", "nightly-2024-06-01")
    second = ok_json("launch", LOUD, "-i", "word=a", "--idempotency-key", "nightly-2024-06-01")
    other = retune("launch", LOUD, "-i", "word=b", "--idempotency-key", "nightly-2024-06-01")

    assert second["id"] == first["id"]
    assert_one_line_error(other, 2, "Idempotency key 'nightly-2024-06-01' was used for another request")
    assert launched_ids() == [first["id"]]


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (
            [LOUD, "-i", "word=a", "-o", "shuot.retries=1"],
            ["Override for hook 'shuot'", "no hook 'shuot'", "Its hooks are: clean, shout"],
        ),
        (
            [LOUD, "-i", "word=a", "-o", "shout.mem=lots"],
            ["hook 'shout', field 'resources.requests.mem'", "'lots' is not a quantity"],
        ),
        ([LOUD, "-i", "word=a", "-i", "times=many"], ["Input 'times' expects int, got 'many'"]),
        ([LOUD], ["needs input 'word' (str)"]),
        (["demo/dev/registry_text.quiet", "-i", "word=a"], ["No workflow 'registry_text.quiet' in demo/dev"]),
        ([LOUD, "--launch-plan", "daily"], ["No launch plan 'daily' in demo/dev"]),
        (["demo/registry_text.loud"], ["'demo/registry_text.loud' is not PROJECT/DOMAIN/NAME[@VERSION]"]),
        ([f"{LOUD}@v9", "-i", "word=a"], ["No version 'v9' of workflow 'registry_text.loud'"]),
    ],
    ids=[
        "unknown hook",
        "bad value",
        "wrong input type",
        "missing input",
        "unknown workflow",
        "unknown plan",
        "bad target",
        "unknown version",
    ],
)
def test_a_bad_launch_is_one_line_exit_2_and_creates_nothing(args: list[str], phrases: list[str]) -> None:
    done = retune("launch", *args)

    assert_one_line_error(done, 2, *phrases)
    assert launched_ids() == []


# -- executions -------------------------------------------------------------------------------


@pytest.mark.usefixtures("registered")
def test_aborting_a_queued_execution_ends_it_aborted() -> None:
    launched = ok_json("launch", LOUD, "-i", "word=a")

    aborted = ok_json("executions", "abort", launched["id"])
    again = retune("executions", "abort", launched["id"])

    assert aborted["phase"] == "ABORTED"
    assert ok_json("executions", "show", launched["id"])["phase"] == "ABORTED"
    assert again.returncode == 0, again.stderr


@pytest.mark.usefixtures("registered")
def test_the_list_pages_and_each_page_ends_with_the_command_for_the_next() -> None:
    first, second, third = (ok_json("launch", LOUD, "-i", f"word={word}")["id"] for word in "abc")
    ok_json("executions", "abort", second)

    page = retune("executions", "list", "--project", "demo", "--limit", "2")
    hint = page.stdout.strip().splitlines()[-1]
    rest = retune(*shlex.split(hint)[2:])  # after "Older: retune"
    aborted = ok_json("executions", "list", "--phase", "aborted")
    unknown = retune("executions", "list", "--before", "ex-nope")

    def ids(done: subprocess.CompletedProcess[str]) -> list[str]:
        assert done.returncode == 0, done.stderr
        return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ex-")]

    assert ids(page) == [third, second]
    assert hint == f"Older: retune executions list --project demo --limit 2 --before {second}"
    assert ids(rest) == [first] and "Older" not in rest.stdout
    assert [r["id"] for r in aborted] == [second]
    assert_one_line_error(unknown, 2, "No execution 'ex-nope' to list the executions before")


@pytest.mark.usefixtures("registered")
def test_an_execution_whose_inputs_cannot_be_read_is_listed_saying_so_among_the_others(
    retune_home: Path,
) -> None:
    older, bad, newer = (ok_json("launch", LOUD, "-i", f"word={word}")["id"] for word in "abc")
    with sqlite3.connect(retune_home / "retune.db") as db:  # as an older retune or a hand could have
        db.execute("UPDATE executions SET inputs = ? WHERE id = ?", ('{"word": ' + "7" * 5000 + "}", bad))
    db.close()

    table = retune("executions", "list")
    launched = ok_json("executions", "list", "--project", "demo")
    shown = retune("executions", "show", bad)

    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("│ ex-")]
    assert [row.split()[1] for row in rows] == [newer, bad, older]
    assert "QUEUED" in rows[1] and "Cannot read the inputs back from the store: it holds an" in rows[1]
    assert [(r["id"], r["unreadable"]) for r in launched] == [
        (newer, None),
        (bad, "Cannot read the inputs back from the store: it holds an integer of more than 4300 digits."),
        (older, None),
    ]
    assert launched[0]["inputs"] == {"word": "c", "times": 2} and launched[1]["inputs"] == {}
    assert_one_line_error(
        shown, 1, f"Cannot read the inputs of execution {bad!r} back from the store", "4300 digits"
    )


@pytest.mark.usefixtures("registered")
def test_a_worker_runs_launched_executions_from_the_registered_bundle() -> None:
    launched = ok_json("launch", LOUD, "--launch-plan", "loud_nightly", "-i", "word= Hey ")
    announced = ok_json(
        "launch", "demo/dev/registry_plans.announced", "-i", "text=sum", "-i", "weights=[1, 2]"
    )

    worked = retune("worker", "--once", "--name", "night-shift")

    assert worked.returncode == 0, worked.stderr
    assert ok_json("executions", "show", launched["id"])["outputs"] == "HEY!!!"
    assert ok_json("executions", "show", announced["id"])["outputs"] == "sum 3!"
    assert ok_json("executions", "show", launched["id"])["worker"] == "night-shift"
    assert "worker night-shift" in retune("executions", "show", launched["id"]).stdout
    assert f"night-shift: claimed {launched['id']}" in worked.stderr  # one line per claim
    assert f"{launched['id']} is SUCCEEDED after" in worked.stderr  # and per finish


@pytest.mark.usefixtures("registered")
def test_relaunch_carries_overrides_over_and_recover_reruns_what_failed() -> None:
    failed = ok_json("launch", LOUD, "-i", "word=a", "-i", "times=-1", "-o", "shout.retries=0")
    assert retune("worker", "--once").returncode == 0
    assert ok_json("executions", "show", failed["id"])["phase"] == "FAILED"

    relaunched = ok_json("executions", "relaunch", failed["id"], "-o", "shout.env.TRY=2")
    recovered = ok_json("executions", "recover", failed["id"])
    refused = retune("executions", "recover", relaunched["id"])

    assert relaunched["parent_id"] == failed["id"]
    assert relaunched["overrides"] == {"shout": {"retries": 0, "environment": {"TRY": "2"}}}
    assert [n["phase"] for n in recovered["nodes"]] == ["SUCCEEDED", "QUEUED"]
    assert_one_line_error(refused, 2, "only a FAILED or ABORTED one can be recovered")


@pytest.mark.usefixtures("registered")
def test_launch_wait_follows_the_execution_to_its_end_and_exits_1_when_it_failed() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RETUNE_SERVER"}
    worker = subprocess.Popen([RETUNE, "worker", "--name", "e2e"], stderr=subprocess.DEVNULL, env=env)
    try:
        succeeded = retune("launch", LOUD, "-i", "word=hi", "--wait")
        failed = retune("launch", LOUD, "-i", "word=hi", "-i", "times=-1", "-o", "shout.retries=0", "--wait")
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert succeeded.returncode == 0, succeeded.stderr
    assert "outputs: 'HI!!'" in succeeded.stdout
    assert failed.returncode == 1
    assert "times must be at least 0, got -1" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_an_unreachable_server_is_one_line_exit_1() -> None:
    done = retune("executions", "list", "--server", "http://127.0.0.1:9")

    assert_one_line_error(
        done, 1, "Cannot reach the retune server at http://127.0.0.1:9", "Start it with `retune serve`"
    )


def test_every_command_explains_itself_with_an_example() -> None:
    commands = [
        ["register"],
        ["launch"],
        ["serve"],
        ["worker"],
        *(["executions", verb] for verb in ("list", "show", "logs", "relaunch", "recover", "abort")),
    ]

    for command in commands:
        done = retune(*command, "--help")
        assert done.returncode == 0, done.stderr
        assert "Example:" in done.stdout or "Examples:" in done.stdout, command


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real `retune serve` on a free loopback port, over this test's RETUNE_HOME."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        served = subprocess.Popen([RETUNE, "serve", "--port", str(port)], stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 30
        while retune("executions", "list", "--server", url).returncode != 0:
            assert served.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"retune serve did not answer within 30 s: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        served.terminate()
        served.wait(timeout=30)


def test_the_same_commands_work_through_a_running_server(server: str) -> None:
    registered = retune(
        "register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1", "--server", server
    )
    launched = ok_json("launch", LOUD, "-i", "word=hi", "-o", "shout.mem=2Gi", "--server", server)
    refused = retune("launch", LOUD, "-i", "word=hi", "-o", "shuot.retries=1", "--server", server)
    aborted = ok_json("executions", "abort", launched["id"], "--server", server)

    assert "6 created, 0 unchanged" in registered.stdout, registered.stderr
    assert node(launched, "shout")["config"]["requests"]["mem"] == 2 * GiB
    assert_one_line_error(refused, 2, "Override for hook 'shuot'", "Its hooks are: clean, shout")
    assert aborted["phase"] == "ABORTED"
    assert ok_json("executions", "show", launched["id"])["phase"] == "ABORTED"  # the same store
    assert [r["id"] for r in ok_json("executions", "list", "--server", server)] == [launched["id"]]
