"""While the database or the blob store is away the server answers 503 with ``Retry-After``
naming what is away, never a 500; ``/ready`` says which, ``/health`` stays 200; once it is back
the same app answers again. The client turns a 503 into one ``ServerUnavailable`` line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from retune.client import HttpControlPlane
from retune.errors import ServerUnavailable
from retune.server import planes as planes_module
from retune.server.app import create_app
from retune.store import open_store
from retune.store.base import StoreUnavailable

from .support import API, LOOPBACK, TestClient, launch_body, registration, server_settings, zip_bytes


class Outage:
    """Wraps what the server opens; while ``away`` holds an exception, every call raises it."""

    def __init__(self) -> None:
        self.away: BaseException | None = None

    def wrap(self, target: Any) -> Any:
        outage = self

        class Flaky:
            def __getattr__(self, name: str) -> Any:
                value = getattr(target, name)
                if not callable(value) or name == "close":
                    return value

                def call(*args: Any, **kwargs: Any) -> Any:
                    if outage.away is not None:
                        raise outage.away
                    return value(*args, **kwargs)

                return call

        return Flaky()


BLOBS_AWAY = Outage()  # reset by the fixture


@pytest.fixture
def outage(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Outage]]:
    """The app over a store (and blob store) that raise what ``down.away`` (``BLOBS_AWAY.away``)
    holds while it holds something."""
    down = Outage()
    BLOBS_AWAY.away = None
    monkeypatch.setattr(planes_module, "open_store", lambda url: down.wrap(open_store(url)))
    with TestClient(create_app(server_settings(home))) as client:
        planes = client.app.state.planes  # type: ignore[attr-defined]
        planes.blobs = BLOBS_AWAY.wrap(planes.blobs)
        assert client.post(f"{API}/registrations", json=registration()).status_code == 201
        yield client, down


DATABASE_AWAY = StoreUnavailable("database", "postgresql://db.internal:5432/retune", "connection refused")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/executions"),
        ("POST", f"{API}/executions"),
        ("GET", f"{API}/workflows/flytesnacks/development/{registration()['workflows'][0]['name']}"),
        ("POST", f"{API}/registrations"),
    ],
)
def test_routes_answer_503_with_retry_after_while_the_database_is_away(
    outage: tuple[TestClient, Outage], method: str, path: str
) -> None:
    client, down = outage
    down.away = DATABASE_AWAY
    body = launch_body() if path.endswith("executions") else registration(version="v9")

    answer = client.request(method, path, json=body if method == "POST" else None)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    detail = answer.json()["detail"]
    assert detail["error"] == "StoreUnavailable"
    assert detail["what"] == "database"
    assert "connection refused" in detail["message"]
    assert "Retry in 5 s" in detail["fix"]


def test_a_driver_connection_error_leaking_through_is_a_503_without_the_sql(
    outage: tuple[TestClient, Outage],
) -> None:
    client, down = outage
    down.away = sqlalchemy.exc.OperationalError(
        "SELECT secret FROM registry", {}, Exception("server closed the connection unexpectedly")
    )

    answer = client.get(f"{API}/executions")

    assert answer.status_code == 503
    assert "server closed the connection unexpectedly" in answer.json()["detail"]["message"]
    assert "SELECT" not in answer.text


def test_ready_names_what_is_away_and_health_stays_ok(outage: tuple[TestClient, Outage]) -> None:
    client, down = outage
    assert client.get(f"{API}/ready").json() == {
        "status": "ready",
        "checks": {"database": "ok", "blob_store": "ok"},
        "message": "ready",
    }
    down.away = DATABASE_AWAY

    ready = client.get(f"{API}/ready")

    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "5"
    assert ready.json()["checks"] == {"database": "unavailable", "blob_store": "ok"}
    assert ready.json()["message"].startswith("Not ready: the database cannot be reached")
    assert "db.internal" not in ready.text  # public route: the log says where, not the answer
    assert client.get(f"{API}/health").status_code == 200


def test_ready_names_the_blob_store_alone_when_only_it_is_away(outage: tuple[TestClient, Outage]) -> None:
    client, _ = outage
    BLOBS_AWAY.away = OSError(30, "Read-only file system")

    ready = client.get(f"{API}/ready")

    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "blob_store": "unavailable"}
    assert ready.json()["message"].startswith("Not ready: the blob store cannot be reached")


def test_a_bundle_upload_while_the_blob_store_is_away_is_a_503_naming_it(
    outage: tuple[TestClient, Outage],
) -> None:
    client, _ = outage
    BLOBS_AWAY.away = StoreUnavailable("blob store", "file:///mnt/retune", "No such device")
    data = zip_bytes(**{"flows.py": b"x = 1\n"})

    answer = client.put(
        f"{API}/bundles/{hashlib.sha256(data).hexdigest()}",
        content=data,
        headers={"Content-Type": "application/zip"},
    )

    assert answer.status_code == 503
    assert answer.json()["detail"]["what"] == "blob store"


def test_the_same_app_answers_again_once_the_database_is_back(outage: tuple[TestClient, Outage]) -> None:
    client, down = outage
    down.away = DATABASE_AWAY
    assert client.get(f"{API}/executions").status_code == 503

    down.away = None

    assert client.post(f"{API}/executions", json=launch_body()).status_code == 201
    assert client.get(f"{API}/ready").status_code == 200


def test_the_client_says_in_one_line_what_the_server_cannot_reach(outage: tuple[TestClient, Outage]) -> None:
    client, down = outage
    down.away = DATABASE_AWAY
    plane = HttpControlPlane(LOOPBACK, client=client)

    with pytest.raises(ServerUnavailable) as raised:
        plane.list_executions()

    message = str(raised.value)
    assert "\n" not in message
    assert f"The retune server at {LOOPBACK} cannot reach its database" in message
    assert "retry in 5 s" in message
