"""Outages and poison, end to end with real processes (issue 8, "Done when"): a `retune serve` and
a `retune worker` against a PostgreSQL of the test's own, SIGKILLed mid-run and started again 5 s
later: the same worker process finishes the execution, no node runs twice, its log says so in
one line per outage and no traceback, and the server answers again. And an execution whose
stored data cannot be read fails with a system error while the next one completes, the worker
still alive."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from retune.model.execution import Phase
from retune.store.sql import tables as t
from retune.testing import POSTGRES_BIN, PrivatePostgres

from .test_control_plane import DOMAIN, FLOWS, PROJECT, VERSION, WORKFLOW, Cluster, wait_for

LEASE = "20"  # longer than the outage: the worker keeps its execution through it


def start(cluster: Cluster) -> Any:
    cluster.serve()
    where = ["--project", PROJECT, "--domain", DOMAIN, "--version", VERSION]
    registered = cluster.run("register", str(FLOWS), *where, "--server", cluster.url)
    assert registered.returncode == 0, registered.stderr
    return cluster.start("worker-w", "worker", "--name", "w", "--lease", LEASE, RETUNE_TEST_WORKER="w")


def launch(url: str) -> str:
    body = {"project": PROJECT, "domain": DOMAIN, "workflow": WORKFLOW, "inputs": {"n": 1}}
    answer = httpx.post(f"{url}/api/v1/executions", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def phase_of(url: str, execution_id: str) -> str | None:
    try:
        answer = httpx.get(f"{url}/api/v1/executions/{execution_id}", timeout=10)
    except httpx.HTTPError:
        return None
    return str(answer.json()["phase"]) if answer.status_code == 200 else None


@pytest.mark.skipif(not (POSTGRES_BIN / "initdb").exists(), reason="needs PostgreSQL's binaries")
def test_a_database_killed_and_restarted_mid_run_is_survived_by_the_same_worker_and_the_server(
    tmp_path: Path, retune_home: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    with PrivatePostgres() as pg:
        cluster = Cluster(retune_home, pg.url, ledger)
        cluster.env["RETUNE_TEST_STEP_SECONDS"] = "2"
        try:
            worker = start(cluster)
            execution_id = launch(cluster.url)
            wait_for("the first step to run", lambda: ledger.read_text().strip(), timeout=60)

            pg.kill()
            time.sleep(5)
            away = httpx.get(f"{cluster.url}/api/v1/executions/{execution_id}", timeout=30)
            ready = httpx.get(f"{cluster.url}/api/v1/ready", timeout=30)
            health = httpx.get(f"{cluster.url}/api/v1/health", timeout=30)
            pg.start()

            wait_for("the server to answer again", lambda: phase_of(cluster.url, execution_id), timeout=60)
            final = wait_for(
                "the execution to finish",
                lambda: (
                    (p := phase_of(cluster.url, execution_id)) in {"SUCCEEDED", "FAILED", "ABORTED"} and p
                ),
                timeout=120,
            )
            alive = worker.poll() is None
        except BaseException:
            print(cluster.dump_logs())
            raise
        finally:
            cluster.stop()

    worker_log = (cluster.logs / "worker-w.log").read_text()
    assert away.status_code == 503, away.text  # while the database is away: a 503 naming it
    assert away.headers["Retry-After"]
    assert "database" in away.json()["detail"]["message"]
    assert ready.status_code == 503 and health.status_code == 200
    assert final == "SUCCEEDED", cluster.dump_logs()
    assert alive, worker_log
    runs = Counter(tuple(line.split()[:2]) for line in ledger.read_text().splitlines())
    assert len(runs) == 4 and set(runs.values()) == {1}, runs  # every node once
    assert {line.split()[2] for line in ledger.read_text().splitlines()} == {"1"}  # each in attempt 1
    assert worker_log.count("cannot be reached") == 1, worker_log
    assert worker_log.count("answers again after") == 1, worker_log
    assert "Traceback" not in worker_log, worker_log
    assert f"claimed {execution_id}" in worker_log and f"{execution_id} is SUCCEEDED after" in worker_log


def test_an_execution_whose_data_cannot_be_read_fails_and_the_next_one_completes_with_the_same_worker(
    tmp_path: Path, retune_home: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    url = f"sqlite:///{tmp_path}/retune.db"
    cluster = Cluster(retune_home, url, ledger)
    engine = sa.create_engine(url)
    try:
        cluster.serve()
        where = ["--project", PROJECT, "--domain", DOMAIN, "--version", VERSION]
        assert cluster.run("register", str(FLOWS), *where, "--server", cluster.url).returncode == 0
        poisoned = launch(cluster.url)
        # Inputs as an older retune or a hand could have stored them: valid JSON, unreadable by Python.
        with engine.begin() as conn:
            huge = sa.text('\'{"n": ' + "7" * 5000 + "}'")
            conn.execute(sa.update(t.executions).where(t.executions.c.id == poisoned).values(inputs=huge))
        healthy = launch(cluster.url)
        worker = cluster.start("worker-w", "worker", "--name", "w", "--lease", LEASE, RETUNE_TEST_WORKER="w")

        wait_for(
            "the healthy execution to succeed",
            lambda: phase_of(cluster.url, healthy) == "SUCCEEDED",
            timeout=90,
        )
        alive = worker.poll() is None
    except BaseException:
        print(cluster.dump_logs())
        raise
    finally:
        cluster.stop()
    with engine.begin() as conn:
        x = t.executions
        row = conn.execute(
            sa.select(x.c.phase, x.c.error, x.c.lease_expires_at).where(x.c.id == poisoned)
        ).one()
    engine.dispose()

    worker_log = (cluster.logs / "worker-w.log").read_text()
    assert alive, worker_log
    assert row.phase == Phase.FAILED.value and row.lease_expires_at is None
    assert row.error.startswith("system error: worker w could not run this execution: ValueNotStorable")
    assert worker_log.count(f"{poisoned} failed: ValueNotStorable") == 1, worker_log
    assert f"claimed {healthy}" in worker_log and f"{healthy} is SUCCEEDED after" in worker_log
    assert "Traceback" not in worker_log, worker_log
