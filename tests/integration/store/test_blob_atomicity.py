"""A reader never sees part of a blob, however often a writer replaces it."""

from __future__ import annotations

import threading
from pathlib import Path

from retune.store.blobs import FsspecBlobStore


def test_readers_see_the_old_blob_or_the_new_one_never_a_mix(tmp_path: Path) -> None:
    blobs = FsspecBlobStore(tmp_path.as_uri())
    versions = [bytes([i]) * 512 * 1024 for i in (1, 2)]
    blobs.put("executions/ex-1/n0/outputs", versions[0])
    done = threading.Event()

    def write() -> None:
        for round_ in range(100):
            blobs.put("executions/ex-1/n0/outputs", versions[round_ % 2])
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    while not done.is_set():
        seen.append(blobs.get("executions/ex-1/n0/outputs"))
    writer.join()

    assert seen
    assert {blob in versions for blob in seen} == {True}
    assert [p.name for p in (tmp_path / "executions/ex-1/n0").iterdir()] == ["outputs"]
