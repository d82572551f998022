"""The other frameworks, run as subprocesses under their own environment (``bench/.venv-compare``).

``make bench`` installs flytekit, Prefect and Dagster there from the pinned
``bench/compare/requirements.txt`` (once: the copy of that file inside the environment says
what is installed) and writes the install log to ``bench/.venv-compare.log``. Every run here
gets a fresh temporary HOME (so flytekit's local cache, Prefect's server database and result
storage, and Dagster's telemetry directory all start empty), ``PREFECT_HOME`` under it, and
analytics switched off (``DO_NOT_TRACK=1``, ``PREFECT_SERVER_ANALYTICS_ENABLED=false``). A
framework that cannot be installed or run becomes an ``Unavailable`` with the reason, and its
rows say "not available: <reason>"; the rest of the suite carries on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SCRIPTS = BENCH / "compare"
VENV = BENCH / ".venv-compare"
PYTHON = VENV / "bin" / "python"
INSTALL_LOG = BENCH / ".venv-compare.log"
MARKER = "BENCH-JSON "

FRAMEWORKS = {"flytekit": "flytekit local", "prefect": "Prefect", "dagster": "Dagster execute_in_process"}


@dataclass(frozen=True)
class Measured:
    framework: str
    version: str
    seconds: list[float]  # per whole run
    direct: list[float]  # the same functions called directly, in that process


@dataclass(frozen=True)
class Unavailable:
    reason: str


def not_installed() -> str | None:
    """Why the comparison environment cannot be used, or None when it can."""
    if PYTHON.exists():
        return None
    tail = ""
    if INSTALL_LOG.exists():
        lines = [
            line.strip() for line in INSTALL_LOG.read_text(errors="replace").splitlines() if line.strip()
        ]
        tail = f": {lines[-1][:200]}" if lines else ""
    return f"comparison environment {VENV.relative_to(BENCH.parent)} not installed (make bench installs it){tail}"


def run_workload(
    framework: str, workload: str, size: int, *, reps: int, budget: float, timeout: float
) -> Measured | Unavailable:
    """``bench/compare/run_<framework>.py WORKLOAD SIZE REPS BUDGET`` in a fresh HOME."""
    reason = not_installed()
    if reason:
        return Unavailable(reason)
    script = SCRIPTS / f"run_{framework}.py"
    with fresh_home() as (home, env):
        log = home / "stderr.log"
        try:
            with log.open("w") as stderr:
                result = subprocess.run(
                    [str(PYTHON), str(script), workload, str(size), str(reps), str(budget)],
                    cwd=SCRIPTS,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            return Unavailable(f"{framework} did not finish {workload} within {timeout:.0f} s")
        payload = _payload(result.stdout)
        if result.returncode != 0 or payload is None:
            return Unavailable(f"{framework} exited {result.returncode}: {_last_error(log)}")
    return Measured(framework, payload["version"], payload["seconds"], payload["direct"])


@contextmanager
def fresh_home() -> Iterator[tuple[Path, dict[str, str]]]:
    """A temporary HOME and the environment a comparison subprocess runs with."""
    home = Path(tempfile.mkdtemp(prefix="retune-bench-compare-"))
    try:
        yield home, environment(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def environment(home: Path) -> dict[str, str]:
    """This process's environment without any framework's settings, HOME at ``home``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RETUNE_", "PREFECT_", "DAGSTER_", "FLYTE_"))
        and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        HOME=str(home),
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _payload(stdout: str) -> dict[str, Any] | None:
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        return None
    payload: dict[str, Any] = json.loads(lines[-1].removeprefix(MARKER))
    return payload


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1][:300]
