"""The fixed cost of a CLI run of a one-task workflow, in fresh interpreters.

Each command runs as a subprocess, timed with ``perf_counter`` around ``subprocess.run``
(wall time: interpreter start, imports, loading the file, running, exiting). The commands
alternate, one of each per round, after one warm-up round (which also creates retune's
SQLite schema); each tool has its own fresh home for the whole measurement (``RETUNE_HOME``,
or HOME for flytekit's local cache and Dagster's instance directory), and every run gets an
input no earlier run used, so nothing is a cache hit. The net figure of a tool is its run's
statistic minus the same statistic of ``python -c "import <tool>"`` in the same rounds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import comparison
from bench.timing import Stats, summarise

FLOWS = Path(__file__).resolve().parent / "onetask"
HELPS = {"help": ["--help"], "run help": ["run", "retune_one.py:one", "--help"]}


@dataclass(frozen=True)
class Command:
    label: str
    argv: Callable[[int], list[str]]  # round number -> command line
    env: dict[str, str]


@dataclass(frozen=True)
class Tool:
    name: str
    run: Stats
    imported: Stats
    helps: dict[str, Stats] = field(default_factory=dict)  # retune's help commands, same rounds
    alone: Stats | None = None  # retune's run with RETUNE_AGENT=0 (no run agent), same rounds

    @property
    def net(self) -> Stats:
        r, i = self.run, self.imported
        return Stats(r.p50 - i.p50, r.p90 - i.p90, r.min - i.min, r.reps)


def measure_tools(*, reps: int, warmups: int, timeout: float) -> tuple[Tool, dict[str, Tool | str]]:
    """retune's figures, and flytekit's and Dagster's (or why they are not available)."""
    homes = [Path(tempfile.mkdtemp(prefix="retune-bench-cli-")) for _ in range(3)]
    agents = tempfile.mkdtemp(prefix="ra-", dir="/tmp")  # the run agent's socket: 108 bytes at most
    try:
        commands = _retune_commands(homes[0], agents)
        others: dict[str, Tool | str] = {}
        reason = comparison.not_installed()
        if reason is None:
            commands += _framework_commands(homes[1], homes[2])
        else:
            others = {"flytekit": reason, "dagster": reason}
        failed: dict[str, str] = {}
        seconds: dict[str, list[float]] = {c.label: [] for c in commands}
        for round_ in range(warmups + reps):
            for command in commands:
                if command.label.split(":")[0] in failed:
                    continue
                took, error = _run(command, round_, timeout)
                if error is not None:
                    if command.label.startswith("retune"):
                        raise RuntimeError(f"{command.label} failed: {error}")
                    failed[command.label.split(":")[0]] = error
                elif round_ >= warmups:
                    seconds[command.label].append(took)
            if round_ == warmups - 1:  # the warm-up's run started the agent once it was over
                _wait_for_agent(commands[0].env)
        retune = Tool(
            "retune",
            summarise(seconds["retune:run"]),
            summarise(seconds["retune:import"]),
            {label: summarise(seconds[f"retune:{label}"]) for label in HELPS},
            summarise(seconds["retune:run alone"]),
        )
        if reason is None:
            for name in ("flytekit", "dagster"):
                others[name] = failed.get(name) or Tool(
                    name, summarise(seconds[f"{name}:run"]), summarise(seconds[f"{name}:import"])
                )
        return retune, others
    finally:
        _stop_agents(agents)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(agents, ignore_errors=True)


def _retune_commands(home: Path, agents: str) -> list[Command]:
    env = {**_retune_env(home), "RETUNE_AGENT_DIR": agents}
    cli = str(Path(sys.executable).parent / "retune")
    run = "retune_one.py:one"
    return [
        Command("retune:run", lambda n: [cli, "run", run, "--x", str(n)], env),
        Command(
            "retune:run alone", lambda n: [cli, "run", run, "--x", str(-n)], {**env, "RETUNE_AGENT": "0"}
        ),
        Command("retune:import", lambda _: [sys.executable, "-c", "import retune"], env),
        *(Command(f"retune:{label}", lambda _, a=args: [cli, *a], env) for label, args in HELPS.items()),
    ]


def _framework_commands(flyte_home: Path, dagster_home: Path) -> list[Command]:
    bin_ = comparison.VENV / "bin"
    python = str(comparison.PYTHON)
    config = dagster_home / "run_config.yaml"
    config.write_text("ops:\n  inc:\n    config:\n      x: 1\n")
    flyte_env, dagster_env = comparison.environment(flyte_home), comparison.environment(dagster_home)
    dagster_run = [
        str(bin_ / "dagster"),
        "job",
        "execute",
        "-f",
        "dagster_one.py",
        "-j",
        "one",
        "-c",
        str(config),
    ]
    return [
        Command(
            "flytekit:run",
            lambda n: [str(bin_ / "pyflyte"), "run", "flytekit_one.py", "one", "--x", str(n)],
            flyte_env,
        ),
        Command("flytekit:import", lambda _: [python, "-c", "import flytekit"], flyte_env),
        Command("dagster:run", lambda _: dagster_run, dagster_env),
        Command("dagster:import", lambda _: [python, "-c", "import dagster"], dagster_env),
    ]


def _wait_for_agent(env: dict[str, str], timeout: float = 60.0) -> None:
    """Wait until the run agent the warm-up started listens (it imports for a second or so)."""
    command = [str(Path(sys.executable).parent / "retune"), "agent", "status", "--json"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0 and json.loads(done.stdout)["running"]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the run agent did not start within {timeout:.0f} s")


def _stop_agents(directory: str) -> None:
    """End the agent this measurement started (its status file in ``directory`` names it)."""
    for status in Path(directory).glob("*.status"):
        try:
            pid = int(json.loads(status.read_text())["pid"])
            if b"retune.cli.agent" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, KeyError):
            continue


def _retune_env(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RETUNE_")}
    env["RETUNE_HOME"] = str(home)
    return env


def _run(command: Command, round_: int, timeout: float) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command.argv(round_ + 1),
            cwd=FLOWS,
            env=command.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 0.0, f"timed out after {timeout:.0f} s"
    took = time.perf_counter() - start
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        return took, f"exit {result.returncode}: {(lines or ['no output'])[-1][:300]}"
    return took, None
