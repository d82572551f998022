"""Resolution: every task node's effective config, with the provenance of every value.

For each task node of the flattened workflow, the layers in ``LAYERS`` are merged in order,
later wins:

1. TASK: the task definition (``@task(...)``); built-in defaults fill what it leaves unset.
2. NODE: ``with_overrides`` on the node, then on enclosing sub-workflow nodes, inner to outer.
3. WORKFLOW: hook defaults in workflow code, inner workflow to outer workflow.
4. LAUNCH_PLAN: the launch plan's ``runtime_override`` for the node's hook.
5. EXECUTION: the execution's overrides for the node's hook.

Layers 3-5 reach only nodes that carry a hook. Then, with every layer known:

6. Kubernetes' rule: a limit nobody set equals the request, a request nobody set the limit;
   resources nobody set at all take the platform defaults (``retune.settings``).
7. Checks that need every layer: request <= limit, ``cache_serialize`` needs ``cache``,
   ``task_config`` fits the task type. Each error names the layers that set the values.

Nodes without a hook that share a task and a chain of ``with_overrides`` share one result,
so resolution costs one merge per distinct (task, node overrides) plus one per hook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

from retune.errors import OverrideError
from retune.heap import paused
from retune.model import (
    RESOURCE_NAMES,
    EffectiveConfig,
    Layer,
    NodeConfig,
    ResolvedResources,
    Source,
    TaskNodeOverrides,
)
from retune.model.resources import format_quantity
from retune.model.spec import LaunchPlanSpec, NodeSpec, TaskSpec, WorkflowSpec
from retune.overrides.merge import Draft, MergeConflict, apply, replace
from retune.overrides.validate import check_known_hooks
from retune.plugins import TaskConfigError, get_task_type
from retune.settings import DEFAULT_LIMITS, DEFAULT_REQUESTS

LAYERS: Final = (Layer.TASK, Layer.NODE, Layer.WORKFLOW, Layer.LAUNCH_PLAN, Layer.EXECUTION)
PLATFORM_DEFAULT: Final = Source(Layer.TASK, "retune defaults")

_BUILT_IN: Final[dict[str, Any]] = {
    "cache": False,
    "cache_serialize": False,
    "cache_version": "",
    "retries": 0,
    "interruptible": False,
    "container_image": None,
    "timeout": None,
}
_NOTHING: Final = TaskNodeOverrides()


def resolve_workflow(
    workflow: WorkflowSpec,
    *,
    launch_plan: LaunchPlanSpec | None = None,
    overrides: Mapping[str, TaskNodeOverrides] | None = None,
    execution: str = "preview",
    origin: str = "overrides",
) -> dict[str, NodeConfig]:
    """Node path -> ``NodeConfig`` for every task node. ``overrides`` are already parsed;
    ``execution`` names their layer in provenance (an execution id, or ``preview``)."""
    with paused():  # bounded, and its result is mostly new containers: see retune.heap
        return _resolve(workflow, launch_plan, overrides or {}, execution, origin)


def _resolve(
    workflow: WorkflowSpec,
    launch_plan: LaunchPlanSpec | None,
    overrides: Mapping[str, TaskNodeOverrides],
    execution: str,
    origin: str,
) -> dict[str, NodeConfig]:
    check_known_hooks(overrides, workflow.hooks, workflow=workflow.name, origin=origin)
    lp_overrides = launch_plan.runtime_override if launch_plan else {}
    shared: dict[tuple[str, int], tuple[Draft, NodeConfig | None]] = {}
    resolved: dict[str, NodeConfig] = {}
    for node in workflow.nodes:
        task = workflow.tasks[node.task]
        key = (node.task, id(node.overrides))
        if key not in shared:
            base = Draft.empty()
            for layer in LAYERS[:2]:
                for layer_overrides, source, timeout in _entries(layer, node, task):
                    _apply(base, layer_overrides, source, node)
                    if timeout is not None:
                        replace(base, "timeout", timeout, source)
            shared[key] = (base, None)
        base, finished = shared[key]
        if node.hook is None:
            if finished is None:
                finished = _finish(base, node, task)
                shared[key] = (base, finished)
            resolved[node.path] = finished
            continue
        draft = base.copy()
        hook = node.hook
        late: dict[Layer, Iterator[tuple[TaskNodeOverrides, Source]]] = {
            Layer.WORKFLOW: (
                (d.overrides, Source(Layer.WORKFLOW, d.workflow, hook)) for d in workflow.hooks[hook].defaults
            ),
            Layer.LAUNCH_PLAN: _one(lp_overrides.get(hook), Layer.LAUNCH_PLAN, launch_plan, hook),
            Layer.EXECUTION: _one(overrides.get(hook), Layer.EXECUTION, execution, hook),
        }
        for layer in LAYERS[2:]:
            for layer_overrides, source in late[layer]:
                _apply(draft, layer_overrides, source, node)
        resolved[node.path] = _finish(draft, node, task)
    return resolved


def _apply(draft: Draft, overrides: TaskNodeOverrides, source: Source, node: NodeSpec) -> None:
    try:
        apply(draft, overrides, source)
    except MergeConflict as exc:
        raise OverrideError(
            f"node {node.path!r}: {exc.path} is a map in {exc.before} but a single value in {exc.after}, "
            "or the other way round",
            hook=node.hook,
            field=exc.path,
            fix="Give the same shape in every layer: task_config maps merge key by key.",
        ) from None


def _entries(
    layer: Layer, node: NodeSpec, task: TaskSpec
) -> Iterator[tuple[TaskNodeOverrides, Source, float | None]]:
    if layer is Layer.TASK:
        yield task.config, Source(Layer.TASK, task.name), task.timeout
    else:
        for entry in node.overrides:
            yield entry.overrides, Source(Layer.NODE, entry.workflow), entry.timeout


def _one(
    overrides: TaskNodeOverrides | None, layer: Layer, owner: LaunchPlanSpec | str | None, hook: str
) -> Iterator[tuple[TaskNodeOverrides, Source]]:
    if overrides:
        name = owner.name if isinstance(owner, LaunchPlanSpec) else str(owner)
        yield overrides, Source(layer, name, hook)


def _finish(draft: Draft, node: NodeSpec, task: TaskSpec) -> NodeConfig:
    values, provenance = draft.values, draft.provenance
    task_source = Source(Layer.TASK, task.name)
    for field, default in _BUILT_IN.items():
        if field not in provenance:
            values[field] = default
            provenance[field] = task_source
    requests, limits = _resolve_resources(values, provenance, node)
    if values["cache_serialize"] and not values["cache"]:
        raise OverrideError(
            f"node {node.path!r}: cache_serialize is true (from {provenance['cache_serialize']}) "
            f"but cache is false (from {provenance['cache']})",
            hook=node.hook,
            field="cache_serialize",
            fix="Turn cache on in the same layer (cache=true), or drop cache_serialize.",
        )
    task_config = _check_task_config(values["task_config"], provenance, node, task)
    config = EffectiveConfig(
        requests=requests,
        limits=limits,
        cache=values["cache"],
        cache_serialize=values["cache_serialize"],
        cache_version=values["cache_version"],
        retries=values["retries"],
        interruptible=values["interruptible"],
        container_image=values["container_image"],
        environment=MappingProxyType(values["environment"]),
        task_config=MappingProxyType(task_config),
        timeout=values["timeout"],
    )
    return NodeConfig(config, MappingProxyType(provenance), node.hook, task.name)


def _resolve_resources(
    values: dict[str, Any], provenance: dict[str, Source], node: NodeSpec
) -> tuple[ResolvedResources, ResolvedResources]:
    requests, limits = dict(values["requests"]), dict(values["limits"])
    defaults = {"requests": DEFAULT_REQUESTS, "limits": DEFAULT_LIMITS}
    for name in RESOURCE_NAMES:
        req_path, lim_path = f"requests.{name}", f"limits.{name}"
        if name not in requests and name in limits:
            requests[name] = limits[name]
            provenance[req_path] = provenance[lim_path]
        elif name in requests and name not in limits:
            limits[name] = requests[name]
            provenance[lim_path] = provenance[req_path]
        elif name not in requests:
            for kind, bag in (("requests", requests), ("limits", limits)):
                bag[name] = defaults[kind][name]
                provenance[f"{kind}.{name}"] = PLATFORM_DEFAULT
        if requests[name] > limits[name]:
            raise OverrideError(
                f"node {node.path!r}: requests.{name}={format_quantity(name, requests[name])} "
                f"(from {provenance[req_path]}) is above limits.{name}="
                f"{format_quantity(name, limits[name])} (from {provenance[lim_path]})",
                hook=node.hook,
                field=f"resources.requests.{name}",
                fix=f"Raise the limit as well, or use the shorthand {name}=... which sets both.",
            )
    return ResolvedResources(**requests), ResolvedResources(**limits)


def _check_task_config(
    config: dict[str, Any], provenance: dict[str, Source], node: NodeSpec, task: TaskSpec
) -> dict[str, Any]:
    try:
        checked = get_task_type(task.task_type).validate_config(config)
    except TaskConfigError as exc:
        source = provenance.get(exc.field)
        given = f" (set by {source})" if source else ""
        raise OverrideError(
            f"node {node.path!r}: {exc.problem}{given}",
            hook=node.hook,
            field=exc.field,
            fix=exc.fix,
        ) from None
    provenance.pop("task_config.task_type", None)  # the type an override's config object named
    if checked != config:  # the task type filled in defaults: they come with the task's type
        _attribute_leaves(
            checked, "task_config", provenance, Source(Layer.TASK, f"{task.task_type} defaults")
        )
    return checked


def _attribute_leaves(
    tree: Mapping[str, Any], prefix: str, provenance: dict[str, Source], source: Source
) -> None:
    for key, value in tree.items():
        path = f"{prefix}.{key}"
        if isinstance(value, Mapping) and value:
            _attribute_leaves(value, path, provenance, source)
        elif path not in provenance:
            provenance[path] = source
