"""The compiler's result as users see it: ``rt.compile(wf).hooks`` and the flat spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from retune.model import TaskNodeOverrides
from retune.model.spec import HookDefault, NodeSpec, WorkflowSpec
from retune.overrides import combine


@dataclass(frozen=True)
class Hook:
    """A named hook: the node(s) it is on, their task, where declared, its defaults."""

    name: str
    nodes: tuple[str, ...]
    task: str
    declared_at: str
    defaults: tuple[HookDefault, ...]

    @property
    def default(self) -> TaskNodeOverrides:
        """The defaults from workflow code merged, outer workflow winning."""
        return combine(*(d.overrides for d in self.defaults))


@dataclass(frozen=True)
class CompiledWorkflow:
    spec: WorkflowSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        return self.spec.nodes

    @cached_property
    def hooks(self) -> Mapping[str, Hook]:
        """Hook name -> ``Hook``, sorted by name."""
        return {
            name: Hook(h.name, h.nodes, h.task, h.declared_at, h.defaults)
            for name, h in sorted(self.spec.hooks.items())
        }
