"""One ``database_url`` fixture for every store test: a SQLite file in ``tmp_path``, and a
fresh schema of the PostgreSQL database at ``RETUNE_TEST_POSTGRES_URL`` (dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.store import open_store
from retune.store.sql import SqlStore
from retune.testing import postgres_schema

from .backends import BACKENDS, POSTGRES


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/retune.db"
        return
    with postgres_schema(POSTGRES) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    with open_store(database_url) as opened:
        yield opened
