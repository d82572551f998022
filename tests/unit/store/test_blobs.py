"""LocalBlobStore: whole blobs under one root, never a part, never outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retune.store import InvalidKey, NotFound
from retune.store.blobs import LocalBlobStore


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_blob_reads_back_as_written_under_nested_keys(blobs: LocalBlobStore) -> None:
    blobs.put("executions/ex-1/n0/outputs", b"\x00\x01 data")

    assert blobs.get("executions/ex-1/n0/outputs") == b"\x00\x01 data"
    assert blobs.exists("executions/ex-1/n0/outputs")
    assert files_under(blobs.root) == ["executions/ex-1/n0/outputs"]


def test_a_second_put_replaces_the_blob_and_leaves_no_temporary_file(blobs: LocalBlobStore) -> None:
    blobs.put("k", b"old")
    blobs.put("k", b"new")

    assert blobs.get("k") == b"new"
    assert files_under(blobs.root) == ["k"]


def test_a_missing_blob_is_not_found(blobs: LocalBlobStore) -> None:
    blobs.put("a/b", b"x")

    assert not blobs.exists("a/c")
    assert not blobs.exists("a")  # a directory is not a blob
    with pytest.raises(NotFound, match="'a/c'"):
        blobs.get("a/c")
    with pytest.raises(KeyError):
        blobs.get("a")


def test_a_failed_put_keeps_the_old_blob_and_leaves_no_temporary_file(
    blobs: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs.put("k", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        blobs.put("k", b"new")

    assert blobs.get("k") == b"old"
    assert files_under(blobs.root) == ["k"]


def test_a_local_path_is_a_file_inside_the_store_whose_directory_exists(blobs: LocalBlobStore) -> None:
    path = blobs.local_path("logs/ex-1/n0/1/stdout")
    path.write_bytes(b"hello\n")

    assert path.parent.is_dir()
    assert path.is_relative_to(blobs.root)
    assert blobs.get("logs/ex-1/n0/1/stdout") == b"hello\n"


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a//b",
    "./a",
    "a/.",
    "a/",
    "C:/x",
    "a\\b",
    "a\0b",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_that_could_leave_the_root_is_refused_by_every_method(blobs: LocalBlobStore, key: str) -> None:
    for use in (lambda: blobs.put(key, b"x"), lambda: blobs.get(key), lambda: blobs.exists(key)):
        with pytest.raises(InvalidKey, match="Blob key"):
            use()
    with pytest.raises(ValueError, match="Blob key"):
        blobs.local_path(key)

    assert not blobs.root.parent.joinpath("outside").exists()
    assert not blobs.root.exists() or files_under(blobs.root) == []
