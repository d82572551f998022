"""Issue 12, "Done when": CLI and workers on different machines need only the database URL and
the blob store URL in common. A workflow registered with one RETUNE_HOME is run by a worker
with another, and read back with a third, sharing only RETUNE_DATABASE_URL and RETUNE_BLOB_URL:
once with ``file://`` on a directory all three share, once with an S3-protocol server (moto's,
started here on loopback; endpoint and credentials in the standard AWS variables)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

FLOWS = Path(__file__).with_name("flows_shared")
RETUNE = str(Path(sys.executable).with_name("retune"))
AWS = {
    "AWS_ACCESS_KEY_ID": "retune-e2e",
    "AWS_SECRET_ACCESS_KEY": "retune-e2e-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server as a process of its own on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "moto.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "moto.log"
                ).read_text()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


@pytest.fixture(params=["file", "s3"])
def blob_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """RETUNE_BLOB_URL (and for S3 the AWS variables) that every process gets."""
    if request.param == "file":
        return {"RETUNE_BLOB_URL": (tmp_path / "shared-blobs").as_uri()}
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    env = {**AWS, "AWS_ENDPOINT_URL_S3": endpoint}
    make_bucket = "import sys, s3fs; s3fs.S3FileSystem().mkdir(sys.argv[1])"
    made = subprocess.run(
        [sys.executable, "-c", make_bucket, bucket],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return {**env, "RETUNE_BLOB_URL": f"s3://{bucket}/retune"}


def retune(home: Path, shared: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **shared, "RETUNE_HOME": str(home)}
    return subprocess.run([RETUNE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_worker_with_its_own_retune_home_runs_what_another_home_registered(
    blob_env: dict[str, str], tmp_path: Path
) -> None:
    shared = {**blob_env, "RETUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    registrar, worker, reader = (tmp_path / name for name in ("registrar", "worker", "reader"))

    registered = retune(
        registrar, shared, "register", str(FLOWS), "--project", "p", "--domain", "d", "--version", "v1"
    )
    assert registered.returncode == 0, registered.stderr
    launched = retune(registrar, shared, "launch", "p/d/greeting.hello", "-i", "name=shared", "--json")
    assert launched.returncode == 0, launched.stderr
    execution_id = json.loads(launched.stdout)["id"]

    ran = retune(worker, shared, "worker", "--once", "--name", "elsewhere")
    assert ran.returncode == 0, ran.stderr
    shown = retune(reader, shared, "executions", "show", execution_id, "--json")
    assert shown.returncode == 0, shown.stderr
    logs = retune(reader, shared, "executions", "logs", execution_id, "--node", "n0")

    record = json.loads(shown.stdout)
    assert record["phase"] == "SUCCEEDED", (record.get("error"), ran.stderr)
    assert "hello shared" in json.dumps(record["outputs"])
    assert (logs.returncode, logs.stdout) == (0, "greeting shared\n"), logs.stderr
    # Nothing of the state went into a RETUNE_HOME: no blobs there.
    assert not any((home / "blobs").exists() for home in (registrar, worker, reader))
