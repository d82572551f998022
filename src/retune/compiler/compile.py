"""Traced graph -> flat ``WorkflowSpec``, in numbered phases.

1. Walk the graph depth first with an explicit stack (no recursion, so a 20,000-node chain
   or deep nesting never meets Python's recursion limit). For each workflow, once:
   type-check every binding, naming both nodes of a mismatch.
2. Flatten: each task node gets a stable path (``sub/n0``); a binding to a sub-workflow's
   input or output is replaced by the binding it stands for; ``with_overrides`` of a node
   and of its enclosing sub-workflow nodes become its layer-2 chain, inner to outer.
3. Hooks: each hook's final name applies the ``with_hook_aliases`` of every enclosing call
   site; a name seen twice is an error naming both call sites. Hook defaults are collected
   inner workflow to outer; a default for a name not inside a sub-workflow is an error
   listing the hooks that are.
4. Emit the spec, with the task specs it uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retune.compiler.graph import OverrideCall, TracedBinding, TracedNode, TracedWorkflow
from retune.errors import CompileError, OverrideError
from retune.model import TaskNodeOverrides
from retune.model.spec import (
    Binding,
    HookDefault,
    HookSpec,
    NodeOverride,
    NodeSpec,
    TaskSpec,
    WorkflowSpec,
)
from retune.model.types import element_type, is_assignable
from retune.overrides import HOOK_NAME, parse_overrides
from retune.overrides.validate import HOOK_NAME_RULE

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


@dataclass(eq=False)
class _Frame:
    """One occurrence of a workflow in the flattened graph."""

    workflow: TracedWorkflow
    prefix: str
    inputs: dict[str, Binding]
    chain: tuple[NodeOverride, ...]
    aliases: tuple[Mapping[str, str], ...]
    via: str
    call: TracedNode | None = None
    index: int = 0
    outputs_of: dict[int, dict[str, Binding]] = field(default_factory=dict)
    ids: dict[str, TracedNode] = field(default_factory=dict)
    hooks_here: dict[str, str] = field(default_factory=dict)

    def final_name(self, name: str) -> str:
        for aliases in self.aliases:
            name = aliases.get(name, name)
        return name


@dataclass(eq=False)
class _Hook:
    name: str
    path: str
    task: str
    declared_at: str
    defaults: list[HookDefault]


def compile_workflow(root: TracedWorkflow) -> WorkflowSpec:
    """The flat, type-checked spec of ``root``; raises ``CompileError`` or ``OverrideError``."""
    compiler = _Compiler()
    return compiler.run(root)


class _Compiler:
    def __init__(self) -> None:
        self.nodes: list[NodeSpec] = []
        self.tasks: dict[str, TaskSpec] = {}
        self.hooks: dict[str, _Hook] = {}
        self.checked: set[int] = set()

    def run(self, root: TracedWorkflow) -> WorkflowSpec:
        inputs = {p.name: Binding(kind="input", name=p.name) for p in root.interface.inputs}
        stack = [_Frame(root, "", inputs, (), (), via="")]
        outputs: dict[str, Binding] = {}
        while stack:
            frame = stack[-1]
            if frame.index == 0 and id(frame.workflow) not in self.checked:
                self.checked.add(id(frame.workflow))
                _type_check(frame.workflow, frame.prefix)
            if frame.index < len(frame.workflow.nodes):
                node = frame.workflow.nodes[frame.index]
                frame.index += 1
                child = self.visit(frame, node)
                if child is not None:
                    stack.append(child)
                continue
            stack.pop()
            done = {name: self.flat(frame, b) for name, b in frame.workflow.outputs.items()}
            if not stack:
                outputs = done
            else:
                self.finish_sub_workflow(stack[-1], frame, done)
        hooks = {
            name: HookSpec(
                name=name,
                nodes=(h.path,),
                task=h.task,
                declared_at=h.declared_at,
                defaults=tuple(h.defaults),
            )
            for name, h in self.hooks.items()
        }
        return WorkflowSpec(
            name=root.name,
            interface=root.interface,
            nodes=tuple(self.nodes),
            outputs=outputs,
            hooks=hooks,
            tasks=self.tasks,
            location=root.location,
        )

    # -- phase 2: flatten ------------------------------------------------------------------

    def visit(self, frame: _Frame, node: TracedNode) -> _Frame | None:
        self.claim_id(frame, node)
        inputs = {name: self.flat(frame, b) for name, b in node.inputs.items()}
        own = tuple(self.node_override(frame, call) for call in node.overrides)
        chain = own + frame.chain if own else frame.chain
        if node.workflow is not None:
            for param in node.workflow.interface.inputs:
                if param.name not in inputs and param.has_default:
                    inputs[param.name] = Binding(kind="literal", value=param.default)
            for target in node.aliases.values():
                _check_hook_name(target, node.alias_location)
            aliases = (node.aliases, *frame.aliases) if node.aliases else frame.aliases
            via = f", in {node.workflow.name} called at {node.location}{frame.via}"  # inner first
            return _Frame(node.workflow, f"{frame.prefix}{node.id}/", inputs, chain, aliases, via, node)
        assert node.task is not None
        path = frame.prefix + node.id
        self.add_task(node.task, path)
        hook = self.declare_hook(frame, node, path)
        self.nodes.append(
            NodeSpec(
                path=path,
                task=node.task.name,
                kind="map" if node.is_map else "task",
                inputs=inputs,
                hook=hook,
                overrides=chain,
                location=node.location,
            )
        )
        frame.outputs_of[id(node)] = {
            p.name: Binding(kind="output", node=path, name=p.name) for p in node.outputs
        }
        return None

    def claim_id(self, frame: _Frame, node: TracedNode) -> None:
        """Node ids are unique within their workflow (``with_overrides(name=)`` may collide)."""
        if not NODE_ID.match(node.id):
            raise CompileError(
                f"Node name {node.id!r} at {node.location} is not valid. Use 1-63 letters, digits, "
                "'-' or '_', starting with a letter or digit (no '/': it separates sub-workflow paths)."
            )
        other = frame.ids.setdefault(node.id, node)
        if other is not node:
            raise CompileError(
                f"Two nodes of workflow {frame.workflow.name!r} are both named {frame.prefix}{node.id}: "
                f"{other.location} and {node.location}. Give one of them another name with "
                "with_overrides(name=...)."
            )

    def flat(self, frame: _Frame, binding: TracedBinding) -> Binding:
        if binding.kind == "input":
            assert binding.name is not None
            return frame.inputs[binding.name]
        if binding.kind == "output":
            assert binding.node is not None and binding.name is not None
            return frame.outputs_of[id(binding.node)][binding.name]
        if binding.kind == "list":
            return Binding(kind="list", items=tuple(self.flat(frame, item) for item in binding.items))
        return Binding(kind="literal", value=binding.value)

    def node_override(self, frame: _Frame, call: OverrideCall) -> NodeOverride:
        overrides = _parse_config(call.overrides, None, call.location)
        return NodeOverride(
            workflow=frame.workflow.name,
            overrides=overrides,
            timeout=call.timeout,
            location=call.location,
        )

    def add_task(self, task: TaskSpec, path: str) -> None:
        known = self.tasks.setdefault(task.name, task)
        if known is not task and known != task:
            raise CompileError(
                f"Two different tasks are named {task.name!r}: one at {known.location} and one at "
                f"{task.location} (used by node {path!r}). Rename one of them."
            )

    # -- phase 3: hooks --------------------------------------------------------------------

    def declare_hook(self, frame: _Frame, node: TracedNode, path: str) -> str | None:
        if not node.runtime_overrides:
            return None
        names = {call.name for call in node.runtime_overrides}
        first = node.runtime_overrides[0]
        if len(names) > 1:
            raise CompileError(
                f"Node {path!r} ({first.location}) is given two hooks, {', '.join(sorted(map(repr, names)))}. "
                "A task node carries one hook: keep one name."
            )
        local = _check_hook_name(first.name, first.location)
        name = frame.final_name(local)
        where = f"{first.location}{frame.via}"
        if name in self.hooks:
            other = self.hooks[name]
            alias = (
                f', or alias it where its sub-workflow is called with .with_hook_aliases({local}="{name}-b")'
                if frame.via or other.declared_at != other.declared_at.split(",")[0]
                else ""
            )
            raise CompileError(
                f"Hook {name!r} is declared twice: on task {other.task!r} at {other.path} "
                f"({other.declared_at}) and on task {node.task.name if node.task else '?'!r} at {path} "
                f"({where}). "
                f"Give one of them another name{alias}."
            )
        defaults = [
            HookDefault(
                workflow=frame.workflow.name,
                overrides=_parse_config(call.config, name, call.location),
                location=call.location,
            )
            for call in node.runtime_overrides
            if call.config is not None
        ]
        assert node.task is not None
        self.hooks[name] = _Hook(name, path, node.task.name, where, defaults)
        frame.hooks_here[local] = name
        return name

    def finish_sub_workflow(self, parent: _Frame, child: _Frame, outputs: dict[str, Binding]) -> None:
        call = child.call
        assert call is not None and call.workflow is not None
        parent.outputs_of[id(call)] = outputs
        inside = child.hooks_here
        for inner in call.aliases:
            if inner not in inside:
                raise CompileError(
                    f"with_hook_aliases at {call.alias_location} renames {inner!r}, but sub-workflow "
                    f"{call.workflow.name!r} has no hook {inner!r}. {_hooks_inside(call.workflow.name, inside)}"
                )
        visible = {call.aliases.get(inner, inner): final for inner, final in inside.items()}
        parent.hooks_here.update(visible)
        for ro in call.runtime_overrides:
            if ro.name not in visible:
                renamed = (
                    f" It is renamed {call.aliases[ro.name]!r} at this call site."
                    if ro.name in call.aliases
                    else ""
                )
                raise CompileError(
                    f"with_runtime_override({ro.name!r}) at {ro.location} is on sub-workflow "
                    f"{call.workflow.name!r}, which has no hook {ro.name!r}.{renamed} "
                    f"{_hooks_inside(call.workflow.name, visible)}"
                )
            if ro.config is not None:
                final = visible[ro.name]
                self.hooks[final].defaults.append(
                    HookDefault(
                        workflow=parent.workflow.name,
                        overrides=_parse_config(ro.config, final, ro.location),
                        location=ro.location,
                    )
                )


# -- phase 1: type checks ------------------------------------------------------------------


def _type_check(workflow: TracedWorkflow, prefix: str) -> None:
    inputs = {p.name: p.type for p in workflow.interface.inputs}
    for node in workflow.nodes:
        wanted = node.input_types
        for name, binding in node.inputs.items():
            if name not in wanted:
                raise CompileError(
                    f"Node {prefix}{node.id} ({node.location}) passes {name!r}, which {node.label} "
                    f"{_target_name(node)!r} does not take. Its inputs are: {', '.join(sorted(wanted)) or 'none'}."
                )
            _check_binding(binding, wanted[name], inputs, prefix, node, name)
        for param in node.input_params:
            if param.name not in node.inputs and not param.has_default:
                raise CompileError(
                    f"Node {prefix}{node.id} ({node.location}) does not pass input {param.name!r} "
                    f"({param.type}) of {node.label} {_target_name(node)!r}. Pass it as {param.name}=..."
                )
    outputs = {p.name: p.type for p in workflow.interface.outputs}
    for name, binding in workflow.outputs.items():
        if name in outputs:
            source = _binding_type(binding, inputs)
            if not is_assignable(source, outputs[name]):
                raise CompileError(
                    f"Workflow {workflow.name!r} ({workflow.location}) returns {_describe(binding, prefix)} "
                    f"of type {source} as output {name!r}, declared {outputs[name]}. Fix the return annotation."
                )


def _check_binding(
    binding: TracedBinding,
    target: str,
    inputs: dict[str, str],
    prefix: str,
    node: TracedNode,
    name: str,
) -> None:
    if binding.kind == "list":
        item_type = element_type(target)
        if item_type is None and target != "any":
            raise CompileError(
                f"Node {prefix}{node.id} ({node.location}) input {name!r} expects {target}, "
                "but is given a list. Pass a single value."
            )
        for item in binding.items:
            _check_binding(item, item_type or "any", inputs, prefix, node, name)
        return
    source = _binding_type(binding, inputs)
    if not is_assignable(source, target):
        raise CompileError(
            f"Node {prefix}{node.id} ({node.location}) input {name!r} expects {target}, but "
            f"{_describe(binding, prefix)} is {source}. Convert the value in a task, or fix the annotation."
        )


def _binding_type(binding: TracedBinding, inputs: dict[str, str]) -> str:
    if binding.kind == "input":
        assert binding.name is not None
        return inputs[binding.name]
    if binding.kind == "output":
        assert binding.node is not None
        return next(p.type for p in binding.node.outputs if p.name == binding.name)
    return binding.type


def _describe(binding: TracedBinding, prefix: str) -> str:
    if binding.kind == "input":
        return f"workflow input {binding.name!r}"
    if binding.kind == "output":
        assert binding.node is not None
        return f"node {prefix}{binding.node.id} ({binding.node.location}) output {binding.name!r}"
    return f"the literal {binding.value!r}"


def _target_name(node: TracedNode) -> str:
    if node.workflow is not None:
        return node.workflow.name
    assert node.task is not None
    return node.task.name


def _check_hook_name(name: str, location: str) -> str:
    if not HOOK_NAME.match(name):
        raise CompileError(f"Hook name {name!r} at {location} is not valid. {HOOK_NAME_RULE}")
    return name


def _hooks_inside(workflow: str, hooks: Mapping[str, str]) -> str:
    if not hooks:
        return f"{workflow!r} has no hooks."
    return f"Hooks inside {workflow!r}: {', '.join(sorted(hooks))}."


def _parse_config(config: Any, hook: str | None, location: str) -> TaskNodeOverrides:
    if isinstance(config, TaskNodeOverrides):
        return config
    try:
        return parse_overrides({hook or "node": config}, origin=location)[hook or "node"]
    except OverrideError as exc:
        if hook is None:
            raise OverrideError(exc.problem, field=exc.field, origin=location, fix=exc.fix) from None
        raise


__all__ = ["compile_workflow"]
