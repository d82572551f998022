"""``retune agent status|stop``: the run agent of this Python (``retune.cli.agent``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

import _retune_cli
from retune.cli.reporting import reported


@click.group("agent")
def agent_group() -> None:
    """The run agent: a process of yours that keeps retune loaded, so that `retune run` starts
    in a tenth of the time. The first `retune run` starts it; it ends after 10 minutes without
    runs. RETUNE_AGENT=0 turns it off (every run then starts from scratch)."""


@agent_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@reported
def status_command(as_json: bool) -> None:
    """Whether an agent is up for this Python, since when, and how many runs it ran."""
    found = running()
    off = os.environ.get("RETUNE_AGENT", "1").strip().lower() in _retune_cli.OFF
    if as_json:
        click.echo(json.dumps({"running": found is not None, "off": off, **(found or {})}))
        return
    if found is None:
        click.echo(
            f"No run agent for {sys.executable}. "
            + (
                "RETUNE_AGENT=0 is set: `retune run` starts from scratch every time."
                if off
                else "The next `retune run` starts one (RETUNE_AGENT=0 turns that off)."
            )
        )
        return
    up = time.time() - found["started"]
    click.echo(
        f"Run agent pid {found['pid']}, up {_duration(up)}, {found['served']} "
        f"run{'s' if found['served'] != 1 else ''} served; it ends after "
        f"{_duration(found['idle_exit_s'])} without runs.\nSocket: {found['socket']}\n"
        "Stop it with: retune agent stop" + (" (RETUNE_AGENT=0 is set: runs do not use it)" if off else "")
    )


@agent_group.command("stop")
@reported
def stop_command() -> None:
    """Stop this Python's agent (runs it is running finish first); the next run starts a new one."""
    found = running()
    if found is None:
        click.echo("No run agent is running for this Python.")
        return
    os.kill(found["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(found["socket"]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    click.echo(f"Stopped the run agent (pid {found['pid']}).")


def running() -> dict[str, Any] | None:
    """The status of this Python's agent (pid, started, served, idle_exit_s, socket), if it runs."""
    where = _retune_cli.directory()
    if where is None:
        return None
    path = _retune_cli.socket_path(where, _retune_cli.key())
    try:
        status = json.loads(Path(path + ".status").read_text())
        cmdline = Path(f"/proc/{int(status['pid'])}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if b"retune.cli.agent" not in cmdline or not Path(path).exists():
        return None  # it died without cleaning up, and its pid may be another process's now
    return {**status, "socket": path}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
