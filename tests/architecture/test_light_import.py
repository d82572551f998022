"""`import retune` stays light: declaring tasks and workflows pulls in no heavy dependency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# pydantic too: importing it alone costs ~130 ms here, most of the 150 ms budget.
HEAVY = ("sqlalchemy", "fastapi", "ray", "click", "yaml", "pydantic")

PROBE = f"""
import json, sys
import retune
heavy = {HEAVY!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_import_retune_loads_no_heavy_dependency() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


DECLARE = """
import json, sys
import retune as rt

@rt.task(requests=rt.Resources(cpu="1", mem="1Gi"), retries=2)
def double(x: int) -> int:
    return 2 * x

@rt.workflow
def flow(x: int) -> int:
    return double(x=x).with_runtime_override("double", rt.runtime_override_config(mem="2Gi"))

print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "pydantic")))
"""


def test_declaring_tasks_and_workflows_does_not_load_pydantic() -> None:
    done = subprocess.run([sys.executable, "-c", DECLARE], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# `retune --help` is a click program and nothing more: no rich (tables are rendered only when
# a command prints one), no pydantic, no store, server or engine (issue 12's start-up budget).
CLI_HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "ray", "yaml", "pydantic", "rich", "httpx")
CLI_RETUNE_HEAVY = ("retune.api", "retune.store", "retune.server", "retune.engine", "retune.control")

CLI_HELP = f"""
import json, sys
sys.argv = ["retune", "--help"]
from retune.cli.main import main
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
heavy, ours = {CLI_HEAVY!r}, {CLI_RETUNE_HEAVY!r}
loaded = [m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(ours)]
print(json.dumps(sorted(loaded)))
"""


def test_retune_help_loads_no_heavy_dependency_nor_the_store_server_or_engine() -> None:
    done = subprocess.run([sys.executable, "-c", CLI_HELP], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "Usage: retune" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1]) == []


# `retune run FILE:WORKFLOW --help` reads the inputs from the signature: no pydantic either.
RUN_HELP = f"""
import json, sys
sys.argv = ["retune", "run", sys.argv[1] + ":flow", "--help"]
from retune.cli.main import main
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
heavy, ours = {CLI_HEAVY!r}, {CLI_RETUNE_HEAVY!r}
loaded = [m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(ours)]
print(json.dumps(sorted(loaded)))
"""


def test_run_help_of_a_workflow_loads_no_heavy_dependency(tmp_path: Path) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(
        "import retune as rt\n\n"
        "@rt.task\ndef double(x: int) -> int:\n    return 2 * x\n\n"
        "@rt.workflow\ndef flow(x: int) -> int:\n    return double(x=x).with_runtime_override('double')\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", RUN_HELP, str(flows)], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert "--x INT (required)" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1]) == []
