"""``rt.compile``, ``rt.resolve``, ``rt.run`` and resume: the in-process verbs over a workflow.

``run`` checks everything it can before anything is stored: inputs (names, types), overrides
(hooks, fields, values, layering) and whether the executor can honour every node's config;
then ``control.prepare_execution`` builds the execution, which the engine runs while ``drive``
holds its lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import typing
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from retune.compiler.compiled import CompiledWorkflow
from retune.control.loading import task_refs
from retune.engine import Engine
from retune.engine.lease import LEASE, LeaseKeeper, owner_name
from retune.errors import (
    ExecutionFailed,
    InputError,
    Interrupted,
    RequestRefused,
)
from retune.executors.base import ConfigCheck, Executor, TaskRef
from retune.heap import paused
from retune.model import NodeConfig, TaskNodeOverrides
from retune.model.control import LOCAL
from retune.model.execution import Execution, Phase
from retune.model.spec import WorkflowSpec
from retune.overrides import parse_overrides, resolve_workflow
from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.workflow import Workflow
from retune.store.base import BlobStore, ExecutionChange, Store

if TYPE_CHECKING:
    from retune.sdk.code import LocalCode
    from retune.store.base import ControlStore

from retune.api.wiring import _executor, open_default_blobs, open_default_store, shared_store

Target = Workflow[Any, Any] | LaunchPlan
Overrides = Mapping[str, TaskNodeOverrides | Mapping[str, Any]]


def compile(target: Target) -> CompiledWorkflow:
    """The compiled workflow: its flat spec and its hook table (``.hooks``)."""
    workflow = target.workflow if isinstance(target, LaunchPlan) else _workflow(target)
    compiled: CompiledWorkflow = workflow.compile()
    return compiled


def resolve(
    target: Target, overrides: Overrides | None = None, *, name: str = "preview"
) -> dict[str, NodeConfig]:
    """Node path -> effective config with provenance, without running anything.

    A launch plan resolves with its own ``runtime_override`` layer included; ``name`` is
    what provenance calls the execution layer (``Source(EXECUTION, name, hook)``).
    """
    compiled = compile(target)
    launch_plan = target.spec if isinstance(target, LaunchPlan) else None
    with paused():  # parsing 1,000 hooks' overrides is as bounded as resolving them
        parsed = parse_overrides(overrides, origin="overrides")
        return resolve_workflow(compiled.spec, launch_plan=launch_plan, overrides=parsed, execution=name)


def run(
    target: Target,
    inputs: Mapping[str, Any] | None = None,
    overrides: Overrides | None = None,
    *,
    executor: Executor | str | None = None,
    raise_on_failure: bool = True,
    store: Store | None = None,
    blobs: BlobStore | None = None,
    origin: str = "overrides",
    progress: Any = None,
    dry_run: bool = False,
) -> Execution:
    """Run a workflow or launch plan to completion and return its ``Execution`` record.

    Raises ``InputError``/``OverrideError`` before anything is stored, and
    ``ExecutionFailed`` (unless ``raise_on_failure=False``) when the run fails. With
    ``dry_run`` nothing is stored or run: the record answered is the ``QUEUED`` execution the
    run would create, every node's effective config and provenance as it would store them.
    """
    from retune.control.prepare import prepare_execution

    workflow = target.workflow if isinstance(target, LaunchPlan) else _workflow(target)
    spec = compile(target).spec
    launch_plan = target.spec if isinstance(target, LaunchPlan) else None
    parsed = parse_overrides(overrides, origin=origin)
    if blobs is None:
        blobs = open_default_blobs()
    encoded = encode_inputs(workflow, target, inputs or {}, blobs)
    check: ConfigCheck
    if not (executor is None or isinstance(executor, str)):
        runner: Executor | None = executor
        check = executor.check
    elif dry_run:  # what the executor would refuse, without starting its processes
        from retune.executors.factory import config_check
        from retune.settings import load

        runner, check = None, config_check(load(), kind=executor)
    else:
        runner = _executor(executor, blobs)
        check = runner.check
    code = local_code(spec)
    new = prepare_execution(
        spec,
        version=spec_version(spec, code.digest),
        inputs=encoded,
        overrides=parsed,
        launch_plan=launch_plan,
        check=check,
        origin=origin,
    )
    if dry_run or runner is None:
        return new.record()
    if store is None:
        store = shared_store()  # kept open for the next run, as the executor is
    register_local(typing.cast("ControlStore", store), blobs, spec, new.workflow_version, code)
    engine = Engine(store, runner, progress=progress)
    owner = owner_name("run")
    if hasattr(store, "take_execution"):  # created held by this run: no take after it
        new = replace(new, worker=owner, lease=LEASE)
    engine.launch(new)
    tasks = task_refs(spec, code.digest, code.pickled)
    record = drive(engine, new.id, spec, tasks, owner=owner, created=new.record())
    record = replace(record, outputs=decode_outputs(workflow, record, blobs))
    if record.phase is Phase.FAILED and raise_on_failure:
        raise ExecutionFailed(record)
    return record


def resume(
    execution_id: str, *, executor: Executor | str | None = None, store: Store | None = None
) -> Execution:
    """Carry on an execution whose engine stopped; nodes that succeeded do not run again."""
    blobs = open_default_blobs()
    owned: list[Store | Executor] = []
    if store is None:
        store = open_default_store()
        owned.append(store)
    if executor is None or isinstance(executor, str):
        executor = _executor(executor, blobs)
    try:
        record = store.get_execution(execution_id)
        if record.phase.terminal:
            return record
        from retune.control.loading import load_registered

        # launched: registered in its project; run here: under LOCAL (its spec and its code)
        spec, tasks = load_registered(
            typing.cast("ControlStore", store),
            blobs,
            record.project or LOCAL,
            record.domain or LOCAL,
            record.workflow,
            record.workflow_version,
        )
        return drive(Engine(store, executor), execution_id, spec, tasks, owner=owner_name("resume"))
    finally:
        for part in owned:
            part.close()


def drive(
    engine: Engine,
    execution_id: str,
    spec: WorkflowSpec,
    tasks: Mapping[str, TaskRef],
    *,
    owner: str,
    created: Execution | None = None,
) -> Execution:
    """Run an execution while holding its lease, so nobody else drives it meanwhile.

    A live execution held by someone else is refused (``RequestRefused``); one whose holder
    stopped renewing (killed) is taken over once its lease lapsed. On Ctrl-C or SIGTERM
    (``KeyboardInterrupt``) the running attempts are stopped, the execution is marked
    interrupted and released, and ``Interrupted`` says how to resume it.
    """
    take = getattr(engine.store, "take_execution", None)
    keeper = None
    if take is not None:  # a store of the control plane (SQL and its in-memory double)
        held = created is not None and created.worker == owner  # created held (NewExecution.worker)
        holder = None if held else take(execution_id, owner, LEASE)
        if holder is not None:
            raise RequestRefused(
                f"execution {execution_id} is being run by {holder or 'another process'}",
                fix=f"Wait for it to end, or stop that process; {LEASE:.0f} s after it stopped, "
                "resume takes the execution over.",
            )
        keeper = LeaseKeeper(typing.cast("ControlStore", engine.store), execution_id, owner).start()
    ended = False
    try:
        record = engine.run(
            execution_id,
            spec,
            tasks,
            stop=keeper.signal if keeper else None,
            created=created,
            worker=owner if keeper else None,
        )
        ended = record.phase.terminal  # its lease went with its end (the store clears it)
        return record
    except KeyboardInterrupt:  # the engine cancelled the running attempts on its way out
        note = f"interrupted at {time.strftime('%H:%M:%S')}; resume with: retune executions resume {execution_id}"
        with contextlib.suppress(Exception):  # the run is resumable whether or not the note lands
            engine.store.apply([ExecutionChange(execution_id, Phase.RUNNING, error=note, at=time.time())])
        raise Interrupted(execution_id) from None
    finally:
        if keeper is not None:
            with contextlib.suppress(Exception):  # an unreleased lease lapses by itself
                keeper.stop(release=not ended)


# -- the steps of run -------------------------------------------------------------------------


def encode_inputs(
    workflow: Workflow[Any, Any], target: Target, given: Mapping[str, Any], blobs: BlobStore | None = None
) -> dict[str, Any]:
    """Inputs checked against the signature (launch plan defaults and fixed inputs applied), encoded."""
    from retune.control.inputs import pick_inputs
    from retune.model.values import LimitExceeded, encode, shown

    hints = typing.get_type_hints(workflow.fn)
    params = {p.name: p for p in workflow.interface.inputs}
    plan = target.spec if isinstance(target, LaunchPlan) else None
    how = "rt.run(..., inputs={{'{name}': ...}}), or --{name} VALUE on retune run"
    picked = pick_inputs(workflow.name, workflow.interface, given, plan, how_to_give=how)
    values: dict[str, Any] = {}
    for name, value in picked.items():
        param = params[name]
        try:
            values[name] = encode(value, hints.get(name, Any), blobs=blobs)
        except LimitExceeded as exc:
            raise InputError(f"Input {name!r} cannot be stored: {exc}", input=name, fix=exc.fix) from None
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Input {name!r} expects {param.type}, got {shown(value)}: {exc}",
                input=name,
                fix=f"Pass a {param.type}.",
            ) from None
    return values


def decode_outputs(workflow: Workflow[Any, Any], record: Execution, blobs: BlobStore | None = None) -> Any:
    """The stored return value (``engine.returned``: one output as itself, several as a list)
    decoded with the workflow's return annotation."""
    if record.phase is not Phase.SUCCEEDED:
        return None
    from retune.model.values import decode

    hints = typing.get_type_hints(workflow.fn)
    annotation = hints.get("return", Any)
    outputs = workflow.interface.outputs
    if not outputs:
        return None
    if len(outputs) == 1:
        return decode(record.outputs, annotation, blobs=blobs)
    stored = dict(zip((p.name for p in outputs), record.outputs or (), strict=False))
    parts = typing.get_args(annotation) or (Any,) * len(outputs)
    if hasattr(annotation, "_fields"):
        hinted = typing.get_type_hints(annotation)
        return annotation(*(decode(stored[p.name], hinted.get(p.name, Any), blobs=blobs) for p in outputs))
    return tuple(decode(stored[p.name], a, blobs=blobs) for p, a in zip(outputs, parts, strict=False))


def local_code(spec: WorkflowSpec) -> LocalCode:
    """The bundle of this process's code that a local run of ``spec`` registers (``sdk.code``)."""
    from retune.sdk.code import local_code as bundle

    return bundle(
        (name, task.module, task.qualname)
        for name, task in spec.tasks.items()
        if task.bundle is None and task.definition is None  # a definition runs without user code
    )


def register_local(
    store: ControlStore, blobs: BlobStore, spec: WorkflowSpec, version: str, code: LocalCode
) -> None:
    """Register ``spec`` with its code under ``LOCAL`` (a no-op when it is there already), so
    that the execution resumes from the store alone."""
    from retune.executors.bundles import bundle_key

    key = bundle_key(code.digest)
    if not blobs.exists(key):
        blobs.put(key, code.data)
    try:
        registered = _REGISTERED.setdefault(store, set())
    except TypeError:  # not weakly referenceable: asked every time
        registered = set()
    if version not in registered:
        store.register(LOCAL, LOCAL, version, [("workflow", spec.model_dump(mode="json"))], code.digest)
        registered.add(version)


_REGISTERED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
"""The versions ``register_local`` registered through a store object in this process: a
notebook's second ``rt.run`` of a workflow read the registry and compared again (0.7 ms for the
500-item map, 1.9 ms for a 200-task chain). Nothing in retune removes a registration, and
another database (or one replaced underneath: ``wiring.shared_store``) is another object."""


def spec_version(spec: WorkflowSpec, bundle: str | None = None) -> str:
    """Content address of a spec and its code: the version a local run registers it under."""
    return hashlib.sha256((spec.model_dump_json() + (bundle or "")).encode()).hexdigest()[:16]


def _workflow(target: object) -> Workflow[Any, Any]:
    if isinstance(target, Workflow):
        return target
    raise TypeError(f"Expected a @workflow or a LaunchPlan, got {target!r}.")
