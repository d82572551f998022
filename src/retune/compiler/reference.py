"""A registered (flat) ``WorkflowSpec`` as the compiler's input type, so that a reference
workflow is compiled exactly like a sub-workflow: its nodes get paths under the call site,
its hooks join the global hook table (aliases and duplicate checks included), and a parent's
``with_runtime_override`` on the reference node sets defaults of hooks inside it.

What the registered spec recorded comes along: each node's ``with_overrides`` chain (layer 2)
and each hook's defaults (layer 3, now attributed to the reference workflow), and every task
carries the code bundle it was registered with, so workers import it from there.
"""

from __future__ import annotations

from retune.compiler.graph import (
    OverrideCall,
    RuntimeOverrideCall,
    TracedBinding,
    TracedNode,
    TracedWorkflow,
)
from retune.model.spec import Binding, TaskSpec, WorkflowSpec


def traced_from_spec(spec: WorkflowSpec, bundle: str | None, location: str) -> TracedWorkflow:
    """The traced form of a registered workflow whose code lives in ``bundle``."""
    tasks = {name: _with_bundle(task, bundle) for name, task in spec.tasks.items()}
    hook_of = {node: hook for hook, h in spec.hooks.items() for node in h.nodes}
    traced: dict[str, TracedNode] = {}
    nodes: list[TracedNode] = []
    for node in spec.nodes:  # in graph order: every binding's node is traced before its users
        task = tasks[node.task]
        outputs = task.interface.outputs
        if node.kind == "map":
            outputs = tuple(p.model_copy(update={"type": f"list[{p.type}]"}) for p in outputs)
        calls = []
        hook = hook_of.get(node.path)
        if hook is not None:
            defaults = spec.hooks[hook].defaults
            calls = [RuntimeOverrideCall(hook, d.overrides, d.location or location) for d in defaults]
            calls = calls or [RuntimeOverrideCall(hook, None, spec.hooks[hook].declared_at or location)]
        traced[node.path] = TracedNode(
            id=node.path.replace("/", "-"),
            location=node.location or location,
            inputs={name: _binding(b, traced, spec) for name, b in node.inputs.items()},
            outputs=outputs,
            task=task,
            is_map=node.kind == "map",
            overrides=[OverrideCall(o.overrides, o.timeout, o.location) for o in node.overrides],
            runtime_overrides=calls,
        )
        nodes.append(traced[node.path])
    return TracedWorkflow(
        name=spec.name,
        interface=spec.interface,
        nodes=nodes,
        outputs={name: _binding(b, traced, spec) for name, b in spec.outputs.items()},
        location=spec.location or location,
    )


def _binding(binding: Binding, traced: dict[str, TracedNode], spec: WorkflowSpec) -> TracedBinding:
    if binding.kind == "list":
        return TracedBinding("list", items=tuple(_binding(b, traced, spec) for b in binding.items))
    if binding.kind == "input":
        param = spec.interface.input(binding.name or "")
        return TracedBinding("input", name=binding.name, type=param.type if param else "any")
    if binding.kind == "output":
        node = traced[binding.node or ""]
        output = next((p for p in node.outputs if p.name == binding.name), None)
        return TracedBinding("output", name=binding.name, node=node, type=output.type if output else "any")
    return TracedBinding("literal", value=binding.value)


def _with_bundle(task: TaskSpec, bundle: str | None) -> TaskSpec:
    if task.bundle is not None or bundle is None:
        return task
    return task.model_copy(update={"bundle": bundle})
