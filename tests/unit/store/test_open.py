"""open_store and open_blobs find retune's state where the settings say, and stay light to import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retune.store import default_database_url, open_blobs, open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETUNE_DATABASE_URL", raising=False)
    return tmp_path / "home"


def test_the_default_store_is_a_sqlite_file_under_retune_home(home: Path) -> None:
    with open_store() as store:
        assert store.engine.dialect.name == "sqlite"

    assert (home / "retune.db").is_file()


def test_retune_database_url_chooses_the_store(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETUNE_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere' / 'state.db'}")

    with open_store():
        pass

    assert default_database_url().endswith("elsewhere/state.db")
    assert (tmp_path / "elsewhere" / "state.db").is_file()
    assert not (home / "retune.db").exists()


def test_an_explicit_url_wins_over_the_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETUNE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")

    with open_store(f"sqlite:///{tmp_path / 'given.db'}"):
        pass

    assert (tmp_path / "given.db").is_file()
    assert not (tmp_path / "env.db").exists()


def test_the_default_blob_store_is_retune_home_blobs(home: Path) -> None:
    open_blobs().put("a/b", b"x")

    assert (home / "blobs" / "a" / "b").read_bytes() == b"x"
    assert open_blobs(home / "other").root == str((home / "other").resolve())


def test_importing_retune_store_loads_no_sqlalchemy_alembic_or_fsspec() -> None:
    probe = (
        "import json, sys, retune.store; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', 'fsspec'})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
