"""``retune register PATH`` on the client side: import what PATH defines, compile it, bundle its
code, and register it through a control plane."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from retune.errors import (
    InputError,
    RegistrationError,
    RetuneError,
)
from retune.model.spec import LaunchPlanSpec, TaskSpec, WorkflowSpec
from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.task import Task
from retune.sdk.workflow import Workflow
from retune.store.base import Conflict, NotFound

if TYPE_CHECKING:
    from retune.control.plane import ControlPlane
    from retune.model.control import RegistrationResult

from retune.api.runs import compile


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
