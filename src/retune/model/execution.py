"""Execution records: what ``rt.run`` returns, ``--json`` prints and the store keeps.

Field names are part of the API (DESIGN §1). Records are frozen; the engine builds new ones
from the store rather than mutating them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any, Final

from retune.model.config import (
    SHARED_FRAGMENTS,
    EffectiveConfig,
    JsonFragments,
    Provenance,
    Source,
    encode_json,
)


class Phase(StrEnum):
    """Phases of executions and nodes. ``SKIPPED`` is for nodes only: an upstream node failed."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    SKIPPED = "SKIPPED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: Final = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.SKIPPED})


class CacheStatus(StrEnum):
    HIT = "hit"
    MISS = "miss"
    DISABLED = "disabled"


class AttemptKind(StrEnum):
    """The budget an attempt counts against: ``user`` (``retries``) or ``system`` (lost or
    preempted workers, which never consume the user's retries)."""

    USER = "user"
    SYSTEM = "system"


class Capacity(StrEnum):
    """Where an attempt ran."""

    ON_DEMAND = "on_demand"
    INTERRUPTIBLE = "interruptible"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at running a task node, or one item of a map node (``item``: its index).

    ``number`` is unique within the node, items included (it names the attempt's logs and the
    executor's handle on it); an item's attempts are those with its ``item``, in number order.
    """

    number: int
    phase: Phase
    kind: AttemptKind
    error: str | None = None
    capacity: Capacity = Capacity.ON_DEMAND
    executor: str = "local"
    started_at: float | None = None
    finished_at: float | None = None
    logs: Mapping[str, str] = field(default_factory=dict)
    item: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "item": self.item,
            "phase": self.phase.value,
            "kind": self.kind.value,
            "error": self.error,
            "capacity": self.capacity.value,
            "executor": self.executor,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "logs": dict(self.logs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(
            number=int(data["number"]),
            phase=Phase(data["phase"]),
            kind=AttemptKind(data["kind"]),
            error=data.get("error"),
            capacity=Capacity(data.get("capacity", Capacity.ON_DEMAND)),
            executor=str(data.get("executor", "local")),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            logs=dict(data.get("logs") or {}),
            item=data.get("item"),
        )


ITEM_STATES: Final = ("succeeded", "failed", "running", "aborted")
"""What ``NodeExecution.item_counts`` counts, by the phase of each item's latest attempt."""


def count_items(items: int | None, attempts: Iterable[tuple[int | None, Phase]]) -> dict[str, int] | None:
    """``NodeExecution.item_counts`` from the node's ``items`` and its attempts' (item, phase), in
    number order."""
    if items is None:
        return None
    latest: dict[int, Phase] = {}
    for item, phase in attempts:  # in number order: the last one of an item wins
        if item is not None:
            latest[item] = phase
    counts = dict.fromkeys(ITEM_STATES, 0)
    for phase in latest.values():
        state = phase.value.lower()
        if state in counts:
            counts[state] += 1
    return {"total": items, **counts}


@dataclass(frozen=True, slots=True)
class NodeProgress:
    """How far a node got, without what it runs with (config, provenance, outputs): what a page of
    a running execution reads every second (``ControlStore.execution_progress``)."""

    path: str
    hook: str | None
    task: str
    phase: Phase
    cache: CacheStatus
    attempts: int
    items: Mapping[str, int] | None = None
    """``NodeExecution.item_counts()``: a started map node's items by state; None otherwise."""


@dataclass(frozen=True, slots=True)
class NodeExecution:
    path: str
    hook: str | None
    task: str
    phase: Phase
    cache: CacheStatus
    config: EffectiveConfig
    provenance: Provenance
    attempts: tuple[Attempt, ...] = ()
    outputs: Mapping[str, Any] | None = None
    error: str | None = None
    cache_reason: str | None = None
    """Why a node missed the cache (``cache: miss``): what changed since the task's last entry."""
    items: int | None = None
    """A map node's number of items, once it started (None: a task node, or not started)."""

    def item_counts(self) -> dict[str, int] | None:
        """``{"total", "succeeded", "failed", "running", "aborted"}`` of a started map node, each
        item counted by its latest attempt (an item retrying counts as running; ``failed`` ones
        spent their budget). None for a task node."""
        return count_items(self.items, ((a.item, a.phase) for a in self.attempts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "hook": self.hook,
            "task": self.task,
            "phase": self.phase.value,
            "cache": self.cache.value,
            "config": self.config.to_dict(),
            "provenance": {path: source.to_dict() for path, source in self.provenance.items()},
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "outputs": None if self.outputs is None else dict(self.outputs),
            "error": self.error,
            "cache_reason": self.cache_reason,
            "items": self.item_counts(),
        }

    def to_json(self, fragments: JsonFragments) -> str:
        """``encode_json(self.to_dict())``, config and provenance from ``fragments``."""
        hook = "null" if self.hook is None else encode_basestring(self.hook)
        attempts = encode_json([a.to_dict() for a in self.attempts]) if self.attempts else "[]"
        outputs = "null" if self.outputs is None else encode_json(dict(self.outputs))
        error = "null" if self.error is None else encode_basestring(self.error)
        reason = "null" if self.cache_reason is None else encode_basestring(self.cache_reason)
        items = "null" if self.items is None else encode_json(self.item_counts())
        return (
            f'{{"path":{encode_basestring(self.path)},"hook":{hook},"task":{encode_basestring(self.task)},'
            f'"phase":"{self.phase.value}","cache":"{self.cache.value}",'
            f'"config":{fragments.config(self.config)},"provenance":{fragments.provenance(self.provenance)},'
            f'"attempts":{attempts},"outputs":{outputs},"error":{error},"cache_reason":{reason},'
            f'"items":{items}}}'
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeExecution:
        return cls(
            path=str(data["path"]),
            hook=data.get("hook"),
            task=str(data["task"]),
            phase=Phase(data["phase"]),
            cache=CacheStatus(data["cache"]),
            config=EffectiveConfig.from_dict(data["config"]),
            provenance=MappingProxyType(
                {path: Source.from_dict(src) for path, src in data["provenance"].items()}
            ),
            attempts=tuple(Attempt.from_dict(a) for a in data.get("attempts", ())),
            outputs=data.get("outputs"),
            error=data.get("error"),
            cache_reason=data.get("cache_reason"),
            items=None if data.get("items") is None else int(data["items"]["total"]),
        )


@dataclass(frozen=True, slots=True)
class Execution:
    """One run of a workflow. ``outputs`` is the workflow's return value (``None`` until done).

    ``unreadable`` is set in listings only, on a record whose stored inputs, outputs or
    overrides cannot be read back (written by hand or by an older retune): it says which and
    why, and those fields are left empty. Reading the execution itself raises
    ``ValueNotStorable`` instead (docs/decisions/0026).
    """

    id: str
    workflow: str
    phase: Phase
    nodes: tuple[NodeExecution, ...]
    workflow_version: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Any = None
    error: str | None = None
    launch_plan: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    created_at: float | None = None
    finished_at: float | None = None
    project: str | None = None  # launched executions only: local runs have no project
    domain: str | None = None
    parent_id: str | None = None  # the execution this one relaunches or recovers
    worker: str | None = None  # launched executions: the name of the worker that ran it last
    unreadable: str | None = None

    def node(self, key: str) -> NodeExecution:
        """A node by hook name or by node path."""
        for node in self.nodes:
            if key in (node.hook, node.path):
                return node
        known = sorted({n.path for n in self.nodes} | {n.hook for n in self.nodes if n.hook})
        raise KeyError(f"Execution {self.id} has no node or hook {key!r}; it has: {', '.join(known)}.")

    def to_dict(self) -> dict[str, Any]:
        record = self._without_nodes()
        record["nodes"] = [node.to_dict() for node in self.nodes]
        return record

    def to_json(self, fragments: JsonFragments | None = None) -> bytes:
        """``encode_json(self.to_dict())`` as UTF-8, what the API answers: each distinct config
        and provenance is encoded once (``JsonFragments``; by default the process's, where the
        store put those of a new execution's rows), the nodes put together as text."""
        fragments = SHARED_FRAGMENTS if fragments is None else fragments
        head = self._without_nodes()
        head["nodes"] = []
        text = encode_json(head)  # ends with "[]}": the nodes go between the brackets
        nodes = ",".join([node.to_json(fragments) for node in self.nodes])
        return f"{text[:-2]}{nodes}]}}".encode()

    def _without_nodes(self) -> dict[str, Any]:
        """``to_dict()`` but for its last key, ``nodes``."""
        return {
            "id": self.id,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "launch_plan": self.launch_plan,
            "phase": self.phase.value,
            "inputs": dict(self.inputs),
            "outputs": self.outputs,
            "error": self.error,
            "overrides": dict(self.overrides),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "project": self.project,
            "domain": self.domain,
            "parent_id": self.parent_id,
            "worker": self.worker,
            "unreadable": self.unreadable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Execution:
        return cls(
            id=str(data["id"]),
            workflow=str(data["workflow"]),
            workflow_version=str(data.get("workflow_version", "")),
            launch_plan=data.get("launch_plan"),
            phase=Phase(data["phase"]),
            inputs=dict(data.get("inputs") or {}),
            outputs=data.get("outputs"),
            error=data.get("error"),
            overrides=dict(data.get("overrides") or {}),
            created_at=data.get("created_at"),
            finished_at=data.get("finished_at"),
            project=data.get("project"),
            domain=data.get("domain"),
            parent_id=data.get("parent_id"),
            worker=data.get("worker"),
            unreadable=data.get("unreadable"),
            nodes=tuple(NodeExecution.from_dict(n) for n in data.get("nodes", ())),
        )
