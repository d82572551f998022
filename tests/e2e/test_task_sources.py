"""Tasks run wherever they were defined: a script run as __main__, a notebook cell, a test module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import retune as rt

SCRIPT = """
import retune as rt

@rt.task
def double(x: int) -> int:
    return 2 * x

@rt.workflow
def wf(x: int = 2) -> int:
    return double(x=x).with_runtime_override("double")

if __name__ == "__main__":
    print(rt.run(wf, {"x": 21}, {"double": {"retries": 1}}).outputs)
"""

CELL = """
import retune as rt

@rt.task
def triple(x: int) -> int:
    return 3 * x

@rt.workflow
def cell_flow(x: int = 2) -> int:
    return triple(x=x)
"""


@rt.task
def add_one(x: int) -> int:
    return x + 1


@rt.workflow
def module_flow(x: int = 1) -> int:
    return add_one(x=x)


def test_a_script_run_as_main_runs_its_tasks(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=os.environ, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_a_notebook_cell_runs_its_tasks() -> None:
    namespace: dict[str, object] = {}
    exec(compile(CELL, "<notebook-cell>", "exec"), namespace)

    assert rt.run(namespace["cell_flow"], {"x": 5}).outputs == 15  # type: ignore[arg-type]


def test_a_test_module_runs_its_tasks() -> None:
    assert rt.run(module_flow, {"x": 41}).outputs == 42
