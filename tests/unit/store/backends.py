"""The databases store tests run on: a SQLite file, and PostgreSQL when RETUNE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")

SQLITE = "sqlite"
POSTGRESQL = pytest.param(
    "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
)
BACKENDS = [SQLITE, POSTGRESQL]

only_sqlite = pytest.mark.parametrize("database_url", [SQLITE], indirect=True)
only_postgresql = pytest.mark.parametrize("database_url", [POSTGRESQL], indirect=True)


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections put their tables in ``schema``."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({"options": f"-csearch_path={schema}"})]))
    return urlunsplit(parts._replace(query=query))
