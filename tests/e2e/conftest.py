from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retune import settings


@pytest.fixture(autouse=True)
def retune_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every end-to-end test gets its own RETUNE_HOME: a fresh SQLite store and blob store."""
    home = tmp_path / "home"
    monkeypatch.setenv("RETUNE_HOME", str(home))
    monkeypatch.delenv("RETUNE_DATABASE_URL", raising=False)
    monkeypatch.delenv("RETUNE_IMAGES", raising=False)
    monkeypatch.delenv("RETUNE_SERVER", raising=False)
    monkeypatch.delenv("RETUNE_API_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    settings.load.cache_clear()
    yield home
    settings.load.cache_clear()
