"""In-process verbs behind ``rt.compile``, ``rt.resolve``, ``rt.run`` and resume.

``run`` checks everything it can before anything is stored: inputs (names, types), overrides
(hooks, fields, values, layering) and whether the executor can honour every node's config.
"""

from __future__ import annotations

import atexit
import hashlib
import pickle
import sys
import time
import typing
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from retune.compiler.compiled import CompiledWorkflow
from retune.engine import Engine, new_execution_id, new_nodes
from retune.errors import ExecutionFailed, InputError, OverrideError
from retune.executors.base import Executor, Refused, TaskRef
from retune.model import NodeConfig, TaskNodeOverrides
from retune.model.execution import Execution, Phase
from retune.model.spec import WorkflowSpec
from retune.overrides import parse_overrides, resolve_workflow
from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.task import declared_task
from retune.sdk.workflow import Workflow
from retune.store.base import BlobStore, NewExecution, Store

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
    parsed = parse_overrides(overrides, origin="overrides")
    launch_plan = target.spec if isinstance(target, LaunchPlan) else None
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
) -> Execution:
    """Run a workflow or launch plan to completion and return its ``Execution`` record.

    Raises ``InputError``/``OverrideError`` before anything is stored, and
    ``ExecutionFailed`` (unless ``raise_on_failure=False``) when the run fails.
    """
    workflow = target.workflow if isinstance(target, LaunchPlan) else _workflow(target)
    spec = compile(target).spec
    execution_id = new_execution_id()
    launch_plan = target.spec if isinstance(target, LaunchPlan) else None
    parsed = parse_overrides(overrides, origin=origin)
    resolved = resolve_workflow(
        spec, launch_plan=launch_plan, overrides=parsed, execution=execution_id, origin=origin
    )
    if blobs is None:
        blobs = open_default_blobs()
    encoded = encode_inputs(workflow, target, inputs or {}, blobs)
    owned: list[Store | Executor] = []
    if executor is None or isinstance(executor, str):
        executor = _executor(executor, blobs)
    check_executor(executor, resolved)
    tasks = task_refs(spec)
    if store is None:
        store = open_default_store()
        owned.append(store)
    try:
        blobs.put(f"executions/{execution_id}/tasks.pkl", pickle.dumps(dict(tasks)))
        engine = Engine(store, executor, progress=progress)
        engine.launch(
            NewExecution(
                id=execution_id,
                workflow=spec.name,
                workflow_version=spec_version(spec),
                inputs=encoded,
                nodes=new_nodes(resolved),
                launch_plan=launch_plan.name if launch_plan else None,
                overrides={hook: o.to_dict() for hook, o in parsed.items()},
                created_at=time.time(),
            ),
            spec,
        )
        record = engine.run(execution_id, spec, tasks)
    finally:
        for part in owned:
            part.close()
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
        spec = store.get_workflow(record.workflow, record.workflow_version)
        tasks = pickle.loads(blobs.get(f"executions/{execution_id}/tasks.pkl"))
        return Engine(store, executor).run(execution_id, spec, tasks)
    finally:
        for part in owned:
            part.close()


# -- the steps of run -------------------------------------------------------------------------


def encode_inputs(
    workflow: Workflow[Any, Any], target: Target, given: Mapping[str, Any], blobs: BlobStore | None = None
) -> dict[str, Any]:
    """Inputs checked against the signature (launch plan defaults and fixed inputs applied), encoded."""
    from retune.model.values import encode

    hints = typing.get_type_hints(workflow.fn)
    params = {p.name: p for p in workflow.interface.inputs}
    fixed = target.spec.fixed_inputs if isinstance(target, LaunchPlan) else {}
    defaults = target.spec.default_inputs if isinstance(target, LaunchPlan) else {}
    for name in given:
        if name not in params:
            raise InputError(
                f"Workflow {workflow.name!r} has no input {name!r}",
                input=name,
                fix=f"Its inputs are: {', '.join(sorted(params)) or 'none'}.",
            )
        if name in fixed:
            raise InputError(
                f"Input {name!r} is fixed by launch plan {target.name!r}",
                input=name,
                fix="Leave it out, or use a launch plan that does not fix it.",
            )
    values: dict[str, Any] = {}
    for name, param in params.items():
        if name in fixed or name in given or name in defaults:
            value = fixed.get(name, given.get(name, defaults.get(name)))
        elif param.has_default:
            value = param.default
        else:
            raise InputError(
                f"Workflow {workflow.name!r} needs input {name!r} ({param.type})",
                input=name,
                fix=f"Pass it: inputs={{{name!r}: ...}}.",
            )
        try:
            values[name] = encode(value, hints.get(name, Any), blobs=blobs)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Input {name!r} expects {param.type}, got {value!r}: {exc}",
                input=name,
                fix=f"Pass a {param.type}.",
            ) from None
    return values


def decode_outputs(workflow: Workflow[Any, Any], record: Execution, blobs: BlobStore | None = None) -> Any:
    if record.phase is not Phase.SUCCEEDED or not isinstance(record.outputs, Mapping):
        return None
    from retune.model.values import decode

    hints = typing.get_type_hints(workflow.fn)
    annotation = hints.get("return", Any)
    outputs = workflow.interface.outputs
    if not outputs:
        return None
    if len(outputs) == 1:
        return decode(record.outputs[outputs[0].name], annotation, blobs=blobs)
    parts = typing.get_args(annotation) or (Any,) * len(outputs)
    if hasattr(annotation, "_fields"):
        hinted = typing.get_type_hints(annotation)
        return annotation(
            *(decode(record.outputs[p.name], hinted.get(p.name, Any), blobs=blobs) for p in outputs)
        )
    return tuple(decode(record.outputs[p.name], a, blobs=blobs) for p, a in zip(outputs, parts, strict=False))


def check_executor(executor: Executor, resolved: Mapping[str, NodeConfig]) -> None:
    """Refuse, before anything runs, a config the executor can never honour."""
    seen: set[int] = set()
    for path, node in resolved.items():
        if id(node.config) in seen:
            continue
        seen.add(id(node.config))
        try:
            executor.check(node.config)
        except Refused as exc:
            source = node.provenance.get(exc.field.removeprefix("resources."))
            given = f" (set by {source})" if source else ""
            raise OverrideError(
                f"node {path!r}: {exc.problem}{given}", hook=node.hook, field=exc.field, fix=exc.fix
            ) from None


def task_refs(spec: WorkflowSpec) -> dict[str, TaskRef]:
    """How the task process finds each task: by reference, or by value from ``__main__``."""
    refs = {}
    for name, task in spec.tasks.items():
        declared = declared_task(name)
        pickled = None
        if declared is not None and (task.module == "__main__" or task.module not in sys.modules):
            import cloudpickle

            pickled = cloudpickle.dumps(declared.fn)
        refs[name] = TaskRef(
            name=name,
            module=task.module,
            qualname=task.qualname,
            task_type=task.task_type,
            pickled=pickled,
            sys_path=tuple(sys.path),
        )
    return refs


def spec_version(spec: WorkflowSpec) -> str:
    """Content address of a spec: the version a local run registers it under."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


def _workflow(target: object) -> Workflow[Any, Any]:
    if isinstance(target, Workflow):
        return target
    raise TypeError(f"Expected a @workflow or a LaunchPlan, got {target!r}.")


_SHARED: dict[str, Any] = {}


def _executor(name: str | None, blobs: BlobStore) -> Executor:
    """The process's local executor, kept warm across runs (like ``ray.init``: one per process).

    Its worker processes start once, so a second ``rt.run`` in a notebook or a script does not
    pay their start-up again. A change of settings (home, capacity, images) replaces it.
    """
    if name not in (None, "local"):
        raise ValueError(f"Unknown executor {name!r}; use 'local' or an Executor object.")
    from retune.executors.local import LocalExecutor
    from retune.settings import load

    settings = load()
    key = repr((str(settings.home), sorted(settings.capacity.items()), sorted(settings.images.items())))
    if _SHARED.get("key") != key:
        if "executor" in _SHARED:
            _SHARED.pop("executor").close()
        else:
            atexit.register(_close_shared)
        _SHARED["executor"] = LocalExecutor(
            blobs, capacity=settings.capacity or None, images=settings.images or None
        )
        _SHARED["key"] = key
    executor: Executor = _SHARED["executor"]
    return executor


def _close_shared() -> None:
    if "executor" in _SHARED:
        _SHARED.pop("executor").close()
        _SHARED.pop("key", None)


def open_default_store() -> Store:
    """The configured store (settings: RETUNE_DATABASE_URL, retune.toml, else SQLite)."""
    from retune.settings import load
    from retune.store import open_store

    return open_store(load().database_url)


def open_default_blobs() -> BlobStore:
    """The blob store under RETUNE_HOME."""
    from retune.settings import load
    from retune.store import open_blobs

    return open_blobs(load().home / "blobs")
