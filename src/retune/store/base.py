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

from retune.model import NodeConfig
from retune.model.execution import Attempt, CacheStatus, Execution, Phase
from retune.model.spec import WorkflowSpec


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError, KeyError):
    pass


class IllegalTransition(StoreError):
    """A change out of a terminal phase (or of an unknown row)."""


class Conflict(StoreError):
    """Immutable content registered again under the same version with different content."""


class InvalidKey(StoreError, ValueError):
    """A blob key that is empty, absolute, or climbs out of the store (``..``)."""


@dataclass(frozen=True, slots=True)
class NewNode:
    path: str
    resolved: NodeConfig


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


@dataclass(frozen=True, slots=True)
class AttemptChange:
    """Insert or update one attempt row, keyed by (execution, path, number)."""

    execution_id: str
    path: str
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class CachePut:
    key: str
    outputs: Mapping[str, Any]
    execution_id: str = ""
    path: str = ""


Change = ExecutionChange | NodeChange | AttemptChange | CachePut


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the event log: a change as ``apply`` (or ``create_execution``) wrote it.

    ``kind`` is ``execution``, ``node``, ``attempt`` or ``cache``; ``detail`` holds what the
    change said beyond its phase (an error, a cache status, an attempt number, a cache key).
    """

    at: float
    kind: str
    execution_id: str | None = None
    path: str | None = None
    phase: Phase | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class Store(Protocol):
    def put_workflow(self, spec: WorkflowSpec, version: str) -> None:
        """Register ``spec`` under ``version``; the same content again is a no-op, other
        content under a taken version raises ``Conflict``."""

    def get_workflow(self, name: str, version: str) -> WorkflowSpec: ...

    def create_execution(self, new: NewExecution) -> None: ...

    def apply(self, changes: Sequence[Change]) -> None:
        """Write every change in one transaction, and an event row for each."""

    def get_execution(self, execution_id: str) -> Execution:
        """The full record: nodes with config, provenance, outputs and attempts."""

    def list_executions(self, *, limit: int = 50) -> list[Execution]:
        """Newest first; ``nodes`` may be empty in these summaries."""

    def cache_get(self, key: str) -> Mapping[str, Any] | None: ...

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

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """A local file a same-machine writer may write directly (logs), or None if remote."""
