"""The REST API under load: ``POST /executions`` of a 100-node workflow with 50 overrides from
20 concurrent clients, next to ``GET /health`` of the same server in the same run.

A real ``retune serve`` process (uvicorn, SQLite under a fresh ``RETUNE_HOME``, and PostgreSQL
too when ``RETUNE_TEST_POSTGRES_URL`` is set) with a workflow registered through
``retune register``. Clients are threads of this process, each with its own keep-alive
``httpx.Client``, all started together behind a barrier; each request is timed from send to
the full answer. No worker runs: the executions stay queued, so what is timed is the API's own
work (parse and check 50 overrides and the inputs, resolve 100 nodes through every layer, store
the execution and its nodes in one transaction, answer the record).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.report import Row, format_seconds
from bench.timing import summarise
from retune.testing.stack import free_port

NODES = 100
HOOKS = 50
CLIENTS = 20
POSTS_PER_CLIENT = 15  # 300 launches
HEALTH_PER_CLIENT = 50  # 1,000 health checks
RETUNE = str(Path(sys.executable).with_name("retune"))
RATE_TARGET = 150  # launches per second on PostgreSQL (issue 12)
P99_TARGET = 0.300

FLOWS = f"""
import retune as rt


@rt.task
def inc(x: int) -> int:
    return x + 1


@rt.workflow
def wide(x: int = 0) -> int:
    value = x
    for i in range({NODES}):
        node = inc(x=value)
        value = node.with_runtime_override(f"h{{i // 2}}") if i % 2 == 0 else node
    return value
"""


def bench_server() -> list[Row]:
    rows: list[Row] = []
    databases = [("SQLite", None)]
    if os.environ.get("RETUNE_TEST_POSTGRES_URL"):
        databases.append(("PostgreSQL", os.environ["RETUNE_TEST_POSTGRES_URL"]))
    for label, url in databases:
        # PostgreSQL also with one server process per core: SQLite has one writer at a time.
        for workers in (1, os.cpu_count() or 1) if url else (1,):
            with _database(url) as database_url, _server(database_url, workers) as base:
                post, health = _post_latencies(base), _health_latencies(base)
            rows += _rows(label, post, health, workers)
    return rows


def overrides() -> dict[str, Any]:
    cpu = {"cpu": "500m", "mem": "512Mi"}
    return {
        f"h{i}": {
            "retries": 1,
            "environment": {"RUN": f"r{i}"},
            "resources": {"requests": cpu, "limits": cpu},
        }
        for i in range(HOOKS)
    }


def _post_latencies(base: str) -> list[float]:
    body = {
        "project": "bench",
        "domain": "development",
        "workflow": "wide.wide",
        "inputs": {"x": 1},
        "overrides": overrides(),
    }

    def post(http: httpx.Client) -> None:
        answer = http.post("/executions", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /executions answered {answer.status_code}: {answer.text[:500]}")
        if len(answer.json()["nodes"]) != NODES:
            raise RuntimeError("the execution record does not have 100 nodes")

    return _load(base, post, POSTS_PER_CLIENT)


def _health_latencies(base: str) -> list[float]:
    def health(http: httpx.Client) -> None:
        if http.get("/health").status_code != 200:
            raise RuntimeError("GET /health failed")

    return _load(base, health, HEALTH_PER_CLIENT)


def _load(base: str, request: Callable[[httpx.Client], None], per_client: int) -> list[float]:
    """``CLIENTS`` threads, released together, each timing ``per_client`` requests after one warm-up."""
    barrier = threading.Barrier(CLIENTS)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with httpx.Client(base_url=f"{base}/api/v1", timeout=60) as http:
                request(http)  # warm-up: connection, first-request costs
                barrier.wait()
                for _ in range(per_client):
                    began = time.perf_counter()
                    request(http)
                    latencies[index].append(time.perf_counter() - began)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [seconds for client in latencies for seconds in client]


def _rows(label: str, post: list[float], health: list[float], workers: int) -> list[Row]:
    post_stats, health_stats = summarise(post), summarise(health)
    rate = len(post) / _wall(post)
    where = f"{label}, --workers {workers}" if workers > 1 else label
    passed = rate >= RATE_TARGET and _p99(post) <= P99_TARGET
    post_p99, health_p99 = _p99(post), _p99(health)
    ratio = f"{post_stats.p50 / health_stats.p50:.1f}x GET /health"
    target = f"≥ {RATE_TARGET}/s, p99 ≤ {format_seconds(P99_TARGET)}" if label == "PostgreSQL" else "report"
    return [
        Row(
            f"POST /executions, {NODES} nodes / {HOOKS} overrides, {CLIENTS} clients ({where})",
            post_stats,
            f"{target} (here {rate:.0f}/s, p99 {format_seconds(post_p99)})",
            ("PASS" if passed else "FAIL") if label == "PostgreSQL" else "info",
            ratio=ratio,
            note=(
                f"p99 = {format_seconds(post_p99)}; {len(post)} launches ({CLIENTS} concurrent clients x "
                f"{POSTS_PER_CLIENT}, after one warm-up each), each answered 201 with the 100-node record. "
                f"`retune serve --workers {workers}` on {label}; launches/s = launches / (sum of the "
                f"latencies / {CLIENTS} clients); see bench/server.py."
            ),
        ),
        Row(
            f"GET /health, {CLIENTS} clients, same server ({where})",
            health_stats,
            f"baseline (p99 {format_seconds(health_p99)})",
            "info",
            note=f"p99 = {format_seconds(health_p99)}; {len(health)} requests, same clients and server.",
        ),
    ]


def _wall(latencies: list[float]) -> float:
    """The load's duration as its clients saw it: each client sends one request after another."""
    return sum(latencies) / CLIENTS


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@contextmanager
def _database(postgres: str | None) -> Iterator[str | None]:
    """None (SQLite under the server's RETUNE_HOME), or a fresh schema of ``postgres``."""
    if postgres is None:
        yield None
        return
    from retune.testing import postgres_schema

    with postgres_schema(postgres, prefix="retune_bench") as url:
        yield url


@contextmanager
def _server(database_url: str | None, workers: int = 1) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="retune-bench-server-"))
    env = {**os.environ, "RETUNE_HOME": str(root / "home")}
    env.pop("RETUNE_DATABASE_URL", None)
    if database_url is not None:
        env["RETUNE_DATABASE_URL"] = database_url
    flows = root / "flows"
    flows.mkdir()
    (flows / "wide.py").write_text(FLOWS)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [RETUNE, "serve", "--port", str(port), "--workers", str(workers)], env=env, stdout=log, stderr=log
    )
    try:
        _wait_healthy(base, server, root)
        registered = subprocess.run(
            [
                RETUNE,
                "register",
                str(flows),
                "--project",
                "bench",
                "--domain",
                "development",
                "--version",
                "v1",
                "--server",
                base,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if registered.returncode != 0:
            raise RuntimeError(f"retune register failed: {registered.stderr}")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _wait_healthy(base: str, server: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"retune serve exited: {(root / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("retune serve did not answer within 30 s")
