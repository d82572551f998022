"""The documents the API answers with that ``retune.model.control`` does not define.

Executions are sent as ``Execution.to_dict()`` (the shape of ``--json``), not through these
models: ``ExecutionDocument`` describes that shape for the OpenAPI document, and a test keeps
the two equal.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retune.model.control import WorkflowRecord
from retune.model.execution import AttemptKind, CacheStatus, Capacity, Phase
from retune.model.spec import Interface


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Document):
    status: Literal["ok"]
    version: str


class BundleStored(_Document):
    digest: str = Field(description="The sha256 of the bundle, as in the URL.")


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
    number: int
    phase: Phase
    kind: AttemptKind
    error: str | None
    capacity: Capacity
    executor: str
    started_at: float | None
    finished_at: float | None
    logs: dict[str, str]


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


class ExecutionDocument(_Document):
    """An execution record: the same fields as ``retune executions show --json``."""

    id: str
    workflow: str
    workflow_version: str
    launch_plan: str | None
    phase: Phase
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str | None
    overrides: dict[str, dict[str, Any]]
    created_at: float
    finished_at: float | None
    project: str | None
    domain: str | None
    parent_id: str | None
    nodes: list[NodeDocument] = Field(description="Empty in listings.")


class ExecutionList(_Document):
    executions: list[ExecutionDocument] = Field(description="Newest first, without their nodes.")


class ErrorDetail(_Document):
    error: str = Field(description="The class of the error: OverrideError, InputError, NotFound, ...")
    message: str
    problem: str | None = None
    hook: str | None = None
    field: str | None = None
    origin: str | None = None
    input: str | None = None
    fix: str | None = None


class ErrorBody(_Document):
    detail: ErrorDetail


Responses = dict[int | str, dict[str, Any]]


def errors(*statuses: int) -> Responses:
    """``responses=`` of a route: our error body under each status."""
    return {status: {"model": ErrorBody, "description": _WHY[status]} for status in statuses}


def no_op(what: str) -> Responses:
    """``responses=`` for the 200 of a write that changed nothing."""
    return {200: {"description": f"{what} was registered already with this content: a no-op."}}


_WHY = {
    401: "No API token, a malformed one, or one the server does not know.",
    403: "The token lacks the right or the project.",
    404: "No such workflow, launch plan, version or execution.",
    409: "A conflict: other content under a registered version, an idempotency key reused for "
    "another request, or a verb that does not apply to the execution.",
    413: "The request body is over the limit (1 MiB for JSON, 64 MiB for a bundle).",
}
# 422 keeps FastAPI's documented list of problems; an OverrideError or InputError comes as
# ErrorBody under it instead (docs/decisions/0010-server-auth.md).
