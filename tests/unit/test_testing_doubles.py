"""The doubles of ``retune.testing`` behave like the real parts on the same operations: each
contract test runs against both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import retune as rt
from retune.executors.base import CANCELLED, AttemptRequest, Executor, Outcome, TaskRef
from retune.store import open_blobs
from retune.store.base import BlobStore, NotFound
from retune.testing import InlineExecutor, MemoryBlobStore


@pytest.fixture(params=["memory", "directory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return open_blobs(tmp_path / "blobs")


def test_a_blob_reads_back_as_written_and_a_put_replaces_it_whole(blobs: BlobStore) -> None:
    blobs.put("values/a", b"first")
    blobs.put("values/a", b"second")

    assert blobs.get("values/a") == b"second"
    assert blobs.exists("values/a")


def test_a_missing_blob_is_not_found_naming_its_key(blobs: BlobStore) -> None:
    assert not blobs.exists("values/none")
    with pytest.raises(NotFound, match="'values/none'"):
        blobs.get("values/none")
    with pytest.raises(KeyError):  # what readers that predate NotFound catch
        blobs.get("values/none")


@rt.task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture
def inline() -> Iterator[Executor]:
    executor = InlineExecutor()
    yield executor
    executor.close()


def _request(seconds: float) -> AttemptRequest:
    fn = nap.fn
    task = TaskRef(name="nap", module=fn.__module__, qualname=fn.__qualname__)
    return AttemptRequest("e1", "n0", 1, task, [{"seconds": seconds}], rt.resolve(_flow)["n0"].config)


@rt.workflow
def _flow() -> float:
    return nap(seconds=0.0)


def test_the_inline_executor_resolves_a_cancelled_attempt_at_once_as_the_local_one_does(
    inline: Executor,
) -> None:
    running = _request(2.0)
    future = inline.submit(running)

    inline.cancel(running)
    result = future.result(timeout=0.5)

    assert (result.outcome, result.error) == (Outcome.LOST, CANCELLED)


def test_the_inline_executor_leaves_a_finished_attempt_as_it_is(inline: Executor) -> None:
    done = _request(0.0)
    result = inline.submit(done).result(timeout=5)

    inline.cancel(done)

    assert result.outputs == [{"o0": 0.0}]
