"""``retune serve --workers N``: N processes answer on one port, over one store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

FLOWS = Path(__file__).with_name("flows_registry")
RETUNE = str(Path(sys.executable).with_name("retune"))
LOUD = "demo/dev/registry_text.loud"


def retune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=120)


def server_processes(pid: int) -> list[int]:
    """The live worker processes of the server ``pid`` (uvicorn spawns them with
    multiprocessing; its resource tracker, another child, is not one)."""
    found = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [child for child in found if b"spawn_main" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [RETUNE, "serve", "--port", str(port), "--workers", "2"], stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 60
        while len(server_processes(server.pid)) < 2 or not _healthy(url):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"retune serve did not answer within 60 s: {log.read_text()}"
            time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_with_two_workers_launches_through_both_processes_and_stops_them_all(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, server = served
    workers = server_processes(server.pid)
    registered = retune(
        "register", str(FLOWS), "--project", "demo", "--domain", "dev", "--version", "v1", "--server", url
    )
    launched = [
        json.loads(retune("launch", LOUD, "-i", f"word=w{i}", "--server", url, "--json").stdout)["id"]
        for i in range(4)
    ]
    listed = json.loads(retune("executions", "list", "--server", url, "--json").stdout)
    server.terminate()
    server.wait(timeout=30)

    assert registered.returncode == 0, registered.stderr
    assert len(workers) == 2
    assert sorted(r["id"] for r in listed) == sorted(launched)  # every worker writes the one store
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # none left running


def test_serve_refuses_zero_workers_before_binding_anything() -> None:
    done = retune("serve", "--port", "0", "--workers", "0")

    assert done.returncode == 2
    assert "--workers" in done.stderr and "0" in done.stderr
    assert "1" in done.stderr  # the range it takes
