"""``LocalControlPlane``: the control plane's verbs over a store and a blob store.

Every verb checks everything before it writes, and writes in one transaction, so a refused
request leaves nothing behind. Launching resolves the effective config of every node with the
same resolver ``rt.run`` uses (``retune.overrides``) and stores the execution ``QUEUED``;
a worker (``retune.worker``) claims it.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pydantic import BaseModel

from retune.control.inputs import check_given_inputs, launch_inputs
from retune.control.prepare import prepare_execution
from retune.control.validation import check_launch_plan, hooks_document
from retune.engine import new_execution_id
from retune.errors import InputError, RequestRefused
from retune.executors.base import ConfigCheck
from retune.executors.bundles import bundle_key
from retune.model import NodeConfig
from retune.model.control import (
    LOCAL,
    ExecutionRequest,
    LaunchPlanRecord,
    LaunchPlanRequest,
    RegisteredEntity,
    Registration,
    RegistrationResult,
    RelaunchRequest,
    WorkflowRecord,
)
from retune.model.execution import Execution, NodeExecution, NodeProgress, Phase
from retune.model.spec import LaunchPlanSpec, WorkflowSpec
from retune.overrides import combine_maps, parse_overrides
from retune.store.base import BlobStore, Conflict, ControlStore, NewExecution, NewNode, NotFound, Registered

_SPECS: dict[tuple[str, str], Any] = {}
"""(kind, content hash) -> parsed spec, shared by every plane of the process: specs are immutable,
and a server has a plane per worker thread, threads that come and go, so a cache per plane parsed
a 2,000-node spec again (~40 ms) on the first request of every new thread."""


class LocalControlPlane:
    """The verbs of ``ControlPlane`` on ``store`` (and ``blobs`` for code bundles).

    ``check`` refuses a config the workers' executor can never honour (raises
    ``retune.executors.base.Refused``); None checks nothing beyond the overrides themselves.
    """

    def __init__(self, store: ControlStore, blobs: BlobStore, *, check: ConfigCheck | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.check = check
        self._specs = _SPECS

    # -- registry ---------------------------------------------------------------------------

    def put_bundle(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = bundle_key(digest)
        if not self.blobs.exists(key):
            self.blobs.put(key, data)
        return digest

    def register(self, registration: Registration) -> RegistrationResult:
        r = registration
        if r.bundle is not None and not self.blobs.exists(bundle_key(r.bundle)):
            raise NotFound(f"No code bundle {r.bundle}: upload it first (PUT /api/v1/bundles/{r.bundle}).")
        for kind, names in (
            ("task", [t.name for t in r.tasks]),
            ("workflow", [w.name for w in r.workflows]),
            ("launch plan", [p.name for p in r.launch_plans]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise InputError(
                    f"The registration names {kind} {twice[0]!r} more than once",
                    fix=f"Send each {kind} once; a version holds one {kind} of each name.",
                )
        workflows = {w.name: w for w in r.workflows}
        for plan in r.launch_plans:  # checked before anything is written
            spec = workflows.get(plan.workflow) or self._workflow(
                r.project, r.domain, plan.workflow, r.version
            )
            check_launch_plan(spec, plan)
        items: list[tuple[str, dict[str, Any]]] = []
        groups: tuple[tuple[str, tuple[BaseModel, ...]], ...] = (
            ("task", r.tasks),
            ("workflow", r.workflows),
            ("launch_plan", r.launch_plans),
        )
        for kind, specs in groups:
            for item in specs:
                document = item.model_dump(mode="json")
                if kind == "launch_plan":
                    document["workflow_version"] = r.version
                items.append((kind, document))
        stored = self.store.register(r.project, r.domain, r.version, items, r.bundle)
        entities = [_entity(found) for found in stored]
        return RegistrationResult(entities=tuple(entities))

    def get_workflow(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> WorkflowRecord:
        found = self.store.registered("workflow", project, domain, name, version)
        return WorkflowRecord(
            project=found.project,
            domain=found.domain,
            name=found.name,
            version=found.version,
            bundle=found.bundle,
            created_at=found.created_at,
            spec=self._parse(WorkflowSpec, found),
        )

    def hooks(self, project: str, domain: str, name: str, version: str | None = None) -> dict[str, Any]:
        return hooks_document(self.get_workflow(project, domain, name, version).spec.hooks)

    def create_launch_plan(self, request: LaunchPlanRequest) -> LaunchPlanRecord:
        q = request
        workflow = self.store.registered("workflow", q.project, q.domain, q.workflow, q.version)
        spec = self._parse(WorkflowSpec, workflow)
        origin = f"launch plan {q.name!r}"
        plan = LaunchPlanSpec(
            name=q.name,
            workflow=q.workflow,
            workflow_version=workflow.version,
            default_inputs=dict(q.default_inputs),
            fixed_inputs=dict(q.fixed_inputs),
            runtime_override=parse_overrides(q.runtime_override, origin=origin),
        )
        plan = check_launch_plan(spec, plan)
        document = plan.model_dump(mode="json")
        (stored,) = self.store.register(
            q.project, q.domain, workflow.version, [("launch_plan", document)], workflow.bundle
        )
        return _launch_plan_record(stored, plan)

    def get_launch_plan(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> LaunchPlanRecord:
        found = self.store.registered("launch_plan", project, domain, name, version)
        return _launch_plan_record(found, self._parse(LaunchPlanSpec, found))

    # -- executions -------------------------------------------------------------------------

    def launch(self, request: ExecutionRequest, *, dry_run: bool = False) -> tuple[Execution, bool]:
        q = request
        check_given_inputs(q.inputs)  # before the hash, which could not be computed for some
        # What an idempotent replay is compared with: only a launch with a key can be replayed.
        digest: str | None = None
        if q.idempotency_key is not None:
            digest = _request_hash(q.model_dump(mode="json", exclude={"idempotency_key"}))
            seen = self._seen(q.idempotency_key, digest)
            if seen is not None:
                return seen, False
        plan: LaunchPlanSpec | None = None
        if q.launch_plan is not None:
            found = self.store.registered("launch_plan", q.project, q.domain, q.launch_plan, q.version)
            plan = self._parse(LaunchPlanSpec, found)
            workflow = self.store.registered(
                "workflow", q.project, q.domain, plan.workflow, plan.workflow_version or found.version
            )
        else:
            workflow = self.store.registered("workflow", q.project, q.domain, q.workflow or "", q.version)
        spec: WorkflowSpec = self._parse(WorkflowSpec, workflow)
        parsed = parse_overrides(q.overrides, origin="overrides")
        new = prepare_execution(
            spec,
            version=workflow.version,
            inputs=launch_inputs(spec.name, spec.interface, q.inputs, plan),
            overrides=parsed,
            launch_plan=plan,
            check=self.check,
            project=q.project,
            domain=q.domain,
            bundle=workflow.bundle,
            idempotency_key=q.idempotency_key,
            request_hash=digest,
        )
        if dry_run:
            return new.record(), False
        return self._create(new)

    def get_execution(self, execution_id: str) -> Execution:
        return self.store.get_execution(execution_id)

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
        """As ``ControlPlane.list_executions``: ``ControlStore.list_launched``."""
        return self.store.list_launched(
            project=project, domain=domain, workflow=workflow, phase=phase, limit=limit, before=before
        )

    def spec_of(self, execution: Execution) -> tuple[WorkflowSpec, str]:
        """The workflow spec ``execution`` ran and its content hash (which keys caches of what is
        drawn from it). A local run (``rt.run``) is found under the project ``_local``
        (docs/decisions/0015)."""
        found = self._registered_of(execution)
        spec: WorkflowSpec = self._parse(WorkflowSpec, found)
        return spec, found.content_hash

    def execution_progress(self, execution_id: str) -> tuple[Execution, tuple[NodeProgress, ...]]:
        """The execution without its nodes, and every node's phase, cache status and attempts."""
        return self.store.execution_progress(execution_id)

    def get_node(self, execution_id: str, key: str) -> tuple[Execution, NodeExecution]:
        """The execution without its nodes, and its node whose path or hook is ``key``, whole."""
        return self.store.get_node(execution_id, key)

    def relaunch(self, execution_id: str, request: RelaunchRequest) -> Execution:
        parent = self._launched(execution_id, "relaunch")
        # The parent's overrides, then the request's, combined field by field by the merge
        # rules (an environment key or task_config leaf the request does not name is kept).
        inherited = parse_overrides(parent.overrides, origin=f"execution {parent.id}")
        given = parse_overrides(request.overrides, origin="overrides")
        parsed = combine_maps(inherited, given)
        plan = self._plan_of(parent)
        spec, bundle = self._spec_of(parent)
        digest = _request_hash({"relaunch": execution_id, "overrides": request.overrides})
        new = prepare_execution(
            spec,
            version=parent.workflow_version,
            inputs=parent.inputs,
            overrides=parsed,
            launch_plan=plan,
            check=self.check,
            project=parent.project,
            domain=parent.domain,
            bundle=bundle,
            parent_id=parent.id,
            idempotency_key=request.idempotency_key,
            request_hash=digest,
        )
        if request.idempotency_key is not None:
            seen = self._seen(request.idempotency_key, digest)
            if seen is not None:
                return seen
        return self._create(new)[0]

    def recover(self, execution_id: str) -> Execution:
        parent = self._launched(execution_id, "recover")
        if parent.phase not in (Phase.FAILED, Phase.ABORTED):
            raise RequestRefused(
                f"Execution {execution_id} is {parent.phase.value}; only a FAILED or ABORTED one can be "
                "recovered",
                fix="Relaunch it instead to run it again.",
            )
        nodes = []
        for node in parent.nodes:
            resolved = NodeConfig(node.config, node.provenance, node.hook, node.task)
            if node.phase is Phase.SUCCEEDED:
                nodes.append(NewNode(node.path, resolved, Phase.SUCCEEDED, node.cache, node.outputs))
            else:
                nodes.append(NewNode(node.path, resolved))
        bundle = self._spec_of(parent)[1]
        return self._create(_recovered(parent, nodes, bundle))[0]

    def abort(self, execution_id: str) -> Execution:
        self._launched(execution_id, "abort")
        self.store.request_abort(execution_id)
        return self.store.get_execution(execution_id)

    def close(self) -> None:
        self.store.close()

    # -- helpers ----------------------------------------------------------------------------

    def _create(self, new: NewExecution) -> tuple[Execution, bool]:
        try:
            self.store.create_execution(new)
        except Conflict:
            if new.idempotency_key is None:
                raise
            # Another request with the same key won the race: answer with its execution.
            seen = self._seen(new.idempotency_key, new.request_hash or "")
            if seen is None:
                raise
            return seen, False
        return new.record(), True  # what the store holds now, without reading 100 nodes back

    def _seen(self, key: str, digest: str) -> Execution | None:
        found = self.store.find_execution(key)
        if found is None:
            return None
        execution_id, stored = found
        if stored != digest:
            raise Conflict(
                f"Idempotency key {key!r} was used for another request (execution {execution_id}). "
                "Use a new key for a different launch."
            )
        return self.store.get_execution(execution_id)

    def _launched(self, execution_id: str, verb: str) -> Execution:
        record = self.store.get_execution(execution_id)
        if record.project is None:
            raise RequestRefused(
                f"Execution {execution_id} was run locally (rt.run or `retune run`), not launched; "
                f"only launched executions can {verb} here",
                fix="Run it again with rt.run, or resume it with `retune executions resume`.",
            )
        return record

    def _spec_of(self, record: Execution) -> tuple[WorkflowSpec, str | None]:
        found = self._registered_of(record)
        spec: WorkflowSpec = self._parse(WorkflowSpec, found)
        return spec, found.bundle

    def _registered_of(self, record: Execution) -> Registered:
        return self.store.registered(
            "workflow",
            record.project or LOCAL,
            record.domain or LOCAL,
            record.workflow,
            record.workflow_version,
        )

    def _plan_of(self, record: Execution) -> LaunchPlanSpec | None:
        if record.launch_plan is None:
            return None
        found = self.store.registered(
            "launch_plan",
            record.project or "",
            record.domain or "",
            record.launch_plan,
            record.workflow_version,
        )
        plan: LaunchPlanSpec = self._parse(LaunchPlanSpec, found)
        return plan

    def _workflow(self, project: str, domain: str, name: str, version: str) -> WorkflowSpec:
        try:
            found = self.store.registered("workflow", project, domain, name, version)
        except NotFound:
            raise InputError(
                f"Launch plan refers to workflow {name!r}, which is neither in this registration nor "
                f"registered in {project}/{domain} at version {version!r}",
                fix="Register the workflow together with its launch plans.",
            ) from None
        spec: WorkflowSpec = self._parse(WorkflowSpec, found)
        return spec

    def _parse(self, model: Any, found: Registered) -> Any:
        key = (found.kind, found.content_hash)  # the store hashed it: no JSON walk per launch
        spec = self._specs.get(key)
        if spec is None:
            spec = model.model_validate(found.spec)
            if len(self._specs) > 256:
                self._specs.clear()
            self._specs[key] = spec
        return spec


def _recovered(parent: Execution, nodes: list[NewNode], bundle: str | None) -> NewExecution:
    """A recovery: the parent's inputs, overrides and (per node) resolved config, as they were."""
    return NewExecution(
        id=new_execution_id(),
        workflow=parent.workflow,
        workflow_version=parent.workflow_version,
        inputs=parent.inputs,
        nodes=nodes,
        launch_plan=parent.launch_plan,
        overrides=parent.overrides,
        created_at=time.time(),
        project=parent.project,
        domain=parent.domain,
        bundle=bundle,
        parent_id=parent.id,
    )


def _entity(found: Registered) -> RegisteredEntity:
    return RegisteredEntity(
        kind=found.kind,
        project=found.project,
        domain=found.domain,
        name=found.name,
        version=found.version,
        bundle=found.bundle,
        created_at=found.created_at,
        created=found.created,
    )


def _launch_plan_record(found: Registered, plan: LaunchPlanSpec) -> LaunchPlanRecord:
    return LaunchPlanRecord(
        project=found.project,
        domain=found.domain,
        name=found.name,
        version=found.version,
        created_at=found.created_at,
        created=found.created,
        spec=plan,
    )


def _request_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()
