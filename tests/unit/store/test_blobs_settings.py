"""The blob store is built from settings in one place: RETUNE_BLOB_URL, else ``[blobs] url`` of
retune.toml (with ``[blobs.options]``), else the directory RETUNE_HOME/blobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retune import settings
from retune.settings import SettingsError
from retune.store import open_default_blobs


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETUNE_BLOB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings.load.cache_clear()
    yield tmp_path / "home"
    settings.load.cache_clear()


def test_without_settings_blobs_live_in_retune_home(home: Path) -> None:
    open_default_blobs().put("a/b", b"x")

    assert (home / "blobs" / "a" / "b").read_bytes() == b"x"


def test_blobs_url_in_retune_toml_chooses_the_store(home: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (tmp_path / "retune.toml").write_text(f'[blobs]\nurl = "{shared.as_uri()}"\n')

    open_default_blobs().put("a/b", b"x")

    assert (shared / "a" / "b").read_bytes() == b"x"
    assert not (home / "blobs").exists()


def test_retune_blob_url_wins_over_retune_toml(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "retune.toml").write_text(f'[blobs]\nurl = "{(tmp_path / "from-file").as_uri()}"\n')
    monkeypatch.setenv("RETUNE_BLOB_URL", (tmp_path / "from-env").as_uri())

    open_default_blobs().put("k", b"x")

    assert (tmp_path / "from-env" / "k").is_file()
    assert not (tmp_path / "from-file").exists()


def test_blobs_options_reach_the_filesystem(home: Path, tmp_path: Path) -> None:
    (tmp_path / "retune.toml").write_text(
        '[blobs]\nurl = "s3://bucket/prefix"\n[blobs.options]\nendpoint_url = "http://127.0.0.1:9"\n'
    )

    store = open_default_blobs()

    assert store.url == "s3://bucket/prefix"
    assert store._fs.endpoint_url == "http://127.0.0.1:9"


def test_an_unknown_protocol_names_the_setting_and_how_to_fix_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETUNE_BLOB_URL", "nosuch://bucket/prefix")

    with pytest.raises(SettingsError, match=r"RETUNE_BLOB_URL: .*'nosuch://bucket/prefix'.*file:///.*s3://"):
        open_default_blobs()


def test_a_blobs_url_that_is_not_a_string_names_its_file(home: Path, tmp_path: Path) -> None:
    (tmp_path / "retune.toml").write_text("[blobs]\nurl = 3\n")

    with pytest.raises(SettingsError, match=r"\[blobs\] url in .*retune.toml is 3; give an fsspec URL"):
        settings.load()


def test_blobs_options_that_are_not_a_table_are_refused(home: Path, tmp_path: Path) -> None:
    (tmp_path / "retune.toml").write_text('[blobs]\noptions = "endpoint_url=x"\n')

    with pytest.raises(
        SettingsError, match=r"\[blobs\] options .* not a table; write it as \[blobs.options\]"
    ):
        settings.load()


def test_a_password_in_the_url_is_in_no_message(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETUNE_BLOB_URL", "nosuch://user:hunter2@host/prefix?token=abc")

    with pytest.raises(SettingsError) as raised:
        open_default_blobs()

    assert "hunter2" not in str(raised.value)
    assert "abc" not in str(raised.value)
    assert "nosuch://user@host/prefix" in str(raised.value)
