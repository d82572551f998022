"""The store seam: model objects in, model objects out. The only home of SQLAlchemy is
``retune.store.sql``; ``retune.testing.MemoryStore`` is the in-memory double.

Every state change goes through ``apply``: one call is one transaction, and the engine acts
on a change only after ``apply`` returned. Terminal phases are absorbing: a change that would
leave ``SUCCEEDED``, ``FAILED``, ``ABORTED`` or ``SKIPPED`` raises ``IllegalTransition`` and
the whole batch is rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from retune.errors import (
    Conflict,
    IllegalTransition,
    InvalidKey,
    NotFound,
    StoreError,
    StoreUnavailable,
    ValueNotStorable,
)
from retune.model import NodeConfig
from retune.model.execution import Attempt, CacheStatus, Execution, NodeExecution, NodeProgress, Phase

__all__ = [  # the store's errors live in the one tree of retune.errors; re-exported here
    "Conflict",
    "IllegalTransition",
    "InvalidKey",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
    "ValueNotStorable",
]


@dataclass(frozen=True, slots=True)
class NewNode:
    """A node of a new execution: ``QUEUED``, or (recovering a failed execution) already
    ``SUCCEEDED`` with the outputs and cache status its parent recorded."""

    path: str
    resolved: NodeConfig
    phase: Phase = Phase.QUEUED
    cache: CacheStatus = CacheStatus.DISABLED
    outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewExecution:
    """An execution created ``QUEUED`` with every node ``QUEUED``, in one transaction."""

    id: str
    workflow: str
    workflow_version: str
    inputs: Mapping[str, Any]
    nodes: Sequence[NewNode]
    launch_plan: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    # Launched executions (the control plane): workers claim those with a project.
    project: str | None = None
    domain: str | None = None
    bundle: str | None = None
    parent_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    worker: str | None = None
    """Held from its creation by this driver (``rt.run`` drives what it creates), its lease
    running ``lease`` seconds: what ``take_execution`` would do next, in the same transaction."""
    lease: float = 0.0

    def record(self) -> Execution:
        """The record ``get_execution`` answers right after ``create_execution(self)``."""
        nodes = tuple(
            NodeExecution(
                path=n.path,
                hook=n.resolved.hook,
                task=n.resolved.task,
                phase=n.phase,
                cache=n.cache,
                config=n.resolved.config,
                provenance=n.resolved.provenance,
                outputs=n.outputs,
            )
            for n in self.nodes
        )
        return Execution(
            id=self.id,
            workflow=self.workflow,
            workflow_version=self.workflow_version,
            phase=Phase.QUEUED,
            nodes=nodes,
            inputs=dict(self.inputs),
            launch_plan=self.launch_plan,
            overrides=dict(self.overrides),
            created_at=self.created_at,
            project=self.project,
            domain=self.domain,
            parent_id=self.parent_id,
            worker=self.worker,
        )


@dataclass(frozen=True, slots=True)
class ExecutionChange:
    execution_id: str
    phase: Phase
    outputs: Any = None
    error: str | None = None
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeChange:
    execution_id: str
    path: str
    phase: Phase
    cache: CacheStatus | None = None
    outputs: Mapping[str, Any] | None = None
    error: str | None = None
    at: float = 0.0
    cache_reason: str | None = None  # why a node missed the cache; None keeps the stored one
    items: int | None = None  # a map node's number of items, set when it starts; None keeps it


@dataclass(frozen=True, slots=True)
class AttemptChange:
    """Insert or update one attempt row, keyed by (execution, path, number). A map item's
    attempt that succeeded carries the item's ``outputs``: stored beside the attempt, not in
    the record, and read back by ``Store.item_outputs`` when the execution resumes."""

    execution_id: str
    path: str
    attempt: Attempt
    outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CachePut:
    """A cache entry; ``task`` and ``parts`` (``engine.cache``) let a later miss say what changed."""

    key: str
    outputs: Mapping[str, Any]
    execution_id: str = ""
    path: str = ""
    task: str | None = None
    parts: Mapping[str, Any] | None = None


Change = ExecutionChange | NodeChange | AttemptChange | CachePut


@dataclass(frozen=True, slots=True)
class Registered:
    """A registered task, workflow or launch plan: its spec as JSON and the code bundle it needs."""

    kind: str  # "task", "workflow" or "launch_plan"
    project: str
    domain: str
    name: str
    version: str
    spec: Mapping[str, Any]
    bundle: str | None
    created_at: float
    created: bool = True  # False when the same content was registered already (a no-op)
    content_hash: str = ""  # sha256 of the spec: equal hashes, equal specs


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's hold on a launched execution, as renewed: still held? abort asked for?"""

    held: bool
    abort_requested: bool


class Store(Protocol):
    """What the engine needs: executions, their changes, the cache. Specs and code live in the
    registry of ``ControlStore``, which every store implements."""

    def create_execution(self, new: NewExecution) -> None: ...

    def apply(self, changes: Sequence[Change]) -> None:
        """Write every change in one transaction."""

    def get_execution(self, execution_id: str) -> Execution:
        """The full record: nodes with config, provenance, outputs and attempts."""

    def list_executions(self, *, limit: int = 50, before: str | None = None) -> list[Execution]:
        """Every execution, local runs included, newest first in ``list_launched``'s order
        (``created_at``, then ``id``); ``nodes`` may be empty in these summaries. ``before`` pages
        as ``list_launched``'s: what comes after that execution, ``NotFound`` if there is none."""

    def item_outputs(self, execution_id: str, path: str) -> dict[int, Mapping[str, Any]]:
        """Item index -> outputs, for the items of a map node that succeeded (resume)."""

    def cache_get(self, key: str) -> Mapping[str, Any] | None: ...

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The outputs of those of ``keys`` that have a cache entry, by key (one read for the
        ready nodes of a step: a fan-out of 500 asked 500 times)."""

    def cache_latest(self, task: str) -> Mapping[str, Any] | None:
        """The parts of the newest cache entry of ``task`` (None: it has none with parts)."""

    def cache_reserve(self, key: str, owner: str, ttl: float) -> bool:
        """Take (or, for its owner, extend: the heartbeat) the reservation for ``key``,
        unless another owner holds one that has not expired. True if ``owner`` holds it now."""

    def cache_release(self, key: str, owner: str) -> None: ...

    def close(self) -> None: ...


class BlobStore(Protocol):
    """Inputs, outputs and logs too large for a database row. Keys are ``/``-separated paths."""

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old blob or the whole new one, never a part."""

    def get(self, key: str) -> bytes: ...

    def size(self, key: str) -> int:
        """The blob's length in bytes; ``NotFound`` without it."""

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (excluded) of the blob, fewer where it ends before ``end``:
        what a reader of a long log asks for (an object store answers a ranged GET), never the
        whole blob. ``NotFound`` without it."""

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """A local file a same-machine writer may write directly (logs), or None if remote."""


class ControlStore(Store, Protocol):
    """The store of the control plane: a registry per project and domain, and a queue of
    launched executions that workers claim by lease (``retune.store.sql.control``)."""

    def register(
        self,
        project: str,
        domain: str,
        version: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        bundle: str | None,
    ) -> list[Registered]:
        """``(kind, spec)`` items under one version, in one transaction. Immutable: the same
        content again is a no-op (``created=False``), other content raises ``Conflict`` naming
        what differs, and nothing of the batch is written."""

    def registered(
        self, kind: str, project: str, domain: str, name: str, version: str | None = None
    ) -> Registered:
        """One version, or the newest when ``version`` is None; ``NotFound`` lists what exists."""

    def list_registered(
        self,
        kind: str,
        project: str | None,
        domain: str | None,
        name: str | None = None,
        *,
        specs: bool = True,
    ) -> list[Registered]:
        """Every version of ``kind`` in a project and domain (None: every one), by project, domain
        and name, newest first within a name; ``specs=False`` leaves each ``spec`` empty (listings)."""

    def claim_execution(self, worker: str, lease: float) -> str | None:
        """The id of a launched execution now held by ``worker`` for ``lease`` seconds: the
        oldest queued one, or a live one whose worker's lease expired. None if there is none."""

    def take_execution(self, execution_id: str, worker: str, lease: float) -> str | None:
        """Hold this live execution for ``worker`` (``retune run``, ``resume``), unless another
        holder's lease has not expired: then nothing changes and the holder's name is returned."""

    def renew_lease(self, execution_id: str, worker: str, lease: float) -> Lease: ...

    def release_execution(self, execution_id: str, worker: str) -> None: ...

    def request_abort(self, execution_id: str) -> bool:
        """True if the execution was queued and unclaimed, and is now ``ABORTED``."""

    def find_execution(self, idempotency_key: str) -> tuple[str, str | None] | None:
        """(id, request hash) of the execution launched with this idempotency key."""

    def execution_progress(self, execution_id: str) -> tuple[Execution, tuple[NodeProgress, ...]]:
        """The execution without its nodes (``nodes == ()``) and every node's progress, in node
        order, from one snapshot: what a page of a running execution reads every second, a
        fraction of ``get_execution``'s bytes. ``NotFound`` without such an execution."""

    def get_node(self, execution_id: str, key: str) -> tuple[Execution, NodeExecution]:
        """The execution without its nodes and its first node (in node order) whose path or hook
        is ``key``, whole: config, provenance, attempts. ``NotFound`` for either."""

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
        """Launched executions, newest first (by ``created_at``, then ``id``, both descending: an
        order that never changes), those of ``project``, ``domain``, ``workflow`` and in ``phase``
        where given; nodes left out (and never read: a listing costs one query).

        ``before`` pages: only the executions after the execution of that id in this order (the
        last of the previous page), whatever its own project or phase; ``NotFound`` if there is
        no such execution."""
