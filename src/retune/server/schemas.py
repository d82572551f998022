"""The documents the API answers with that ``retune.model.control`` does not define.

Executions are sent as ``Execution.to_dict()`` (the shape of ``--json``), not through these
models: ``ExecutionDocument`` describes that shape for the OpenAPI document, and a test keeps
the two equal.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from retune.model.control import WorkflowRecord
from retune.model.execution import AttemptKind, CacheStatus, Capacity, Phase
from retune.model.spec import Interface


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Document):
    status: Literal["ok"]
    version: str


class Readiness(_Document):
    """``GET /ready``: 200 when both answer, else 503 naming which does not."""

    status: Literal["ready", "unavailable"]
    checks: dict[Literal["database", "blob_store"], Literal["ok", "unavailable"]]
    message: str


class BundleStored(_Document):
    digest: str = Field(description="The sha256 of the bundle, as in the URL.")


class TaskTypeDocument(_Document):
    """A task type (``GET /task_types``): what its ``task_config`` may hold and what of it
    changes results (enters the cache key)."""

    name: str
    description: str = ""
    config_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema of task_config; null for a type that takes none (python)."
    )
    result_fields: list[str] = Field(default_factory=list, description="task_config fields in the cache key.")
    error: str | None = Field(None, description="Why a declared type could not be loaded here.")


class HookDocument(_Document):
    """One hook, as ``retune hooks --json`` prints it."""

    nodes: list[str]
    task: str
    declared_at: str
    default: dict[str, Any] = Field(description="The hook's defaults merged: TaskNodeOverrides.")
    defaults: list[dict[str, Any]] = Field(description="Each default, inner workflow first.")


class WorkflowDocument(WorkflowRecord):
    """A registered workflow, with its interface and hooks at the top for clients and forms."""

    interface: Interface
    hooks: dict[str, HookDocument]


class SourceDocument(_Document):
    layer: str
    name: str
    hook: str | None


class AttemptDocument(_Document):
    number: int = Field(description="Unique within the node, a map node's items included.")
    item: int | None = Field(None, description="A map node's attempt: the index of the item it ran.")
    phase: Phase
    kind: AttemptKind
    error: str | None
    capacity: Capacity
    executor: str
    started_at: float | None
    finished_at: float | None
    logs: dict[str, str]


class ItemsDocument(_Document):
    total: int
    succeeded: int
    failed: int = Field(description="Items that spent their retries: the node failed.")
    running: int = Field(description="Items running, a retry included.")
    aborted: int = Field(description="Items cancelled because another one failed, or by an abort.")


class NodeDocument(_Document):
    path: str
    hook: str | None
    task: str
    phase: Phase
    cache: CacheStatus
    config: dict[str, Any] = Field(description="The node's effective config, fully resolved.")
    provenance: dict[str, SourceDocument] = Field(description="Field path -> the layer that set it.")
    attempts: list[AttemptDocument]
    outputs: dict[str, Any] | None
    error: str | None
    cache_reason: str | None = Field(
        None, description="Why the node missed the cache: what changed since its task's last entry."
    )
    items: ItemsDocument | None = Field(
        None, description="A map node once started: its items, each counted by its latest attempt."
    )


class ExecutionDocument(_Document):
    """An execution record: the same fields as ``retune executions show --json``."""

    id: str
    workflow: str
    workflow_version: str
    launch_plan: str | None
    phase: Phase
    inputs: dict[str, Any]
    outputs: Any = Field(
        description="The workflow's return value: a single output as itself, several as a list; "
        "null until it succeeded."
    )
    error: str | None
    overrides: dict[str, dict[str, Any]]
    created_at: float
    finished_at: float | None
    project: str | None
    domain: str | None
    parent_id: str | None
    worker: str | None = Field(description="Launched executions: the worker that ran it last.")
    unreadable: str | None = Field(
        None,
        description="Listings only: which of inputs, outputs and overrides cannot be read back "
        "from the store, and why; those fields are then empty. Reading the execution itself "
        "answers 500 naming the same cause.",
    )
    nodes: list[NodeDocument] = Field(description="Empty in listings.")


class ExecutionReceipt(_Document):
    """What a token without the right to read gets back from a launch, relaunch, recover or
    abort: the execution's id and phase, and what the request itself sent (never the record's
    inputs, outputs, errors or nodes, which may hold another launch's data)."""

    id: str
    phase: Phase
    parent_id: str | None = Field(default=None, description="The execution named in the URL.")
    project: str | None = None
    domain: str | None = None
    workflow: str | None = None
    launch_plan: str | None = None
    version: str | None = None
    inputs: dict[str, Any] = Field(default={}, description="The inputs as sent.")
    overrides: dict[str, Any] = Field(default={}, description="The overrides as sent.")


class ExecutionAnswer(RootModel[ExecutionDocument | ExecutionReceipt]):
    """The execution record (for a token that may read), else a receipt."""


class ExecutionList(_Document):
    executions: list[ExecutionDocument] = Field(description="Newest first, without their nodes.")
    next: str | None = Field(
        description="The `before` of the next page (the last execution of this one), or null: "
        "there is nothing older that matches."
    )
