"""In-process verbs behind ``rt.compile``, ``rt.resolve``, ``rt.run``, resume, and ``retune
register`` / ``retune launch`` (``register`` and ``control_plane``).

``run`` checks everything it can before anything is stored: inputs (names, types), overrides
(hooks, fields, values, layering) and whether the executor can honour every node's config.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import os
import pickle
import sys
import time
import traceback
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from retune.compiler.compiled import CompiledWorkflow
from retune.engine import Engine
from retune.engine.lease import LEASE, LeaseKeeper, owner_name
from retune.errors import (
    ExecutionFailed,
    InputError,
    Interrupted,
    RegistrationError,
    RequestRefused,
    RetuneError,
)
from retune.executors.base import ConfigCheck, Executor, TaskRef
from retune.model import NodeConfig, TaskNodeOverrides
from retune.model.execution import Execution, Phase
from retune.model.spec import LaunchPlanSpec, TaskSpec, WorkflowSpec
from retune.overrides import parse_overrides, resolve_workflow
from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.task import Task, declared_task
from retune.sdk.workflow import Workflow
from retune.store.base import BlobStore, Conflict, ExecutionChange, NotFound, Store

if TYPE_CHECKING:
    from retune.control.plane import ControlPlane
    from retune.model.control import RegistrationResult
    from retune.settings import Settings
    from retune.store.base import ControlStore

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
    new = prepare_execution(
        spec,
        version=spec_version(spec),
        inputs=encoded,
        overrides=parsed,
        launch_plan=launch_plan,
        check=check,
        origin=origin,
    )
    if dry_run or runner is None:
        return new.record()
    tasks = task_refs(spec)
    owned: list[Store] = []
    if store is None:
        store = open_default_store()
        owned.append(store)
    try:
        blobs.put(f"executions/{new.id}/tasks.pkl", pickle.dumps(dict(tasks)))
        engine = Engine(store, runner, progress=progress)
        engine.launch(new, spec)
        record = drive(engine, new.id, spec, tasks, owner=owner_name("run"))
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
        if record.phase.terminal:
            return record
        if record.project is not None:  # launched: its registered spec and code bundle
            from retune.control.loading import load_registered
            from retune.settings import load

            spec, tasks = load_registered(
                typing.cast("ControlStore", store),
                blobs,
                load().home / "bundles",
                record.project,
                record.domain or "",
                record.workflow,
                record.workflow_version,
            )
        else:
            spec = store.get_workflow(record.workflow, record.workflow_version)
            tasks = pickle.loads(blobs.get(f"executions/{execution_id}/tasks.pkl"))
        return drive(Engine(store, executor), execution_id, spec, tasks, owner=owner_name("resume"))
    finally:
        for part in owned:
            part.close()


def drive(
    engine: Engine, execution_id: str, spec: WorkflowSpec, tasks: Mapping[str, TaskRef], *, owner: str
) -> Execution:
    """Run an execution while holding its lease, so nobody else drives it meanwhile.

    A live execution held by someone else is refused (``RequestRefused``); one whose holder
    stopped renewing (killed) is taken over once its lease lapsed. On Ctrl-C or SIGTERM
    (``KeyboardInterrupt``) the running attempts are stopped, the execution is marked
    interrupted and released, and ``Interrupted`` says how to resume it.
    """
    take = getattr(engine.store, "take_execution", None)
    keeper = None
    if take is not None:  # a store of the control plane (SQL); in-memory doubles have no leases
        holder = take(execution_id, owner, LEASE)
        if holder is not None:
            raise RequestRefused(
                f"execution {execution_id} is being run by {holder or 'another process'}",
                fix=f"Wait for it to end, or stop that process; {LEASE:.0f} s after it stopped, "
                "resume takes the execution over.",
            )
        keeper = LeaseKeeper(typing.cast("ControlStore", engine.store), execution_id, owner).start()
    try:
        return engine.run(execution_id, spec, tasks, stop=keeper.signal if keeper else None)
    except KeyboardInterrupt:
        _stop_attempts(engine.executor)
        note = f"interrupted at {time.strftime('%H:%M:%S')}; resume with: retune executions resume {execution_id}"
        with contextlib.suppress(Exception):  # the run is resumable whether or not the note lands
            engine.store.apply([ExecutionChange(execution_id, Phase.RUNNING, error=note, at=time.time())])
        raise Interrupted(execution_id) from None
    finally:
        if keeper is not None:
            with contextlib.suppress(Exception):  # an unreleased lease lapses by itself
                keeper.stop()


def _stop_attempts(executor: Executor) -> None:
    """End the attempts of an interrupted run: the shared local executor is closed (its task
    processes killed); an executor the caller passed in is the caller's to stop."""
    if _SHARED.get("executor") is executor:
        _close_shared()


# -- the steps of run -------------------------------------------------------------------------


def encode_inputs(
    workflow: Workflow[Any, Any], target: Target, given: Mapping[str, Any], blobs: BlobStore | None = None
) -> dict[str, Any]:
    """Inputs checked against the signature (launch plan defaults and fixed inputs applied), encoded."""
    from retune.model.values import LimitExceeded, encode, shown

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


def task_refs(spec: WorkflowSpec) -> dict[str, TaskRef]:
    """How the task process finds each task: by reference, or by value from ``__main__``."""
    refs = {}
    for name, task in spec.tasks.items():
        if task.bundle is not None:  # a reference's task: imported from its registered bundle
            refs[name] = TaskRef(
                name=name,
                module=task.module,
                qualname=task.qualname,
                task_type=task.task_type,
                sys_path=(str(_bundle_dir(task.bundle)),),
                bundle=task.bundle,
            )
            continue
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


def _bundle_dir(digest: str) -> Path:
    """A registered code bundle, extracted once under ``RETUNE_HOME/bundles`` (as workers do)."""
    from retune.control.bundles import extract_bundle
    from retune.control.local import bundle_key
    from retune.settings import load

    return extract_bundle(open_default_blobs().get(bundle_key(digest)), digest, load().home / "bundles")


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
    from retune.executors.factory import build_executor, executor_kind
    from retune.settings import load

    settings = load()
    kind = executor_kind(settings, name, origin="rt.run(executor=...)" if name is not None else None)
    key = repr((kind, str(settings.home), sorted(settings.capacity.items()), sorted(settings.images.items())))
    if _SHARED.get("key") != key:
        if "executor" in _SHARED:
            _SHARED.pop("executor").close()
        else:
            atexit.register(_close_shared)
        _SHARED["executor"] = build_executor(settings, blobs, kind=kind)
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
    """The configured blob store (settings: RETUNE_BLOB_URL, retune.toml, else RETUNE_HOME/blobs)."""
    from retune.store import open_default_blobs as open_configured

    return open_configured()


# -- register and launch: the control plane ---------------------------------------------------

SERVER_ENV = "RETUNE_SERVER"


def control_plane(server: str | None = None, token: str | None = None) -> ControlPlane:
    """The control plane to talk to: the server at ``server`` (else ``RETUNE_SERVER``) over
    HTTP, or the configured store directly (what ``retune serve`` itself would use)."""
    server = server or os.environ.get(SERVER_ENV) or None
    if server:
        from retune.client import HttpControlPlane

        return HttpControlPlane(server, token=token)
    from retune.control.local import LocalControlPlane
    from retune.settings import load
    from retune.store import open_store

    settings = load()
    store = open_store(settings.database_url)
    return LocalControlPlane(store, open_default_blobs(), check=executor_check(settings))


def executor_check(settings: Settings) -> ConfigCheck:
    """What the workers' executor refuses (task type, capacity, images), checked before a launch
    is stored, without starting a worker; raises ``retune.executors.base.Refused``."""
    from retune.executors.factory import config_check

    return config_check(settings)


@contextlib.contextmanager
def _located_from(directory: Path) -> Iterator[None]:
    """Run with ``directory`` as the working directory, the one call sites are relative to."""
    from retune.sdk.location import forget_locations

    previous = Path.cwd()
    _SHOWN_FROM.append(previous)  # messages to the user stay relative to where they are
    os.chdir(directory)
    forget_locations()
    try:
        yield
    finally:
        os.chdir(previous)
        _SHOWN_FROM.pop()
        forget_locations()


def register(
    path: str | os.PathLike[str], *, project: str, domain: str, version: str, plane: ControlPlane
) -> RegistrationResult:
    """Register every task, workflow and launch plan defined in the Python files under ``path``
    (with the tasks their workflows use), and a bundle of that code for workers to import.

    Each file is imported by its module name relative to the bundle root
    (``retune.control.bundles.module_name``), so the module a ``TaskSpec`` records is the one
    a worker imports from the extracted bundle. Same version and content again: a no-op; other
    content under a registered version: ``Conflict``, and nothing changes.
    """
    from retune.control.bundles import build_bundle, bundle_files, bundle_root
    from retune.model.control import Registration

    root = Path(path).resolve()
    shown = _shown(root)
    # Call sites (file:line in specs) are written relative to the bundle root, so the same code
    # registered from any directory is the same content.
    with _located_from(bundle_root(root)):
        modules = import_bundle(root, bundle_root(root), bundle_files(root))
        tasks, workflows, plans = defined_entities(modules)
        workflow_specs = [compile(workflow).spec for workflow in workflows]
        if not (tasks or workflows or plans):
            raise RegistrationError(
                f"No @task, @workflow or LaunchPlan is defined in {shown}. Give the directory (or "
                "file) of your workflows"
            )
        task_specs = _task_specs(tasks, workflow_specs)
        plan_specs = [launch_plan_spec(plan) for plan in plans]
    registration = validated(
        Registration,
        project=project,
        domain=domain,
        version=version,
        tasks=tuple(task_specs),
        workflows=tuple(workflow_specs),
        launch_plans=tuple(plan_specs),
    )
    digest = plane.put_bundle(build_bundle(root))
    try:
        return plane.register(registration.model_copy(update={"bundle": digest}))
    except Conflict as exc:
        raise Conflict(f"{exc} {_what_changed(plane, registration)}") from None


def import_bundle(path: Path, root: Path, files: Iterable[Path]) -> list[ModuleType]:
    """Import each ``*.py`` of ``files`` (relative to ``root``) by its module name."""
    from retune.control.bundles import module_name

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    modules = []
    for relative in files:
        if relative.suffix != ".py":
            continue
        name = module_name(relative)
        file = root / relative
        shown = _shown(file)
        try:
            module = importlib.import_module(name)
        except RetuneError:
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception | SystemExit):
                raise
            raise RegistrationError(
                f"Cannot import {shown} (module {name!r}){_where(exc, root)}: "
                f"{traceback.format_exception_only(exc)[-1].strip()}. Fix the file, or leave it out of "
                f"{_shown(path)}"
            ) from None
        loaded = getattr(module, "__file__", None)
        if loaded is None or Path(loaded).resolve() != file:
            raise RegistrationError(
                f"{shown} would be the module {name!r}, but that name is taken by {loaded or 'a built-in'}. "
                "Rename the file (workers would import the other module)"
            )
        modules.append(module)
    return modules


def defined_entities(
    modules: Iterable[ModuleType],
) -> tuple[list[Task[Any, Any]], list[Workflow[Any, Any]], list[LaunchPlan]]:
    """The tasks, workflows and launch plans *defined* in ``modules`` (not imported into them),
    each once, in a stable order; launch plans are those of the workflows found."""
    names = {module.__name__ for module in modules}
    tasks: dict[str, Task[Any, Any]] = {}
    workflows: dict[str, Workflow[Any, Any]] = {}
    plans: dict[int, LaunchPlan] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Task) and value.fn.__module__ in names:
                tasks[value.name] = value
            elif isinstance(value, Workflow) and value.fn.__module__ in names:
                workflows[value.name] = value
            elif isinstance(value, LaunchPlan):
                plans[id(value)] = value
    # Launch plans made without a name to bind them to (in a loop, say) count too.
    plans.update({id(plan): plan for plan in LaunchPlan._known.values()})
    found = {id(workflow) for workflow in workflows.values()}
    chosen = sorted((p for p in plans.values() if id(p.workflow) in found), key=lambda p: p.name)
    return (
        [tasks[name] for name in sorted(tasks)],
        [workflows[name] for name in sorted(workflows)],
        chosen,
    )


def launch_plan_spec(plan: LaunchPlan) -> LaunchPlanSpec:
    """The plan's spec with its default and fixed inputs encoded by the workflow's annotations."""
    from retune.model.values import LimitExceeded, encode, shown

    hints = typing.get_type_hints(plan.workflow.fn)
    encoded: dict[str, dict[str, Any]] = {}
    for kind in ("default_inputs", "fixed_inputs"):
        encoded[kind] = {}
        for name, value in getattr(plan.spec, kind).items():
            try:
                encoded[kind][name] = encode(value, hints.get(name, Any))
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"Launch plan {plan.name!r}: {kind}[{name!r}]={shown(value)} cannot be stored: {exc}",
                    input=name,
                    fix=exc.fix
                    if isinstance(exc, LimitExceeded)
                    else "Give a value of a type that is stored as JSON (not a file or bytes).",
                ) from None
    return plan.spec.model_copy(update=encoded)


def _what_changed(plane: ControlPlane, registration: Any) -> str:
    """Which registered specs the refused registration would change, field by field (the
    store names the first entity it refused; a user wants to know what they edited)."""
    r = registration
    changed: dict[str, list[str]] = {}
    try:
        for workflow in r.workflows:
            old = plane.get_workflow(r.project, r.domain, workflow.name, r.version).spec
            before, after = old.model_dump(mode="json"), workflow.model_dump(mode="json")
            for name, task in after["tasks"].items():
                if name in before["tasks"]:
                    _note(changed, f"task {name}", before["tasks"][name], task)
            _note(changed, f"workflow {workflow.name}", before, after)
        for plan in r.launch_plans:
            stored = plane.get_launch_plan(r.project, r.domain, plan.name, r.version).spec
            ignored = {"workflow_version"}
            _note(
                changed,
                f"launch plan {plan.name}",
                stored.model_dump(mode="json", exclude=ignored),
                plan.model_dump(mode="json", exclude=ignored),
            )
    except (NotFound, RetuneError):
        pass  # the refusal stands as the store said it
    if not changed:
        return "The specs are the same: the code differs (a task's body or a helper changed)."
    listed = "; ".join(f"{what} ({', '.join(fields)})" for what, fields in changed.items())
    return f"Changed since {r.version!r} was registered: {listed}."


def _note(
    changed: dict[str, list[str]], what: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if fields:
        changed[what] = fields


def _task_specs(tasks: Iterable[Task[Any, Any]], workflows: Iterable[WorkflowSpec]) -> list[TaskSpec]:
    specs: dict[str, TaskSpec] = {task.name: task.spec for task in tasks}
    for workflow in workflows:
        specs.update(workflow.tasks)
    return [specs[name] for name in sorted(specs)]


def validated(model: Any, **fields: Any) -> Any:
    """``model(**fields)``, with pydantic's complaints as one ``InputError`` naming the field."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or None
        given = f" {fields[name]!r}" if name in fields else ""
        problem = f"{name}{given} is not valid: {first['msg']}" if name else str(first["msg"])
        raise InputError(problem, input=name, fix=_NAME_RULES.get(name or "", "")) from None


_NAME_RULES = {
    "project": "Use letters, digits, '_' and '-' (e.g. flytesnacks).",
    "domain": "Use letters, digits, '_' and '-' (e.g. development).",
    "version": "Use letters, digits, '_', '.', '+' and '-' (e.g. v1 or 2024.06.1).",
}


_SHOWN_FROM: list[Path] = []


def _shown(path: Path) -> str:
    try:
        relative = os.path.relpath(path, *_SHOWN_FROM[-1:])
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _where(exc: BaseException, root: Path) -> str:
    """`` at flows/a.py:12``: the deepest frame of the traceback in the user's code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {_shown(Path(exc.filename))}:{exc.lineno}"
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve().is_relative_to(root):
            found = f" at {_shown(Path(frame.filename))}:{frame.lineno}"
    return found
