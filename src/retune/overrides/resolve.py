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

What the workflow alone decides is worked out once per spec object and kept while the spec
lives: the final config of every node without a hook (nodes that share a task and a chain of
``with_overrides`` share one), and each hooked node's draft after layers 1-3. A resolve then
merges layers 4-5 onto a copy of each hooked node's draft and finishes it: its cost grows with
the hooked nodes, not with the workflow (decision 0029).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, cast

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
_RESOURCE_PATHS: Final = tuple((name, f"requests.{name}", f"limits.{name}") for name in RESOURCE_NAMES)


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
    static = _static(workflow)
    resolved = dict(static.resolved)  # in node order; a hooked node's entry is set below
    lp_overrides = launch_plan.runtime_override if launch_plan else {}
    lp_name = launch_plan.name if launch_plan else ""
    for node, hook, task, base in static.hooked:
        draft = base.copy()
        planned = lp_overrides.get(hook)
        if planned:
            _apply(draft, planned, Source(Layer.LAUNCH_PLAN, lp_name, hook), node)
        given = overrides.get(hook)
        if given:
            _apply(draft, given, Source(Layer.EXECUTION, execution, hook), node)
        resolved[node.path] = _finish(draft, node, task)
    return cast(dict[str, NodeConfig], resolved)  # every hooked node's None was replaced


class _Static:
    """What the workflow alone decides (layers 1-3), worked out once per spec object.

    ``resolved`` holds every task node in order, with its final config when it has no hook (a
    launch cannot change it) and ``None`` when it has one; ``hooked`` holds each hooked node, its
    hook, its task and its draft after layers 1-3 and the built-in defaults (a later layer
    replaces a default as it replaces any value, so filling them early changes nothing).
    """

    __slots__ = ("hooked", "resolved")

    def __init__(
        self,
        resolved: dict[str, NodeConfig | None],
        hooked: tuple[tuple[NodeSpec, str, TaskSpec, Draft], ...],
    ) -> None:
        self.resolved = resolved
        self.hooked = hooked


_STATIC: Final[dict[int, tuple[weakref.ref[WorkflowSpec], _Static]]] = {}
"""id(spec) -> (the spec, its static part). Specs are immutable and reused: ``rt.compile`` caches
its spec on the workflow, the control plane caches parsed specs by content hash. An entry goes
when its spec does (weakref callback), so a new spec at a reused id never meets a stale entry."""


def _static(workflow: WorkflowSpec) -> _Static:
    key = id(workflow)
    found = _STATIC.get(key)
    if found is not None and found[0]() is workflow:
        return found[1]
    static = _layers_1_to_3(workflow)  # raises for a node its own layers make invalid: not kept
    _STATIC[key] = (weakref.ref(workflow, lambda _gone: _STATIC.pop(key, None)), static)
    return static


def _layers_1_to_3(workflow: WorkflowSpec) -> _Static:
    """Nodes without a hook that share a task and a chain of ``with_overrides`` share one result."""
    bases: dict[tuple[str, int], Draft] = {}
    finished: dict[tuple[str, int], NodeConfig] = {}
    resolved: dict[str, NodeConfig | None] = {}
    hooked: list[tuple[NodeSpec, str, TaskSpec, Draft]] = []
    for node in workflow.nodes:
        task = workflow.tasks[node.task]
        key = (node.task, id(node.overrides))
        base = bases.get(key)
        if base is None:
            base = bases[key] = _base(node, task)
        hook = node.hook
        if hook is None:
            config = finished.get(key)
            if config is None:
                config = finished[key] = _finish(base.copy(), node, task)
            resolved[node.path] = config
            continue
        draft = base.copy()
        for default in workflow.hooks[hook].defaults:
            _apply(draft, default.overrides, Source(Layer.WORKFLOW, default.workflow, hook), node)
        resolved[node.path] = None
        hooked.append((node, hook, task, draft))
    return _Static(resolved, tuple(hooked))


def _base(node: NodeSpec, task: TaskSpec) -> Draft:
    """Layers 1-2 (``LAYERS[:2]``): the task's config, then ``with_overrides``, inner to outer;
    then the built-in defaults, from the task, for what neither set (a later layer replaces a
    default as it replaces any value)."""
    draft = Draft.empty()
    task_source = Source(Layer.TASK, task.name)
    layers = [(task.config, task_source, task.timeout)]
    layers += [
        (entry.overrides, Source(Layer.NODE, entry.workflow), entry.timeout) for entry in node.overrides
    ]
    for layer_overrides, source, timeout in layers:
        _apply(draft, layer_overrides, source, node)
        if timeout is not None:
            replace(draft, "timeout", timeout, source)
    for field, default in _BUILT_IN.items():
        if field not in draft.provenance:
            replace(draft, field, default, task_source)
    return draft


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


def _finish(draft: Draft, node: NodeSpec, task: TaskSpec) -> NodeConfig:
    """Steps 6-7 on a draft of every layer (built-ins filled); the draft becomes the result's."""
    values, provenance = draft.values, draft.provenance
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
    for name, req_path, lim_path in _RESOURCE_PATHS:
        if name not in requests:
            if name in limits:
                requests[name] = limits[name]
                provenance[req_path] = provenance[lim_path]
            else:
                requests[name], limits[name] = DEFAULT_REQUESTS[name], DEFAULT_LIMITS[name]
                provenance[req_path] = provenance[lim_path] = PLATFORM_DEFAULT
        elif name not in limits:
            limits[name] = requests[name]
            provenance[lim_path] = provenance[req_path]
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
