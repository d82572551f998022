"""The blob store on an S3-protocol server (moto's, on loopback, through s3fs): blobs read back as
written; while the server is away a call waits with backoff and succeeds once it is back, with
one log line each way; past the grace it is ``StoreUnavailable`` naming the URL, never the
credentials; and the server's ``/ready`` says the blob store is away."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from s3fs import S3FileSystem

from retune.control.logs import CHUNK, log_tail, read_log
from retune.settings import BlobSettings, Settings
from retune.store import InvalidKey, NotFound, StoreUnavailable, open_blobs
from retune.store.blobs import FsspecBlobStore

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

SECRET = "s3cr3t-never-shown"


class S3Server:
    """moto's S3 server on 127.0.0.1: ``stop`` kills its listener, ``start`` brings it back on
    the same port with the same buckets (moto keeps them in this process), like an object store
    whose front end restarts."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A running S3 server; credentials and endpoint in the standard AWS variables, as a user
    would set them, and no AWS configuration of this machine read."""
    server = S3Server()
    server.start()
    # fsspec keeps one S3FileSystem per set of options, its endpoint read from the environment
    # when it was made: a test's store must not reuse the one of an earlier test's server.
    S3FileSystem.clear_instance_cache()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "retune-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL_S3": server.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    yield server
    server.stop()


def bucket_store(grace: float = 5.0) -> FsspecBlobStore:
    """A blob store under a prefix of a bucket of its own."""
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    store = open_blobs(f"s3://{bucket}/state", grace=grace)
    store._fs.mkdir(bucket)
    return store


def restart_after(server: S3Server, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), server.start()), daemon=True)
    thread.start()
    return thread


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "retune.store"]


def test_blobs_on_s3_read_back_as_written_and_a_second_put_replaces_the_first(s3: S3Server) -> None:
    blobs = bucket_store()

    blobs.put("executions/ex-1/n0/outputs", b"\x00\x01 old")
    blobs.put("executions/ex-1/n0/outputs", b"\x00\x01 new")

    assert blobs.get("executions/ex-1/n0/outputs") == b"\x00\x01 new"
    assert blobs.exists("executions/ex-1/n0/outputs")
    assert not blobs.exists("executions/ex-1")  # a prefix is not a blob
    assert blobs.local_path("logs/ex-1/n0/1/stdout") is None


def test_a_missing_blob_on_s3_is_not_found_and_a_bad_key_is_refused(s3: S3Server) -> None:
    blobs = bucket_store()

    with pytest.raises(NotFound, match=r"No blob 'a/c' in s3://retune-\w+/state"):
        blobs.get("a/c")
    with pytest.raises(InvalidKey, match=r"Blob key '\.\./x'"):
        blobs.put("../x", b"x")


def test_a_long_log_on_s3_is_read_in_ranges_never_whole(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node panel's tail and the whole-log routes on an object store: ranged GETs of at most
    CHUNK bytes (a 200 MB log never sits in the server's memory), with the same text as locally."""
    blobs = bucket_store()
    lines = "".join(f"step {n}: loss {1 / (n + 1):.6f} ✓\n" for n in range(40_000))  # ~1.2 MB
    blobs.put("logs/ex-1/n0/1/stdout", lines.encode())
    asked: list[int] = []
    ranged = blobs.get_range

    def counted(key: str, start: int, end: int) -> bytes:
        asked.append(end - start)
        return ranged(key, start, end)

    def whole(key: str) -> bytes:
        raise AssertionError(f"read whole: {key}")

    monkeypatch.setattr(blobs, "get_range", counted)
    monkeypatch.setattr(blobs, "get", whole)

    tail, size = log_tail(blobs, "logs/ex-1/n0/1/stdout", 64)
    read = "".join(read_log(blobs, "logs/ex-1/n0/1/stdout"))

    assert size == len(lines.encode()) and blobs.size("logs/ex-1/n0/1/stdout") == size
    assert tail == lines.encode()[-64:].decode(errors="replace") and tail.endswith("✓\n")
    assert read == lines
    assert asked[0] == 64 and max(asked) <= CHUNK and len(asked) == 1 + -(-size // CHUNK)
    assert blobs.get_range("logs/ex-1/n0/1/stdout", size - 3, size + 100) == "✓\n".encode()[-3:]
    with pytest.raises(NotFound):
        blobs.size("logs/ex-1/n0/2/stdout")
    assert log_tail(blobs, "logs/ex-1/n0/2/stdout", 64) == ("", 0)


def test_a_bucket_that_does_not_exist_is_unavailable_at_once_naming_the_url(s3: S3Server) -> None:
    blobs = open_blobs("s3://no-such-bucket/state", grace=30)
    started = time.monotonic()

    with pytest.raises(
        StoreUnavailable, match=r"The blob store at s3://no-such-bucket/state cannot be reached"
    ):
        blobs.put("k", b"x")

    assert time.monotonic() - started < 10  # an answer, not an outage: no waiting out the grace


def test_a_call_waits_while_the_s3_server_restarts_and_succeeds_with_one_log_line_each_way(
    s3: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = bucket_store(grace=20)
    blobs.put("k", b"before")
    s3.stop()
    restart = restart_after(s3, 1.0)

    with caplog.at_level(logging.WARNING, logger="retune.store"):
        blobs.put("k", b"after")
        assert blobs.get("k") == b"after"
    restart.join()

    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"The blob store at {blobs.url} cannot be reached (")
    assert lines[0].endswith("retrying with backoff.")
    assert lines[1].startswith(f"The blob store at {blobs.url} answers again after ")


def test_past_the_grace_an_s3_outage_is_store_unavailable_naming_the_url_without_credentials(
    s3: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = bucket_store().url.split("/")[2]
    # Credentials as [blobs.options] would give them (the fixture's variables carry them too).
    blobs = open_blobs(f"s3://{bucket}/state", options={"key": "retune-test", "secret": SECRET}, grace=1.0)
    s3.stop()
    started = time.monotonic()

    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailable) as raised:
        blobs.get("k")

    assert 1.0 <= time.monotonic() - started < 15
    assert raised.value.what == "blob store"
    assert raised.value.url == f"s3://{bucket}/state"
    assert str(raised.value).startswith(f"The blob store at s3://{bucket}/state cannot be reached: ")
    assert SECRET not in str(raised.value)
    assert SECRET not in caplog.text


def test_ready_answers_503_naming_the_blob_store_while_the_s3_server_is_dead(
    s3: S3Server, tmp_path: Path
) -> None:
    from retune.server.app import create_app

    bucket = bucket_store().url.split("/")[2]
    settings = Settings(
        home=tmp_path / "home",
        capacity={"cpu": "2", "mem": "4Gi"},
        blobs=BlobSettings(url=f"s3://{bucket}/state", source="RETUNE_BLOB_URL"),
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8265") as client:
        assert client.get("/api/v1/ready").status_code == 200
        s3.stop()
        ready = client.get("/api/v1/ready")

    assert ready.status_code == 503
    assert ready.headers["Retry-After"]
    assert ready.json()["checks"] == {"database": "ok", "blob_store": "unavailable"}
    assert ready.json()["message"].startswith("Not ready: the blob store cannot be reached")
