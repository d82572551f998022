from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from local_support import DirBlobs

from retune.executors.local import LocalExecutor
from retune.store import open_blobs, open_store
from retune.store.base import BlobStore, Store

Parts = tuple[LocalExecutor, Store, BlobStore]


@pytest.fixture
def blobs(tmp_path: Path) -> DirBlobs:
    return DirBlobs(tmp_path / "blobs")


@pytest.fixture
def executor(blobs: DirBlobs) -> Iterator[LocalExecutor]:
    with LocalExecutor(blobs) as local:
        yield local


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    """A local executor with a SQLite store and a blob store of its own, for ``rt.run``."""
    blobs = open_blobs(tmp_path / "blobs")
    store = open_store(f"sqlite:///{tmp_path}/retune.db")
    executor = LocalExecutor(blobs)
    try:
        yield executor, store, blobs
    finally:
        executor.close()
        store.close()
