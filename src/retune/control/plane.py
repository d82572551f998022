"""The control plane's one seam: ``ControlPlane``, the verbs of DESIGN §6.

Two implementations answer the same calls, like httpx's transports: ``LocalControlPlane``
works on a store directly (``retune launch`` without ``--server``, the server's routes, tests),
and ``retune.client.HttpControlPlane`` sends them to a ``retune serve`` over HTTP. The CLI
picks one and never knows which.

Errors, whichever side raised them: ``OverrideError`` / ``InputError`` (the request is wrong;
HTTP 422), ``NotFound`` (404), ``Conflict`` (409: a registered version with other content, an
idempotency key reused for another request), ``RequestRefused`` (a verb that does not apply
to this execution; 409).
"""

from __future__ import annotations

from typing import Any, Protocol

from retune.model.control import (
    ExecutionRequest,
    LaunchPlanRecord,
    LaunchPlanRequest,
    Registration,
    RegistrationResult,
    RelaunchRequest,
    WorkflowRecord,
)
from retune.model.execution import Execution, Phase


class ControlPlane(Protocol):
    def put_bundle(self, data: bytes) -> str:
        """Store a code bundle (a zip ``retune register`` built); returns its sha256 digest."""

    def register(self, registration: Registration) -> RegistrationResult:
        """Tasks, workflows and launch plans under one version. Immutable: the same content
        again is a no-op, other content under a taken version raises ``Conflict``."""

    def get_workflow(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> WorkflowRecord: ...

    def hooks(self, project: str, domain: str, name: str, version: str | None = None) -> dict[str, Any]:
        """The same map as ``retune hooks --json``."""

    def create_launch_plan(self, request: LaunchPlanRequest) -> LaunchPlanRecord: ...

    def get_launch_plan(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> LaunchPlanRecord: ...

    def launch(self, request: ExecutionRequest, *, dry_run: bool = False) -> tuple[Execution, bool]:
        """The new execution, ``QUEUED`` for a worker, and True; or, for an idempotency key
        seen before with the same request, the first execution and False. With ``dry_run``,
        nothing is stored: the execution the launch would create (every node's effective config
        and provenance), and False."""

    def get_execution(self, execution_id: str) -> Execution: ...

    def list_executions(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        workflow: str | None = None,
        phase: Phase | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Execution]:
        """Launched executions, newest first (``created_at``, then ``id``), without their nodes;
        those of ``project``, ``domain``, ``workflow`` and in ``phase`` where given. ``before``
        (an execution's id, the last of the previous page) pages: only what comes after it in
        that order, so that executions launched meanwhile shift nothing; ``NotFound`` if there is
        no such execution."""

    def relaunch(self, execution_id: str, request: RelaunchRequest) -> Execution:
        """A new execution of the same target and inputs; the parent's overrides carried over
        unless replaced (per hook, field by field)."""

    def recover(self, execution_id: str) -> Execution:
        """A new execution that re-runs only the nodes that did not succeed, with the parent's
        resolved config; succeeded nodes keep their outputs."""

    def abort(self, execution_id: str) -> Execution:
        """Queued: ``ABORTED`` at once. Running: its worker aborts it at its next heartbeat."""

    def close(self) -> None: ...
