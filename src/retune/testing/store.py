"""In-memory doubles of the store seams: ``MemoryStore`` (a ``ControlStore``, with the SQL
store's rules) and ``MemoryBlobStore`` (a ``BlobStore``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retune.model.execution import Execution, NodeExecution, NodeProgress, Phase
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
        self.cache_parts: dict[str, Mapping[str, Any]] = {}  # task -> parts of its newest entry
        self.reservations: dict[str, tuple[str, float]] = {}
        # (execution, path) -> item -> outputs: the SQL store's ``attempts.outputs``.
        self.items: dict[tuple[str, str], dict[int, Mapping[str, Any]]] = {}
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
                len(self.holds),
                new.project,
                worker=new.worker,
                expires=None if new.worker is None else self.clock() + new.lease,
                idempotency_key=key,
                request_hash=new.request_hash,
            )

    def apply(self, changes: Sequence[Change]) -> None:
        with self.lock:
            executions, cache, parts = dict(self.executions), dict(self.cache), dict(self.cache_parts)
            items: dict[tuple[str, str], dict[int, Mapping[str, Any]]] = {}
            for change in changes:
                if isinstance(change, CachePut):
                    cache[change.key] = change.outputs
                    if change.task is not None and change.parts is not None:
                        parts[change.task] = change.parts
                    continue
                record = executions.get(change.execution_id)
                if record is None:
                    raise IllegalTransition(f"no execution {change.execution_id}")
                executions[change.execution_id] = _changed(record, change)
                if isinstance(change, AttemptChange) and change.outputs is not None:
                    item = change.attempt.item
                    if item is not None:
                        items.setdefault((change.execution_id, change.path), {})[item] = change.outputs
            self.executions, self.cache, self.cache_parts = executions, cache, parts
            for key, outputs in items.items():
                self.items.setdefault(key, {}).update(outputs)
            for change in changes:  # a terminal execution holds no lease (as the SQL store)
                if (
                    isinstance(change, ExecutionChange)
                    and change.phase.terminal
                    and change.execution_id in self.holds
                ):
                    self.holds[change.execution_id].expires = None
            self.events.extend(changes)

    def get_execution(self, execution_id: str) -> Execution:
        try:
            return self.executions[execution_id]
        except KeyError:
            raise NotFound(f"execution {execution_id}") from None

    def list_executions(self, *, limit: int = 50, before: str | None = None) -> list[Execution]:
        with self.lock:
            return [replace(e, nodes=()) for e in self._newest_first(before)[:limit]]

    def _newest_first(self, before: str | None) -> list[Execution]:
        """Every execution in the listings' order, those after ``before`` where given. Holds the lock."""
        newest_first = sorted(self.executions.values(), key=_listing_order, reverse=True)
        if before is None:
            return newest_first
        if before not in self.executions:
            raise NotFound(f"No execution {before!r} to list the executions before.")
        cursor = _listing_order(self.executions[before])
        return [e for e in newest_first if _listing_order(e) < cursor]

    def item_outputs(self, execution_id: str, path: str) -> dict[int, Mapping[str, Any]]:
        with self.lock:
            return dict(self.items.get((execution_id, path), {}))

    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        return self.cache.get(key)

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        found = {key: self.cache_get(key) for key in keys}
        return {key: outputs for key, outputs in found.items() if outputs is not None}

    def cache_latest(self, task: str) -> Mapping[str, Any] | None:
        return self.cache_parts.get(task)

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
        self,
        kind: str,
        project: str | None,
        domain: str | None,
        name: str | None = None,
        *,
        specs: bool = True,
    ) -> list[Registered]:
        with self.lock:
            newest_first = reversed(list(self.registry.values()))
            return sorted(
                (
                    replace(r, created=False) if specs else replace(r, created=False, spec={})
                    for r in newest_first
                    if r.kind == kind
                    and project in (None, r.project)
                    and domain in (None, r.domain)
                    and name in (None, r.name)
                ),
                # sorted() is stable: newest first within a name
                key=lambda r: (r.project, r.domain, r.name),
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

    def execution_progress(self, execution_id: str) -> tuple[Execution, tuple[NodeProgress, ...]]:
        with self.lock:
            record = self.get_execution(execution_id)
        nodes = tuple(
            NodeProgress(n.path, n.hook, n.task, n.phase, n.cache, len(n.attempts), n.item_counts())
            for n in record.nodes
        )
        return replace(record, nodes=()), nodes

    def get_node(self, execution_id: str, key: str) -> tuple[Execution, NodeExecution]:
        with self.lock:
            record = self.get_execution(execution_id)
        for node in record.nodes:
            if key in (node.path, node.hook):
                return replace(record, nodes=()), node
        raise NotFound(f"Execution {execution_id} has no node or hook {key!r}.")

    def list_launched(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        workflow: str | None = None,
        phase: Phase | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Execution]:
        with self.lock:
            launched = []
            for record in self._newest_first(before):
                hold = self.holds[record.id]
                wanted = (
                    (project, hold.project),
                    (domain, record.domain),
                    (workflow, record.workflow),
                    (phase, record.phase),
                )
                if hold.project is not None and all(value in (None, have) for value, have in wanted):
                    launched.append(replace(record, nodes=()))
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
        return replace(  # as the SQL store's UPDATE: outputs and end kept unless the change has them
            record,
            phase=change.phase,
            outputs=record.outputs if change.outputs is None else change.outputs,
            error=change.error,
            finished_at=change.at if change.phase.terminal else record.finished_at,
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
            cache_reason=change.cache_reason or node.cache_reason,
            items=change.items if change.items is not None else node.items,
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

    def size(self, key: str) -> int:
        return len(self.get(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get(key)[start:end] if end > start else b""

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def local_path(self, key: str) -> Path | None:
        return None


def _listing_order(record: Execution) -> tuple[float, str]:
    """The listings' order, ascending: the SQL store's ``ORDER BY created_at, id``."""
    return (record.created_at or 0.0, record.id)
