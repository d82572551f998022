"""`import retune` stays light: declaring tasks and workflows pulls in no heavy dependency."""

from __future__ import annotations

import json
import subprocess
import sys

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
