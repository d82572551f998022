"""A third-party task type, installed as a package with an entry point in ``retune.task_types``
(DESIGN §9): `retune run` finds it, the task process runs it from the spec alone, overrides of
its task_config change what it does, its launch check refuses at launch, and `retune serve`
serves its JSON Schema next to the built-ins'."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
FLOWS = HERE / "flows_plugin.py"
RETUNE = str(Path(sys.executable).with_name("retune"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory on PYTHONPATH holding the plugin as an installed distribution: its module and
    a ``.dist-info`` whose entry points declare ``greeting`` (and ``broken``, whose module is not
    there)."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HERE / "plugin_greetings" / "retune_greetings.py", site)
    info = site / "retune_greetings-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: retune-greetings\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[retune.task_types]\ngreeting = retune_greetings:GREETING\nbroken = retune_not_installed:TYPE\n"
    )
    return site


def retune(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120, env=env)


def test_a_task_type_from_an_entry_point_runs_and_its_task_config_overrides_change_what_it_does(
    site: Path,
) -> None:
    plain = retune(site, "run", f"{FLOWS}:greet_flow", "--name", "Ada", "--json")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["outputs"] == "Hello, Ada."

    loud = retune(
        site, "run", f"{FLOWS}:greet_flow", "--name", "Ada", "-o", "greet.task_config.salutation=Hi",
        "-o", "greet.task_config.shout=true", "--json",
    )  # fmt: skip
    assert loud.returncode == 0, loud.stderr
    record = json.loads(loud.stdout)
    assert record["outputs"] == "HI, ADA."
    node = record["nodes"][0]
    assert node["config"]["task_config"] == {"salutation": "Hi", "shout": True, "punctuation": "."}
    assert node["provenance"]["task_config.salutation"]["layer"] == "execution"
    # the task declared its whole config, defaults included: they come from the task
    assert node["provenance"]["task_config.punctuation"] == {
        "layer": "task",
        "name": "flows_plugin.greet",
        "hook": None,
    }


def test_a_task_type_refuses_at_launch_what_its_check_or_its_model_refuses_and_nothing_is_stored(
    site: Path,
) -> None:
    for override, message in [
        (
            "greet.task_config.salutation=Bye",
            "field 'task_config.salutation': node 'n0': 'Bye' is not a greeting",
        ),
        ("greet.task_config.shout=maybe", "field 'task_config.shout'"),
        ("greet.task_config.volume=11", "field 'task_config.volume'"),
        ("greet.task_config.task_type=sql", "a greeting task cannot be given a sql task_config"),
    ]:
        done = retune(site, "run", f"{FLOWS}:greet_flow", "-o", override)
        assert done.returncode == 2, (override, done.stdout, done.stderr)
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    listed = retune(site, "executions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [], "a refused launch stores nothing"


@pytest.fixture
def served(site: Path, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(site)}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [RETUNE, "serve", "--port", str(port)], stdout=output, stderr=output, env=env
        )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"retune serve did not answer within 60 s: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_server_serves_every_task_type_with_its_schema_and_a_broken_plugin_with_its_error(
    served: str,
) -> None:
    answer = httpx.get(f"{served}/api/v1/task_types", timeout=30)
    assert answer.status_code == 200, answer.text
    types = {document["name"]: document for document in answer.json()}
    assert {"python", "sql", "shell", "spark", "greeting", "broken"} <= set(types)

    greeting = types["greeting"]
    assert greeting["description"] == "Greets someone."
    assert greeting["result_fields"] == ["salutation", "shout"]
    assert greeting["config_schema"]["properties"]["salutation"]["default"] == "Hello"
    assert greeting["config_schema"]["properties"]["salutation"]["description"] == "The word before the name"
    assert types["sql"]["result_fields"] == ["cluster"]
    assert set(types["sql"]["config_schema"]["properties"]) == {"cluster", "threads", "memory_limit"}
    assert types["python"]["config_schema"] is None
    assert "retune_not_installed" in types["broken"]["error"]
    assert types["broken"]["config_schema"] is None

    one = httpx.get(f"{served}/api/v1/task_types/greeting", timeout=30)
    assert one.status_code == 200
    assert one.json() == greeting
    missing = httpx.get(f"{served}/api/v1/task_types/hive", timeout=30)
    assert missing.status_code == 404
    assert "Unknown task type 'hive'" in missing.text
