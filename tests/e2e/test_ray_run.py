"""``retune run --executor ray`` against a Ray cluster at ``RETUNE_RAY_ADDRESS`` (issue 10): the
overrides reach the Ray task, and a cluster stopped mid-run ends the run with system failures
within 30 s instead of hanging. The engine runs in the CLI's process, as a user runs it."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # no `uv run` in workers (executors/ray.py)

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.cluster_utils import Cluster

pytestmark = pytest.mark.ray  # run in a pytest process of their own (Makefile: test)

FLOWS = Path(__file__).with_name("flows_ray.py")
RETUNE = str(Path(sys.executable).with_name("retune"))
STOPPED_WITHIN = 30.0


class Running:
    """A two-node cluster (a head with no cpu, a worker with one) that a test may stop."""

    def __init__(self) -> None:
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 0,
                "node_ip_address": "127.0.0.1",
                "include_dashboard": False,
                "_system_config": {
                    "health_check_initial_delay_ms": 0,
                    "health_check_period_ms": 200,
                    "health_check_timeout_ms": 500,
                    "health_check_failure_threshold": 3,
                },
            },
        )
        self.stopped = False
        self.cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.cluster.shutdown()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Running]:
    running = Running()
    try:
        yield running
    finally:
        running.stop()


def _env(running: Running) -> dict[str, str]:
    return {**os.environ, "RETUNE_RAY_ADDRESS": running.cluster.address}


def test_run_on_ray_with_overrides(ray_cluster: Running) -> None:
    done = subprocess.run(
        [
            *(RETUNE, "run", f"{FLOWS}:greeting", "--executor", "ray"),
            *("-o", "greet.cpu=500m", "-o", "greet.env.GREETING=hi", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(ray_cluster),
    )

    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    assert record["outputs"] == "hi ray on 0.5 cpu"


def test_a_cluster_stopped_mid_run_ends_the_run_with_system_failures(
    ray_cluster: Running, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    run = subprocess.Popen(
        [RETUNE, "run", f"{FLOWS}:stalled", "--started", str(started), "--executor", "ray", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(ray_cluster),
    )
    try:
        deadline = time.monotonic() + 90
        while not started.exists():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)

        stopping = time.monotonic()
        ray_cluster.stop()
        stdout, stderr = run.communicate(timeout=STOPPED_WITHIN * 2)
        took = time.monotonic() - stopping
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    assert run.returncode == 1, stderr
    assert took < STOPPED_WITHIN, f"the run took {took:.1f}s to end after its cluster stopped"
    record: dict[str, Any] = json.loads(stdout)
    assert record["phase"] == "FAILED"
    attempts = record["nodes"][0]["attempts"]
    assert attempts and {attempt["kind"] for attempt in attempts} == {"system"}, attempts
