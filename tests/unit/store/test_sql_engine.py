"""Engines: SQLite tuned for several processes, PostgreSQL through psycopg 3."""

from __future__ import annotations

import pytest

from retune.store.sql import SqlStore
from retune.store.sql.engine import normalize_url

from .backends import only_postgresql, only_sqlite


@only_sqlite
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_normal_sync_and_foreign_keys(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }

    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000, "synchronous": 1, "foreign_keys": 1}


@only_postgresql
def test_postgresql_stores_use_psycopg_3(store: SqlStore) -> None:
    assert store.engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@db:5432/retune", "postgresql+psycopg://u@db:5432/retune"),
        ("postgres://u:pw@db/retune", "postgresql+psycopg://u:pw@db/retune"),
        ("postgresql+psycopg://u@db/retune", "postgresql+psycopg://u@db/retune"),
        ("sqlite:////tmp/retune.db", "sqlite:////tmp/retune.db"),
    ],
)
def test_postgresql_urls_without_a_driver_mean_psycopg_3(given: str, used: str) -> None:
    assert normalize_url(given) == used
