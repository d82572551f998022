from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from local_support import DirBlobs

from retune.executors.local import LocalExecutor


@pytest.fixture
def blobs(tmp_path: Path) -> DirBlobs:
    return DirBlobs(tmp_path / "blobs")


@pytest.fixture
def executor(blobs: DirBlobs) -> Iterator[LocalExecutor]:
    with LocalExecutor(blobs) as local:
        yield local
