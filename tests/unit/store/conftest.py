"""One ``database_url`` fixture for every store test: a SQLite file in ``tmp_path``, and a
fresh schema of the PostgreSQL database at ``RETUNE_TEST_POSTGRES_URL`` (dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from retune.store import open_store
from retune.store.sql import SqlStore

from .backends import BACKENDS, POSTGRES, with_search_path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/retune.db"
        return
    schema = f"retune_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(POSTGRES, schema)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    with open_store(database_url) as opened:
        yield opened
