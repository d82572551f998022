"""Checks the control plane makes before it writes: launch plans against their workflow,
resolved configs against what the workers' executor can honour, and the hooks document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from retune.control.inputs import as_float, check_limits, problem_of
from retune.errors import InputError, OverrideError
from retune.executors.base import ConfigCheck, Refused
from retune.model import NodeConfig
from retune.model.spec import HookDefault, LaunchPlanSpec, TaskSpec, WorkflowSpec
from retune.model.values import shown
from retune.overrides import check_known_hooks, combine, resolve_workflow


def check_launch_plan(workflow: WorkflowSpec, plan: LaunchPlanSpec) -> LaunchPlanSpec:
    """Refuse a launch plan whose inputs or overrides do not fit ``workflow``; returns it with
    float inputs given as integers made floats."""
    origin = f"launch plan {plan.name!r}"
    params = {p.name: p for p in workflow.interface.inputs}
    both = sorted(set(plan.default_inputs) & set(plan.fixed_inputs))
    if both:
        raise InputError(
            f"Launch plan {plan.name!r}: {both[0]!r} is both a default and a fixed input",
            input=both[0],
            fix="Keep it in one of default_inputs and fixed_inputs.",
        )
    fixed: dict[str, dict[str, Any]] = {"default_inputs": {}, "fixed_inputs": {}}
    for kind, values in (("default_inputs", plan.default_inputs), ("fixed_inputs", plan.fixed_inputs)):
        for name, value in values.items():
            param = params.get(name)
            if param is None:
                raise InputError(
                    f"Launch plan {plan.name!r}: {kind} names {name!r}, which workflow "
                    f"{workflow.name!r} does not take",
                    input=name,
                    fix=f"Its inputs are: {', '.join(sorted(params)) or 'none'}.",
                )
            value = as_float(param.type, value)
            check_limits(name, value, origin=f"Launch plan {plan.name!r}: {kind}")
            problem = problem_of(value, param.type, f"{kind}[{name!r}]")
            if problem is not None:
                raise InputError(
                    f"Launch plan {plan.name!r}: {problem} ({param.type}), got {shown(value)}",
                    input=name,
                    fix=f"Give a {param.type}.",
                )
            fixed[kind][name] = value
    check_known_hooks(plan.runtime_override, workflow.hooks, workflow=workflow.name, origin=origin)
    resolve_workflow(workflow, launch_plan=plan)  # refuse what can never be honoured, now
    return plan.model_copy(update=fixed)


def check_configs(
    check: ConfigCheck | None, resolved: Mapping[str, NodeConfig], tasks: Mapping[str, TaskSpec]
) -> None:
    """Refuse, before anything is stored, a node the executor can never run: its task type
    (``tasks``: the workflow's task specs) or its effective config."""
    if check is None:
        return
    types = {task.name: task.task_type for task in tasks.values()}
    seen: set[tuple[int, str]] = set()
    for path, node in resolved.items():
        task_type = types[node.task]
        if (id(node.config), task_type) in seen:
            continue
        seen.add((id(node.config), task_type))
        try:
            check(node.config, task_type)
        except Refused as exc:
            source = node.provenance.get(exc.field.removeprefix("resources."))
            given = f" (set by {source})" if source else ""
            raise OverrideError(
                f"node {path!r}: {exc.problem}{given}", hook=node.hook, field=exc.field, fix=exc.fix
            ) from None


class HookLike(Protocol):
    """A hook as the registry stores it (``HookSpec``) or as ``rt.compile`` shows it (``Hook``)."""

    @property
    def nodes(self) -> tuple[str, ...]: ...
    @property
    def task(self) -> str: ...
    @property
    def declared_at(self) -> str: ...
    @property
    def defaults(self) -> tuple[HookDefault, ...]: ...


def hooks_document(hooks: Mapping[str, HookLike]) -> dict[str, Any]:
    """Hook name -> nodes, task, where declared, merged default and each default: the one map
    ``retune hooks --json`` prints and ``GET /workflows/.../hooks`` answers."""
    return {name: hook_document(hook) for name, hook in sorted(hooks.items())}


def hook_document(hook: HookLike) -> dict[str, Any]:
    return {
        "nodes": list(hook.nodes),
        "task": hook.task,
        "declared_at": hook.declared_at,
        "default": combine(*(d.overrides for d in hook.defaults)).to_dict(),
        "defaults": [d.model_dump(mode="json") for d in hook.defaults],
    }
