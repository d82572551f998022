"""``rt.reference_workflow`` and ``rt.reference_task``: registered entities used by name.

Their interface, hooks and tasks come from the registry (the configured store), not from code:
a team calls another team's registered workflow as a sub-workflow, and the parent's hook
defaults and launch-time overrides reach the hooks inside it, because hook names are global
across the flattened graph (the RFC's reason for named hooks). The reference is looked up when
the calling workflow is first compiled; its tasks run from the code bundle they were
registered with.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

from retune.compiler.graph import TracedNode, TracedWorkflow
from retune.errors import CompileError
from retune.model.spec import Interface, TaskSpec, WorkflowSpec
from retune.sdk import tracing
from retune.sdk.location import caller
from retune.sdk.promise import promise_for


class _Reference:
    kind = ""

    def __init__(self, project: str, domain: str, name: str, version: str) -> None:
        self.project, self.domain, self.name, self.version = project, domain, name, version
        self.short_name = name.rsplit(".", 1)[-1]
        self.location = caller(3)

    @cached_property
    def registered(self) -> tuple[Any, str | None]:
        """(spec JSON, bundle) from the configured store."""
        from retune.settings import load
        from retune.store import NotFound, open_store

        store = open_store(load().database_url)
        try:
            found = store.registered(self.kind, self.project, self.domain, self.name, self.version)
        except NotFound as exc:
            raise CompileError(
                f"{self!r} ({self.location}): {exc} Register it first with `retune register`."
            ) from None
        finally:
            store.close()
        return found.spec, found.bundle

    def _bind(self, interface: Interface, args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> Any:
        parameters = [
            inspect.Parameter(
                p.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=p.default if p.has_default else inspect.Parameter.empty,
            )
            for p in interface.inputs
        ]
        try:
            bound = inspect.Signature(parameters).bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise CompileError(f"{where}: calling {self!r}: {exc}.") from None
        return {name: tracing.bind_value(value, where, name) for name, value in bound.arguments.items()}

    def _context(self) -> tracing.TraceContext:
        context = tracing.current()
        if context is None:
            raise CompileError(
                f"{self!r} was called outside a workflow. Call it inside an @rt.workflow, or launch the "
                f"registered entity with `retune launch {self.project}/{self.domain}/{self.name}@{self.version}`."
            )
        return context

    def __repr__(self) -> str:
        return f"reference {self.kind} {self.project}/{self.domain}/{self.name}@{self.version}"


class ReferenceWorkflow(_Reference):
    """A registered workflow, called like a sub-workflow."""

    kind = "workflow"

    @cached_property
    def spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self.registered[0])

    @property
    def interface(self) -> Interface:
        return self.spec.interface

    @property
    def hooks(self) -> list[str]:
        return sorted(self.spec.hooks)

    def trace(self) -> TracedWorkflow:
        from retune.compiler.reference import traced_from_spec

        return traced_from_spec(self.spec, self.registered[1], self.location)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        context = self._context()
        location = caller(2)
        node_id = context.next_sub_id(self.short_name)
        inputs = self._bind(self.interface, args, kwargs, f"Reference workflow node {node_id} ({location})")
        node = TracedNode(
            id=node_id,
            location=location,
            inputs=inputs,
            outputs=self.interface.outputs,
            workflow=self.trace(),
        )
        context.nodes.append(node)
        return promise_for(node)


class ReferenceTask(_Reference):
    """A registered task, called like a task."""

    kind = "task"

    @cached_property
    def spec(self) -> TaskSpec:
        spec = TaskSpec.model_validate(self.registered[0])
        bundle = self.registered[1]
        return (
            spec if spec.bundle is not None or bundle is None else spec.model_copy(update={"bundle": bundle})
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        context = self._context()
        location = caller(2)
        node_id = context.next_task_id()
        inputs = self._bind(self.spec.interface, args, kwargs, f"Node {node_id} ({location})")
        node = TracedNode(
            id=node_id, location=location, inputs=inputs, outputs=self.spec.interface.outputs, task=self.spec
        )
        context.nodes.append(node)
        return promise_for(node)


def reference_workflow(project: str, domain: str, name: str, version: str) -> ReferenceWorkflow:
    """A registered workflow, to call inside a workflow as a sub-workflow. Its interface and hooks
    come from the registry when the calling workflow is compiled."""
    return ReferenceWorkflow(project, domain, name, version)


def reference_task(project: str, domain: str, name: str, version: str) -> ReferenceTask:
    """A registered task, to call inside a workflow. Its interface and config come from the registry."""
    return ReferenceTask(project, domain, name, version)
