from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.server.app import create_app

from .support import API, TestClient, registration, server_settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    """A server without tokens, over a fresh SQLite file, with the pipeline registered."""
    with TestClient(create_app(server_settings(home))) as client:
        assert client.post(f"{API}/registrations", json=registration()).status_code == 201
        yield client
