"""``retune serve --workers N``: N processes answer on one port, over one store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def _connections(pid: int, port: int) -> int:
    """How many established TCP connections to ``port`` process ``pid`` holds open
    (only those: a process may open other sockets of its own meanwhile)."""
    on_port: set[str] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                on_port.add(f"socket:[{fields[9]}]")
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) in on_port
        except OSError:
            continue  # closed meanwhile
    return count


def test_keep_alive_connections_opened_together_are_spread_over_both_processes(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, server = served
    workers = server_processes(server.pid)
    port = int(url.rsplit(":", 1)[1])
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(40)]
    try:
        with ThreadPoolExecutor(len(clients)) as pool:  # connected at once, as a load generator does
            answers = list(pool.map(lambda client: client.get("/api/v1/health").status_code, clients))
        held = {pid: _connections(pid, port) for pid in workers}
    finally:
        for client in clients:
            client.close()

    assert answers == [200] * 40
    assert sum(held.values()) == 40
    # Each process has a socket of its own and the kernel hashes connections over them:
    # one process holding 32 of the 40 or more has a chance of about 1 in 100,000.
    assert all(count >= 8 for count in held.values()), held


def test_a_server_process_that_dies_is_replaced_and_the_port_keeps_answering(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, server = served
    first, second = server_processes(server.pid)

    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not (len(now := server_processes(server.pid)) == 2 and first not in now and _healthy(url)):
        assert server.poll() is None
        assert time.monotonic() < deadline, "no new process took the dead one's place within 60 s"
        time.sleep(0.2)
    answers = [httpx.get(f"{url}/api/v1/health", timeout=10).status_code for _ in range(20)]

    assert second in now
    assert answers == [200] * 20


def test_a_second_server_on_the_same_port_is_refused_rather_than_sharing_it(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = served
    port = url.rsplit(":", 1)[1]

    second = retune("serve", "--port", port, "--workers", "2")

    assert second.returncode == 2
    assert f"Cannot serve on 127.0.0.1:{port}" in second.stderr
    assert "another --port" in second.stderr
    assert "Traceback" not in second.stderr
