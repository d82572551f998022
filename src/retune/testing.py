"""Public test doubles: an in-memory store and blob store, an in-process executor, a preempting
executor, a clock;
``postgres_schema``, a throwaway schema of a real PostgreSQL for tests that need one; and
``PrivatePostgres``, a PostgreSQL server of a test's own, for tests that kill the database.

They implement the same seams as the real parts (``retune.store.base.Store``,
``retune.executors.base.Executor``), so the layers above them can be tested without
processes or databases. Use the real parts for anything a user would run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from retune.executors.base import CANCELLED, AttemptRequest, AttemptResult, Executor, Outcome
from retune.model import EffectiveConfig
from retune.model.execution import Capacity, Execution
from retune.model.spec import WorkflowSpec
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    Conflict,
    ExecutionChange,
    IllegalTransition,
    NewExecution,
    NodeChange,
    NotFound,
)
from retune.task_runtime.calls import CallFailed, load_task, run_calls


class MemoryStore:
    """``Store`` in a dict, thread-safe; ``apply`` is all-or-nothing like a transaction."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.workflows: dict[tuple[str, str], WorkflowSpec] = {}
        self.executions: dict[str, Execution] = {}
        self.cache: dict[str, Mapping[str, Any]] = {}
        self.reservations: dict[str, tuple[str, float]] = {}
        self.events: list[Change] = []
        self.clock: Callable[[], float] = time.monotonic

    def put_workflow(self, spec: WorkflowSpec, version: str) -> None:
        with self.lock:
            known = self.workflows.setdefault((spec.name, version), spec)
            if known is not spec and known != spec:
                raise Conflict(f"workflow {spec.name!r} version {version!r} exists with other content")

    def get_workflow(self, name: str, version: str) -> WorkflowSpec:
        try:
            return self.workflows[(name, version)]
        except KeyError:
            raise NotFound(f"workflow {name}@{version}") from None

    def create_execution(self, new: NewExecution) -> None:
        with self.lock:
            self.executions[new.id] = new.record()

    def apply(self, changes: Sequence[Change]) -> None:
        with self.lock:
            executions, cache = dict(self.executions), dict(self.cache)
            for change in changes:
                if isinstance(change, CachePut):
                    cache[change.key] = change.outputs
                    continue
                record = executions.get(change.execution_id)
                if record is None:
                    raise IllegalTransition(f"no execution {change.execution_id}")
                executions[change.execution_id] = _changed(record, change)
            self.executions, self.cache = executions, cache
            self.events.extend(changes)

    def get_execution(self, execution_id: str) -> Execution:
        try:
            return self.executions[execution_id]
        except KeyError:
            raise NotFound(f"execution {execution_id}") from None

    def list_executions(self, *, limit: int = 50) -> list[Execution]:
        ordered = sorted(self.executions.values(), key=lambda e: e.created_at or 0, reverse=True)
        return ordered[:limit]

    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        return self.cache.get(key)

    def cache_reserve(self, key: str, owner: str, ttl: float) -> bool:
        with self.lock:
            holder = self.reservations.get(key)
            if holder is None or holder[0] == owner or holder[1] < self.clock():
                self.reservations[key] = (owner, self.clock() + ttl)
                return True
            return False

    def cache_release(self, key: str, owner: str) -> None:
        with self.lock:
            if self.reservations.get(key, ("",))[0] == owner:
                del self.reservations[key]

    def close(self) -> None:
        pass


def _changed(record: Execution, change: Change) -> Execution:
    if isinstance(change, ExecutionChange):
        if record.phase.terminal:
            raise IllegalTransition(f"execution {record.id} is {record.phase}")
        finished = change.at if change.phase.terminal else None
        return replace(
            record, phase=change.phase, outputs=change.outputs, error=change.error, finished_at=finished
        )
    nodes = list(record.nodes)
    index = next((i for i, n in enumerate(nodes) if n.path == change.path), None)
    if index is None:
        raise IllegalTransition(f"execution {record.id} has no node {change.path!r}")
    node = nodes[index]
    if isinstance(change, NodeChange):
        if node.phase.terminal:
            raise IllegalTransition(f"node {node.path} is {node.phase}")
        nodes[index] = replace(
            node,
            phase=change.phase,
            cache=change.cache or node.cache,
            outputs=change.outputs if change.outputs is not None else node.outputs,
            error=change.error,
        )
    elif isinstance(change, AttemptChange):
        attempts = [a for a in node.attempts if a.number != change.attempt.number]
        attempts.append(change.attempt)
        nodes[index] = replace(node, attempts=tuple(sorted(attempts, key=lambda a: a.number)))
    return replace(record, nodes=tuple(nodes))


class MemoryBlobStore:
    """``BlobStore`` in a dict: a missing key is ``NotFound`` (a ``KeyError``) naming it, a put
    replaces the whole blob, and there are no local files (``local_path`` is None, so writers
    put the bytes, as with an object store)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        with self.lock:
            self.blobs[key] = bytes(data)

    def get(self, key: str) -> bytes:
        try:
            return self.blobs[key]
        except KeyError:
            raise NotFound(f"No blob {key!r} in memory.") from None

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def local_path(self, key: str) -> Path | None:
        return None


class InlineExecutor:
    """``Executor`` running tasks on threads of this process: no isolation, no limits.

    ``cancel`` resolves the attempt's future at once (``LOST``, ``CANCELLED``) as the local
    executor's does; a thread cannot be killed, so the task body runs on and its result is dropped.
    """

    name = "inline"
    interruptible_capacity = False

    def __init__(self, workers: int = 4) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: dict[tuple[str, str, int], Future[AttemptResult]] = {}

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        pass

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        key = (request.execution_id, request.node, request.attempt)
        future: Future[AttemptResult] = Future()
        self.futures[key] = future

        def settle(ran: Future[AttemptResult]) -> None:
            self.futures.pop(key, None)
            with suppress(InvalidStateError):  # cancelled meanwhile: that result stands
                future.set_result(ran.result())

        self.pool.submit(self._run, request).add_done_callback(settle)
        return future

    def cancel(self, request: AttemptRequest) -> None:
        future = self.futures.pop((request.execution_id, request.node, request.attempt), None)
        if future is not None:
            with suppress(InvalidStateError):  # it finished meanwhile: that result stands
                future.set_result(AttemptResult(Outcome.LOST, error=CANCELLED, capacity=request.capacity))

    def _run(self, request: AttemptRequest) -> AttemptResult:
        # The same loading, decoding and output naming as a task process, minus the process.
        ref = request.task
        try:
            task = load_task(ref.name, ref.module, ref.qualname, ref.pickled, ref.sys_path)
            outputs = run_calls(task, request.calls, blobs=None, workdir=Path(tempfile.gettempdir()))
        except CallFailed as exc:
            return AttemptResult(Outcome.USER_ERROR, error=str(exc), capacity=request.capacity)
        return AttemptResult(Outcome.SUCCEEDED, outputs=outputs, capacity=request.capacity)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class PreemptingExecutor:
    """Wraps an executor and offers interruptible capacity that is always taken back,
    ``preemptions`` times in all; attempts placed on-demand run on the wrapped executor."""

    name = "preempting"
    interruptible_capacity = True

    def __init__(self, inner: Executor, preemptions: int) -> None:
        self.inner = inner
        self.left = preemptions
        self.placements: list[tuple[str, int, Capacity]] = []

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        self.inner.check(config, task_type)

    def cancel(self, request: AttemptRequest) -> None:
        self.inner.cancel(request)

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        self.placements.append((request.node, request.attempt, request.capacity))
        if request.capacity is Capacity.INTERRUPTIBLE and self.left > 0:
            self.left -= 1
            future: Future[AttemptResult] = Future()
            future.set_result(
                AttemptResult(Outcome.PREEMPTED, error="preempted", capacity=Capacity.INTERRUPTIBLE)
            )
            return future
        placed: Future[AttemptResult] = Future()
        # The wrapped executor runs it, on the capacity this double says it offered.
        self.inner.submit(request).add_done_callback(
            lambda done: placed.set_result(replace(done.result(), capacity=request.capacity))
        )
        return placed

    def close(self) -> None:
        self.inner.close()


class FakeClock:
    """A clock that moves only when told: ``clock.advance(5)``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


__all__ = [
    "FakeClock",
    "InlineExecutor",
    "MemoryBlobStore",
    "MemoryStore",
    "PreemptingExecutor",
    "PrivatePostgres",
]


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
