"""Real PostgreSQL for tests: ``postgres_schema`` (a throwaway schema of a shared server) and
``PrivatePostgres`` (a server of the test's own, for tests that kill the database)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit


@contextmanager
def postgres_schema(url: str, *, prefix: str = "retune_test") -> Iterator[str]:
    """A fresh schema of the PostgreSQL database at ``url``, dropped on exit: yields a URL whose
    connections keep their tables there (``options=-csearch_path=...``), so tests and benchmarks
    sharing one server never see each other's rows. Needs psycopg (``retune[postgres]``)."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({"options": f"-csearch_path={schema}"})]))
    try:
        yield urlunsplit(parts._replace(query=query))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A PostgreSQL server of the test's own, on a free port, in a directory outside pytest's
    tmp tree (``/var/tmp`` by default): for tests that kill the database, which must never be
    the shared one. Run as root, the server runs as the ``postgres`` user (``initdb`` refuses
    root); the process it starts *is* the postmaster, so ``kill`` ends that one by its pid.

        with PrivatePostgres() as pg:
            store = open_store(pg.url)
            pg.kill()    # SIGKILL the postmaster
            pg.start()   # again: same port, same data directory
    """

    def __init__(
        self, *, root: Path | None = None, bin_dir: Path = POSTGRES_BIN, user: str = "postgres"
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="retune-pg-", dir=root or "/var/tmp"))
        self.data = self.root / "data"
        self.bin_dir = bin_dir
        self.user = user if os.geteuid() == 0 else None
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivatePostgres:
        try:
            self.create()
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def create(self) -> None:
        """``initdb`` a data directory that trusts local connections."""
        if self.user is not None:
            shutil.chown(self.root, self.user)
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.root,
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the postmaster and wait until it accepts connections. After ``kill`` the old
        backends may still hold the shared memory for a moment: the start is tried again."""
        deadline = time.monotonic() + timeout
        while True:
            log = (self.root / "postgres.log").open("ab")
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D", str(self.data),
                    "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", f"unix_socket_directories={self.root}",
                    "-c", "fsync=off",
                    "-c", "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.root,
            )  # fmt: skip
            log.close()
            if self._wait_ready(deadline):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start in {timeout} s; see {self.root / 'postgres.log'}"
                )
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the postmaster (only it: its backends notice and exit on their own)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """A fast shutdown (SIGINT), waited for."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_ready(self, deadline: float) -> bool:
        """True once a connection succeeds; False if the postmaster exited first."""
        import psycopg

        assert self.process is not None
        while self.process.poll() is None:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
