"""One launch path: layers given together are combined field by field, wherever they are given
(``retune run``, ``retune launch``, relaunch); real processes over a fresh SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

E2E = Path(__file__).parent
RETUNE = str(Path(sys.executable).with_name("retune"))
LOUD = "demo/dev/registry_text.loud"


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RETUNE_SERVER", "RETUNE_API_TOKEN")}
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120, env=env)


def ok_json(*args: str) -> Any:
    done = retune(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def node(record: dict[str, Any], hook: str) -> dict[str, Any]:
    return next(n for n in record["nodes"] if n["hook"] == hook)


@pytest.fixture
def overrides_file(tmp_path: Path) -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text("shout:\n  retries: 3\n  environment:\n    FROM_FILE: 'yes'\n")
    return path


def test_retune_run_keeps_the_overrides_file_and_the_o_items_field_by_field(overrides_file: Path) -> None:
    record = ok_json(
        "run", f"{E2E / 'flows_cli.py'}:shout_flow", "--overrides", str(overrides_file), "-o", "shout.mem=2Gi"
    )

    shout = node(record, "shout")
    assert shout["config"]["retries"] == 3  # from the file
    assert shout["config"]["environment"]["FROM_FILE"] == "yes"  # from the file
    assert shout["config"]["requests"]["mem"] == 2 * 2**30  # from -o
    assert shout["provenance"]["retries"]["layer"] == "execution"


def test_retune_launch_keeps_the_overrides_file_and_the_o_items_field_by_field(overrides_file: Path) -> None:
    registered = retune(
        "register", str(E2E / "flows_registry"), "--project", "demo", "--domain", "dev", "--version", "v1"
    )
    assert registered.returncode == 0, registered.stderr

    record = ok_json(
        "launch", LOUD, "-i", "word=a", "--overrides", str(overrides_file), "-o", "shout.mem=2Gi"
    )

    assert record["overrides"]["shout"]["retries"] == 3
    assert record["overrides"]["shout"]["environment"] == {"FROM_FILE": "yes"}
    assert record["overrides"]["shout"]["resources"]["requests"]["mem"] == 2 * 2**30


def test_relaunch_keeps_the_parents_environment_keys_it_does_not_replace() -> None:
    registered = retune(
        "register", str(E2E / "flows_registry"), "--project", "demo", "--domain", "dev", "--version", "v1"
    )
    assert registered.returncode == 0, registered.stderr
    parent = ok_json("launch", LOUD, "-i", "word=a", "-o", "shout.env.A=1", "-o", "shout.env.B=2")

    child = ok_json("executions", "relaunch", parent["id"], "-o", "shout.env.B=3")

    assert child["overrides"]["shout"]["environment"] == {"A": "1", "B": "3"}
    assert node(child, "shout")["config"]["environment"] == {"A": "1", "B": "3"}
    assert node(child, "shout")["provenance"]["environment.A"]["name"] == child["id"]


@pytest.mark.parametrize(
    ("workflow", "expected"), [("single", 30), ("two", [3, "a"])], ids=["value", "tuple"]
)
def test_an_execution_reads_back_with_the_same_outputs_through_every_surface(
    workflow: str, expected: Any, retune_home: Path
) -> None:
    with warnings.catch_warnings():  # Starlette's test client asks for httpx2; its concern only
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    import retune as rt
    from retune import settings
    from retune.server.app import create_app

    from . import flows_shapes

    ran = ok_json("run", f"{E2E / 'flows_shapes.py'}:{workflow}")
    in_process = rt.run(getattr(flows_shapes, workflow))
    settings.load.cache_clear()
    with TestClient(create_app(), base_url="http://127.0.0.1:8265") as client:
        served = [client.get(f"/api/v1/executions/{r}").json()["outputs"] for r in (ran["id"], in_process.id)]

    assert ran["outputs"] == expected  # retune run --json
    assert ok_json("executions", "show", ran["id"])["outputs"] == expected
    assert json.loads(json.dumps(in_process.to_dict()))["outputs"] == expected  # rt.run's record
    assert ok_json("executions", "show", in_process.id)["outputs"] == expected
    assert served == [expected, expected]  # GET /api/v1/executions/{id}


def configs(record: dict[str, Any]) -> str:
    """Every node's config and provenance, the execution's own id taken out of the names."""
    nodes = {n["path"]: {"config": n["config"], "provenance": n["provenance"]} for n in record["nodes"]}
    return json.dumps(nodes, sort_keys=True).replace(record["id"], "<execution>")


def test_retune_run_dry_run_stores_nothing_and_shows_what_the_run_then_records() -> None:
    flow = f"{E2E / 'flows_cli.py'}:shout_flow"
    planned = ok_json("run", flow, "--dry-run", "-o", "shout.cpu=2", "-o", "shout.env.LOG=debug")
    shown = retune("run", flow, "--dry-run", "-o", "shout.cpu=2")
    assert ok_json("executions", "list") == []

    ran = ok_json("run", flow, "-o", "shout.cpu=2", "-o", "shout.env.LOG=debug")

    assert planned["phase"] == "QUEUED"
    assert configs(planned) == configs(ok_json("executions", "show", ran["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "nothing was stored or run" in shown.stdout
    assert "execution:" in shown.stdout and "workflow: flows_cli.shout_flow (hook shout)" in shown.stdout


def test_retune_launch_dry_run_stores_nothing_and_shows_what_the_launch_then_records() -> None:
    registered = retune(
        "register", str(E2E / "flows_registry"), "--project", "demo", "--domain", "dev", "--version", "v1"
    )
    assert registered.returncode == 0, registered.stderr
    planned = ok_json("launch", LOUD, "-i", "word=a", "-o", "shout.retries=4", "--dry-run")
    assert ok_json("executions", "list", "--project", "demo") == []

    launched = ok_json("launch", LOUD, "-i", "word=a", "-o", "shout.retries=4")

    assert configs(planned) == configs(ok_json("executions", "show", launched["id"]))
    assert node(planned, "shout")["config"]["retries"] == 4


@pytest.mark.parametrize("weights", ["[1, 2.5]", "[1,2.5]", "{0: 1}"], ids=["flow", "json", "map"])
def test_retune_run_and_retune_launch_read_an_input_the_same_way(weights: str) -> None:
    registered = retune(
        "register", str(E2E / "flows_registry"), "--project", "demo", "--domain", "dev", "--version", "v1"
    )
    assert registered.returncode == 0, registered.stderr
    flows = E2E / "flows_registry" / "registry_plans.py"

    ran = retune("run", f"{flows}:announced", "--text", "2024-01-01", "--weights", weights, "--json")
    launched = retune(
        "launch",
        "demo/dev/registry_plans.announced",
        "-i",
        "text=2024-01-01",
        "-i",
        f"weights={weights}",
        "--json",
    )

    if weights.startswith("{"):  # not a list: both refuse it, one line, exit 2
        assert (ran.returncode, launched.returncode) == (2, 2), ran.stderr + launched.stderr
        assert "weights" in ran.stderr and "weights" in launched.stderr
        return
    assert ran.returncode == 0, ran.stderr
    assert launched.returncode == 0, launched.stderr
    assert json.loads(ran.stdout)["inputs"] == json.loads(launched.stdout)["inputs"]
    assert json.loads(launched.stdout)["inputs"] == {"text": "2024-01-01", "weights": [1.0, 2.5]}
