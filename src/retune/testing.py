"""Public test doubles: an in-memory store and blob store, an in-process executor, a preempting
executor, a clock;
``postgres_schema``, a throwaway schema of a real PostgreSQL for tests that need one; and
``PrivatePostgres``, a PostgreSQL server of a test's own, for tests that kill the database.

They implement the same seams as the real parts (``retune.store.base.Store`` and
``ControlStore``, ``BlobStore``, ``retune.executors.base.Executor``), so the layers above them
can be tested without processes or databases. The control plane needs nothing else:
``retune.control.LocalControlPlane(MemoryStore(), MemoryBlobStore())`` serves every verb of
``ControlPlane`` (register, launch and its dry run, relaunch, recover, abort), and
``retune.worker.Worker(store, blobs, InlineExecutor())`` runs what it launched
(``tests/unit/test_testing_control_plane.py``). Use the real parts for anything a user would run.
"""

from __future__ import annotations

import json
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from retune.executors.base import CANCELLED, AttemptRequest, AttemptResult, Executor, Outcome
from retune.model import EffectiveConfig
from retune.model.execution import Capacity, Execution, Phase
from retune.model.spec import WorkflowSpec
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    Conflict,
    ControlStore,
    ExecutionChange,
    IllegalTransition,
    Lease,
    NewExecution,
    NodeChange,
    NotFound,
    Registered,
)
from retune.store.registry import content_hash, difference, missing, refuse
from retune.task_runtime.calls import CallFailed, load_task, run_calls


@dataclass(slots=True)
class _Hold:
    """What the SQL store keeps beside an execution's record: who drives it, until when, and
    how it was launched (the columns ``worker`` ... ``request_hash`` of ``executions``)."""

    seq: int
    project: str | None
    worker: str | None = None
    expires: float | None = None
    abort_requested: bool = False
    idempotency_key: str | None = None
    request_hash: str | None = None


_REGISTRY_KEY = tuple[str, str, str, str, str]  # kind, project, domain, name, version


class MemoryStore:
    """``ControlStore`` in dicts, thread-safe; ``apply`` and ``register`` are all-or-nothing
    like a transaction. The rules are the SQL store's: the registry's (``store.registry``),
    leases, claims in creation order, aborts; ``tests/unit/test_testing_control_store.py``
    runs both on the same operations. Leases and cache reservations follow ``clock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.executions: dict[str, Execution] = {}
        self.holds: dict[str, _Hold] = {}
        self.registry: dict[_REGISTRY_KEY, Registered] = {}  # in registration order: newest last
        self.cache: dict[str, Mapping[str, Any]] = {}
        self.reservations: dict[str, tuple[str, float]] = {}
        self.events: list[Change] = []
        self.clock: Callable[[], float] = time.monotonic

    def create_execution(self, new: NewExecution) -> None:
        with self.lock:
            key = new.idempotency_key
            if new.id in self.executions or (key is not None and self._by_key(key) is not None):
                raise Conflict(f"An execution with id {new.id!r} already exists; ids are never reused.")
            record = new.record()
            self.executions[new.id] = replace(record, created_at=new.created_at or time.time())
            self.holds[new.id] = _Hold(
                len(self.holds), new.project, idempotency_key=key, request_hash=new.request_hash
            )

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
            if holder is None or holder[0] == owner or holder[1] <= self.clock():
                self.reservations[key] = (owner, self.clock() + ttl)
                return True
            return False

    def cache_release(self, key: str, owner: str) -> None:
        with self.lock:
            if self.reservations.get(key, ("",))[0] == owner:
                del self.reservations[key]

    # -- the registry: immutable per version -----------------------------------------------

    def register(
        self,
        project: str,
        domain: str,
        version: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        bundle: str | None,
    ) -> list[Registered]:
        now = time.time()
        with self.lock:
            found, new, conflicts = [], {}, []
            for kind, spec in items:
                document = json.loads(json.dumps(dict(spec)))  # what a JSON column gives back
                key = (kind, project, domain, str(document["name"]), version)
                stored = self.registry.get(key)
                if stored is None:
                    digest = content_hash(document)
                    new[key] = Registered(*key[:4], version, document, bundle, now, True, digest)
                    found.append(new[key])
                elif (differs := difference(kind, document, stored.spec, bundle, stored.bundle)) is not None:
                    conflicts.append(differs)
                else:
                    found.append(replace(stored, created=False))
            if conflicts:  # nothing of the batch is written
                raise refuse(conflicts, project, domain, version)
            self.registry.update(new)
            return found

    def registered(
        self, kind: str, project: str, domain: str, name: str, version: str | None = None
    ) -> Registered:
        with self.lock:
            versions = [
                r
                for r in self.registry.values()
                if r.kind == kind and (r.project, r.domain, r.name) == (project, domain, name)
            ]
            chosen = [r for r in versions if version is None or r.version == version]
            if chosen:
                return replace(chosen[-1], created=False)
            names = sorted(
                {
                    r.name
                    for r in self.registry.values()
                    if (r.kind, r.project, r.domain) == (kind, project, domain)
                }
            )
            raise missing(kind, project, domain, name, version, [r.version for r in versions], names)

    def list_registered(
        self, kind: str, project: str, domain: str, name: str | None = None
    ) -> list[Registered]:
        with self.lock:
            newest_first = reversed(list(self.registry.values()))
            return sorted(
                (
                    replace(r, created=False)
                    for r in newest_first
                    if (r.kind, r.project, r.domain) == (kind, project, domain) and name in (None, r.name)
                ),
                key=lambda r: r.name,  # sorted() is stable: newest first within a name
            )

    # -- launched executions: claims and leases ------------------------------------------

    def claim_execution(self, worker: str, lease: float) -> str | None:
        with self.lock:
            now = self.clock()
            for execution_id, hold in sorted(self.holds.items(), key=lambda item: item[1].seq):
                if hold.project is not None and self._live(execution_id) and not self._held(hold, now):
                    self._hold(execution_id, worker, now + lease)
                    return execution_id
            return None

    def take_execution(self, execution_id: str, worker: str, lease: float) -> str | None:
        with self.lock:
            now = self.clock()
            hold = self.holds.get(execution_id)
            if hold is None:
                return ""
            if self._live(execution_id) and (hold.worker == worker or not self._held(hold, now)):
                self._hold(execution_id, worker, now + lease)
                return None
            return hold.worker or ""

    def renew_lease(self, execution_id: str, worker: str, lease: float) -> Lease:
        with self.lock:
            hold = self.holds.get(execution_id)
            if hold is None:
                return Lease(held=False, abort_requested=False)
            held = hold.worker == worker and self._live(execution_id)
            if held:
                hold.expires = self.clock() + lease
            return Lease(held=held, abort_requested=hold.abort_requested)

    def release_execution(self, execution_id: str, worker: str) -> None:
        with self.lock:
            hold = self.holds.get(execution_id)
            if hold is not None and hold.worker == worker:
                hold.expires = None

    def request_abort(self, execution_id: str) -> bool:
        with self.lock:
            hold, record = self.holds.get(execution_id), self.executions.get(execution_id)
            if hold is None or record is None:
                raise NotFound(f"No execution {execution_id!r}.")
            if record.phase is Phase.QUEUED and hold.worker is None:
                now = time.time()
                nodes = tuple(
                    replace(n, phase=Phase.ABORTED) if n.phase is Phase.QUEUED else n for n in record.nodes
                )
                error = "aborted before it started"
                aborted = replace(record, phase=Phase.ABORTED, error=error, finished_at=now, nodes=nodes)
                self.executions[execution_id] = aborted
                hold.abort_requested = True
                return True
            if self._live(execution_id):
                hold.abort_requested = True
            return False

    def find_execution(self, idempotency_key: str) -> tuple[str, str | None] | None:
        with self.lock:
            found = self._by_key(idempotency_key)
            return None if found is None else (found, self.holds[found].request_hash)

    def list_launched(
        self, *, project: str | None = None, domain: str | None = None, limit: int = 50
    ) -> list[Execution]:
        with self.lock:
            launched = [
                replace(self.executions[execution_id], nodes=())
                for execution_id, hold in sorted(self.holds.items(), key=lambda item: -item[1].seq)
                if hold.project is not None
                and project in (None, hold.project)
                and domain in (None, self.executions[execution_id].domain)
            ]
            return launched[:limit]

    def close(self) -> None:
        pass

    def _live(self, execution_id: str) -> bool:
        return self.executions[execution_id].phase in (Phase.QUEUED, Phase.RUNNING)

    @staticmethod
    def _held(hold: _Hold, now: float) -> bool:
        """Whether a lease is running (SQL: ``lease_expires_at`` set and not before ``now``)."""
        return hold.expires is not None and hold.expires >= now

    def _hold(self, execution_id: str, worker: str, until: float) -> None:
        hold = self.holds[execution_id]
        hold.worker, hold.expires = worker, until
        self.executions[execution_id] = replace(self.executions[execution_id], worker=worker)

    def _by_key(self, idempotency_key: str) -> str | None:
        return next((i for i, h in self.holds.items() if h.idempotency_key == idempotency_key), None)


if TYPE_CHECKING:
    _store: type[ControlStore] = MemoryStore  # mypy checks that MemoryStore is a ControlStore


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
            # In this process: a bundled module is the one already imported here.
            task = load_task(ref.name, ref.module, ref.qualname, ref.pickled, ())
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


def register_source(
    plane: Any, source: str, directory: Path, workflows: Sequence[str] = ("wf",)
) -> tuple[Any, list[WorkflowSpec]]:
    """Register workflows written as ``source``, as ``retune register`` would: the text becomes
    a module of a fresh name under ``directory/flows``, its ``workflows`` are compiled, the
    folder is bundled and everything registered in ``p/d`` at ``v1`` through ``plane`` (a
    ``ControlPlane``). Returns the imported module and the workflows' specs."""
    import importlib
    import sys

    from retune.api import compile
    from retune.control.bundles import build_bundle
    from retune.model.control import Registration

    root = directory / "flows"
    root.mkdir()
    name = f"flows_{uuid.uuid4().hex[:8]}"  # a module name no other test has imported
    (root / f"{name}.py").write_text(source)
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
    specs = [compile(getattr(module, workflow)).spec for workflow in workflows]
    tasks = {task.name: task for spec in specs for task in spec.tasks.values()}
    bundle = plane.put_bundle(build_bundle(root))
    registration = Registration(
        project="p",
        domain="d",
        version="v1",
        bundle=bundle,
        workflows=tuple(specs),
        tasks=tuple(tasks.values()),
    )
    plane.register(registration)
    return module, specs
