"""FsspecBlobStore: whole blobs under one root, never a part, never outside it; a directory, a
``file://`` URL and a remote filesystem (fsspec's in-memory one) behave alike."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.store import InvalidKey, NotFound
from retune.store.blobs import FsspecBlobStore


@pytest.fixture(params=["directory", "file-url", "remote"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FsspecBlobStore]:
    if request.param == "directory":
        yield FsspecBlobStore(str(tmp_path / "blobs"))
    elif request.param == "file-url":
        yield FsspecBlobStore((tmp_path / "blobs").as_uri())
    else:
        store = FsspecBlobStore(f"memory://retune-test-{uuid.uuid4().hex}/blobs")
        yield store
        if store._fs.exists(store.root):  # fsspec's memory filesystem lives as long as the process
            store._fs.rm(store.root, recursive=True)


@pytest.fixture
def local(tmp_path: Path) -> FsspecBlobStore:
    return FsspecBlobStore((tmp_path / "blobs").as_uri())


def files_under(root: str | Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_a_blob_reads_back_as_written_under_nested_keys(blobs: FsspecBlobStore) -> None:
    blobs.put("executions/ex-1/n0/outputs", b"\x00\x01 data")

    assert blobs.get("executions/ex-1/n0/outputs") == b"\x00\x01 data"
    assert blobs.exists("executions/ex-1/n0/outputs")


def test_a_second_put_replaces_the_blob(blobs: FsspecBlobStore) -> None:
    blobs.put("k", b"old")
    blobs.put("k", b"new")

    assert blobs.get("k") == b"new"


def test_a_missing_blob_is_not_found_and_names_the_key_and_the_store(blobs: FsspecBlobStore) -> None:
    blobs.put("a/b", b"x")

    assert not blobs.exists("a/c")
    assert not blobs.exists("a")  # a directory is not a blob
    with pytest.raises(NotFound, match=re.escape(f"No blob 'a/c' in {blobs.url}")):
        blobs.get("a/c")
    with pytest.raises(KeyError):
        blobs.get("a")


def test_a_directory_store_keeps_each_blob_as_one_file_and_no_temporary_file(local: FsspecBlobStore) -> None:
    local.put("executions/ex-1/n0/outputs", b"one")
    local.put("executions/ex-1/n0/outputs", b"two")

    assert files_under(local.root) == ["executions/ex-1/n0/outputs"]


def test_a_failed_put_keeps_the_old_blob_and_leaves_no_temporary_file(
    local: FsspecBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("k", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        local.put("k", b"new")

    assert local.get("k") == b"old"
    assert files_under(local.root) == ["k"]


def test_a_local_path_is_a_file_inside_the_store_whose_directory_exists(local: FsspecBlobStore) -> None:
    path = local.local_path("logs/ex-1/n0/1/stdout")
    assert path is not None
    path.write_bytes(b"hello\n")

    assert path.parent.is_dir()
    assert path.is_relative_to(local.root)
    assert local.get("logs/ex-1/n0/1/stdout") == b"hello\n"


def test_a_remote_store_has_no_local_path_so_writers_put_the_bytes() -> None:
    remote = FsspecBlobStore(f"memory://retune-test-{uuid.uuid4().hex}")

    assert remote.local_path("logs/ex-1/n0/1/stdout") is None


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
def test_a_key_that_could_leave_the_root_is_refused_by_every_method(blobs: FsspecBlobStore, key: str) -> None:
    for use in (
        lambda: blobs.put(key, b"x"),
        lambda: blobs.get(key),
        lambda: blobs.exists(key),
        lambda: blobs.local_path(key),
    ):
        with pytest.raises(InvalidKey, match="Blob key"):
            use()

    assert not _exists(blobs, blobs.root.rsplit("/", 1)[0] + "/outside")
    assert not _exists(blobs, blobs.root) or _files(blobs, blobs.root) == []


def _exists(blobs: FsspecBlobStore, path: str) -> bool:
    """Whether ``path`` exists, asked of the filesystem under the store (a directory: no fsspec)."""
    return os.path.exists(path) if blobs._fs is None else bool(blobs._fs.exists(path))


def _files(blobs: FsspecBlobStore, root: str) -> list[str]:
    return files_under(root) if blobs._fs is None else list(blobs._fs.find(root))
