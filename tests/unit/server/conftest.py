from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.server.app import create_app

from .support import API, TOKENS, Server, TestClient, bearer, launch_body, registration, server_settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    """A server without tokens, over a fresh SQLite file, with the pipeline registered."""
    with TestClient(create_app(server_settings(home))) as client:
        assert client.post(f"{API}/registrations", json=registration()).status_code == 201
        yield client


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    """Tokens configured; the pipeline registered in project "a" and launched once there."""
    with TestClient(create_app(server_settings(home, TOKENS))) as client:
        admin = bearer("admin")
        assert client.post(f"{API}/registrations", json=registration("a"), headers=admin).status_code == 201
        launched = client.post(f"{API}/executions", json=launch_body("a"), headers=admin)
        assert launched.status_code == 201
        yield Server(client, launched.json()["id"])
