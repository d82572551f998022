"""The control plane's wire format: registrations, launch plans and launches (pydantic).

These are the bodies of the REST API (DESIGN §6) and what ``retune register | launch`` send,
so the OpenAPI document is generated from them. Overrides and inputs stay plain JSON here on
purpose: they are checked by the same parser the CLI uses, whose errors name the hook and field
(``retune.overrides``), rather than by pydantic's generic messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retune.model.spec import LaunchPlanSpec, TaskSpec, WorkflowSpec

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
"""Projects and domains: ``flytesnacks``, ``development``."""
VERSION_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$"
ENTITY_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_.<>-]{0,254}$"
"""Task, workflow and launch plan names: ``flows.training.wf`` (module and qualified name)."""
DIGEST_PATTERN: Final = r"^[0-9a-f]{64}$"
LOCAL: Final = "_local"
"""The project and domain under which ``rt.run`` registers what it runs, at a version derived
from the spec and its code: no registered name can take it (names start with a letter or a
digit), and its executions have no project, so no worker claims them."""

Project = Annotated[str, Field(pattern=NAME_PATTERN, examples=["flytesnacks"])]
Domain = Annotated[str, Field(pattern=NAME_PATTERN, examples=["development"])]
Version = Annotated[str, Field(pattern=VERSION_PATTERN, examples=["v1"])]
EntityName = Annotated[str, Field(pattern=ENTITY_PATTERN, examples=["flows.training.wf"])]
Digest = Annotated[str, Field(pattern=DIGEST_PATTERN)]
Kind = Literal["task", "workflow", "launch_plan"]
JsonMap = dict[str, Any]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Registration(_Wire):
    """Everything ``retune register`` found in a path, under one project, domain and version."""

    project: Project
    domain: Domain
    version: Version
    bundle: Digest | None = None
    tasks: tuple[TaskSpec, ...] = ()
    workflows: tuple[WorkflowSpec, ...] = ()
    launch_plans: tuple[LaunchPlanSpec, ...] = ()


class RegisteredEntity(_Wire):
    kind: Kind
    project: str
    domain: str
    name: str
    version: str
    bundle: str | None = None
    created_at: float
    created: bool = Field(description="False when the same content was registered already (a no-op).")


class RegistrationResult(_Wire):
    entities: tuple[RegisteredEntity, ...]


class WorkflowRecord(_Wire):
    """A registered workflow: its spec (interface, nodes, hooks, tasks) and where its code is."""

    project: str
    domain: str
    name: str
    version: str
    bundle: str | None = None
    created_at: float
    spec: WorkflowSpec


class LaunchPlanRequest(_Wire):
    """``POST /launch_plans``. ``version`` is the workflow's (default: its newest); the launch
    plan is stored under the same version (docs/decisions/0009-control-plane.md)."""

    project: Project
    domain: Domain
    name: EntityName
    workflow: EntityName
    version: Version | None = None
    default_inputs: JsonMap = {}
    fixed_inputs: JsonMap = {}
    runtime_override: JsonMap = Field(
        default={}, description="hook name -> TaskNodeOverrides, as in `retune hooks --json`"
    )


class LaunchPlanRecord(_Wire):
    project: str
    domain: str
    name: str
    version: str
    created_at: float
    created: bool = True
    spec: LaunchPlanSpec


class ExecutionRequest(_Wire):
    """``POST /executions``: a workflow or a launch plan, inputs and per-hook overrides."""

    project: Project
    domain: Domain
    workflow: EntityName | None = None
    launch_plan: EntityName | None = None
    version: Version | None = None
    inputs: JsonMap = {}
    overrides: JsonMap = Field(default={}, description="hook name -> TaskNodeOverrides")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="Launching again with the same key returns the first execution instead of a new one.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> ExecutionRequest:
        if (self.workflow is None) == (self.launch_plan is None):
            raise ValueError("give exactly one of 'workflow' and 'launch_plan'")
        return self


class RelaunchRequest(_Wire):
    """``POST /executions/{id}/relaunch``: the parent's inputs and overrides, with the hooks
    named here replaced field by field."""

    overrides: JsonMap = Field(default={}, description="hook name -> TaskNodeOverrides")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
