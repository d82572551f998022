"""``control/logs.py``: which attempt's log, and its text, whole or its end, from a local blob
directory and from a remote-like store (``MemoryBlobStore``, no local path) alike."""

from __future__ import annotations

from pathlib import Path

import pytest

import retune as rt
from retune.control import logs
from retune.control.logs import log_key, log_tail, read_log
from retune.model.execution import Attempt, AttemptKind, CacheStatus, NodeExecution, Phase
from retune.store import NotFound, open_blobs
from retune.store.base import BlobStore
from retune.testing import MemoryBlobStore


@pytest.fixture(params=["local", "remote"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return open_blobs(tmp_path / "blobs") if request.param == "local" else MemoryBlobStore()


@rt.task
def train(x: int) -> int:
    return x


@rt.workflow
def flow(x: int = 1) -> int:
    return train(x=x).with_runtime_override("train")


(RESOLVED,) = rt.resolve(flow).values()


def node(*attempts: Attempt) -> NodeExecution:
    return NodeExecution(
        path="n1",
        hook="train",
        task=RESOLVED.task,
        phase=Phase.FAILED,
        cache=CacheStatus.DISABLED,
        config=RESOLVED.config,
        provenance=RESOLVED.provenance,
        attempts=attempts,
    )


def attempt(number: int, **logs: str) -> Attempt:
    return Attempt(number=number, phase=Phase.FAILED, kind=AttemptKind.USER, logs=logs)


def test_the_whole_log_is_its_text_with_no_character_split_between_pieces(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "CHUNK", 4)  # "é" is 2 bytes: pieces of 4 bytes cut some in half
    text = "é" * 9 + "\n" + "done ✓\n"
    blobs.put("logs/x/n1/1/stdout", text.encode() + b"\xff")
    assert "".join(read_log(blobs, "logs/x/n1/1/stdout")) == text + "\ufffd"  # an undecodable byte


def test_a_log_not_written_yet_is_empty(blobs: BlobStore) -> None:
    assert list(read_log(blobs, "logs/x/n1/1/stderr")) == []
    assert log_tail(blobs, "logs/x/n1/1/stderr", 10) == ("", 0)


def test_the_tail_is_the_end_of_the_log_and_the_size_that_of_the_whole(blobs: BlobStore) -> None:
    blobs.put("logs/x/n1/1/stdout", b"0123456789" * 10 + b"the end")
    assert log_tail(blobs, "logs/x/n1/1/stdout", 12) == ("56789the end", 107)
    assert log_tail(blobs, "logs/x/n1/1/stdout", 1000) == ("0123456789" * 10 + "the end", 107)


def test_the_latest_attempt_is_chosen_unless_a_number_is_given() -> None:
    two = node(attempt(1, stdout="k1"), attempt(2, stdout="k2", stderr="k2e"))
    assert log_key("ex-1", two, None, "stdout") == (two.attempts[1], "k2")
    assert log_key("ex-1", two, 1, "stdout") == (two.attempts[0], "k1")
    assert log_key("ex-1", two, 2, "stderr") == (two.attempts[1], "k2e")


def test_a_missing_attempt_or_stream_is_not_found_naming_what_there_is() -> None:
    two = node(attempt(1, stdout="k1"), attempt(2, stdout="k2"))
    with pytest.raises(NotFound, match=r"node 'n1' of ex-1 has no attempt 7 \(its attempts: 1, 2\)"):
        log_key("ex-1", two, 7, "stdout")
    with pytest.raises(
        NotFound, match=r"Attempt 1 of the node 'n1' of ex-1 kept no 'stderr' \(it kept: stdout\)"
    ):
        log_key("ex-1", two, 1, "stderr")
    with pytest.raises(NotFound, match="has not run yet"):
        log_key("ex-1", node(), None, "stdout")
