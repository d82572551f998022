"""``database_url`` for integration tests: a SQLite file, and a fresh PostgreSQL schema when
``RETUNE_TEST_POSTGRES_URL`` is set (dropped afterwards)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.testing import postgres_schema

POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
        ),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/retune.db"
        return
    with postgres_schema(POSTGRES) as url:
        yield url
