"""The compiler's input: a traced workflow graph. Plain data, no callables.

The SDK builds these while tracing a workflow function; the compiler turns them into a
flat ``WorkflowSpec``. Nodes refer to each other by object, so a graph of any depth is
walked without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from retune.model import TaskNodeOverrides

if TYPE_CHECKING:  # the specs are pydantic; tracing must not need it loaded
    from retune.model.spec import Interface, Param, TaskSpec


@dataclass(eq=False)
class TracedBinding:
    """An input's source: a workflow ``input``, a node ``output``, a ``literal``, or a ``list``."""

    kind: Literal["input", "output", "literal", "list"]
    name: str | None = None
    node: TracedNode | None = None
    value: Any = None
    type: str = "any"
    items: tuple[TracedBinding, ...] = ()


@dataclass(eq=False)
class OverrideCall:
    """One ``with_overrides(...)`` call; ``overrides`` may still be a raw map."""

    overrides: TaskNodeOverrides | dict[str, Any]
    timeout: float | None
    location: str


@dataclass(eq=False)
class RuntimeOverrideCall:
    """One ``with_runtime_override(name, config)`` call."""

    name: str
    config: TaskNodeOverrides | dict[str, Any] | None
    location: str


@dataclass(eq=False)
class TracedNode:
    """A call inside a workflow function: a task, a mapped task, or a sub-workflow."""

    id: str
    location: str
    inputs: dict[str, TracedBinding]
    outputs: tuple[Param, ...]
    task: TaskSpec | None = None
    workflow: TracedWorkflow | None = None
    is_map: bool = False
    overrides: list[OverrideCall] = field(default_factory=list)
    runtime_overrides: list[RuntimeOverrideCall] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    alias_location: str = ""

    @property
    def label(self) -> str:
        return "sub-workflow" if self.workflow is not None else "task"

    @property
    def input_types(self) -> dict[str, str]:
        if self.workflow is not None:
            return {p.name: p.type for p in self.workflow.interface.inputs}
        assert self.task is not None
        wrap = "list[{}]" if self.is_map else "{}"
        return {p.name: wrap.format(p.type) for p in self.task.interface.inputs}

    @property
    def input_params(self) -> tuple[Param, ...]:
        if self.workflow is not None:
            return self.workflow.interface.inputs
        assert self.task is not None
        return self.task.interface.inputs


@dataclass(eq=False)
class TracedWorkflow:
    name: str
    interface: Interface
    nodes: list[TracedNode]
    outputs: dict[str, TracedBinding]
    location: str
