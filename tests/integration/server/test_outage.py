"""A real app over a PostgreSQL of the test's own, SIGKILLed and started again: while it is
down GET /executions is a 503 with Retry-After and /ready a 503, /health 200; once it is back
on the same port and data directory, the same app answers again (no restart)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.server.app import create_app
from retune.settings import Settings
from retune.testing import POSTGRES_BIN, PrivatePostgres

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.skipif(not (POSTGRES_BIN / "initdb").exists(), reason="no PostgreSQL 15 here")
API = "/api/v1"


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


def test_the_server_answers_503_while_its_database_is_killed_and_heals_when_it_is_back(
    database: PrivatePostgres, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=database.url, capacity={"cpu": "2", "mem": "4Gi"})
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8265") as client:
        assert client.get(f"{API}/executions").status_code == 200
        assert client.get(f"{API}/ready").status_code == 200

        database.kill()
        started = time.monotonic()
        down = client.get(f"{API}/executions")
        waited = time.monotonic() - started
        ready = client.get(f"{API}/ready")

        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"].isdigit()
        assert down.json()["detail"]["what"] == "database"
        assert waited < 60  # the store's retries are bounded: a client is answered, not hung
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        assert client.get(f"{API}/health").status_code == 200

        database.start()

        assert client.get(f"{API}/executions").status_code == 200
        assert client.get(f"{API}/ready").status_code == 200
