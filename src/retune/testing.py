"""Public test doubles: an in-memory store, an in-process executor, a preempting executor, a clock;
and ``postgres_schema``, a throwaway schema of a real PostgreSQL for tests that need one.

They implement the same seams as the real parts (``retune.store.base.Store``,
``retune.executors.base.Executor``), so the layers above them can be tested without
processes or databases. Use the real parts for anything a user would run.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from retune.executors.base import AttemptRequest, AttemptResult, Executor, Outcome
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


class InlineExecutor:
    """``Executor`` running tasks on threads of this process: no isolation, no limits."""

    name = "inline"
    interruptible_capacity = False

    def __init__(self, workers: int = 4) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def check(self, config: EffectiveConfig) -> None:
        pass

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        return self.pool.submit(self._run, request)

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

    def check(self, config: EffectiveConfig) -> None:
        self.inner.check(config)

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


__all__ = ["FakeClock", "InlineExecutor", "MemoryStore", "PreemptingExecutor"]


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
