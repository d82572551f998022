"""The databases store tests run on: a SQLite file, and PostgreSQL when RETUNE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os

import pytest

POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")

SQLITE = "sqlite"
POSTGRESQL = pytest.param(
    "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
)
BACKENDS = [SQLITE, POSTGRESQL]

only_sqlite = pytest.mark.parametrize("database_url", [SQLITE], indirect=True)
only_postgresql = pytest.mark.parametrize("database_url", [POSTGRESQL], indirect=True)
