"""In-process verbs behind ``rt.compile`` and ``rt.resolve``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retune.compiler.compiled import CompiledWorkflow
from retune.model import NodeConfig, TaskNodeOverrides
from retune.overrides import parse_overrides, resolve_workflow
from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.workflow import Workflow

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


def _workflow(target: object) -> Workflow[Any, Any]:
    if isinstance(target, Workflow):
        return target
    raise TypeError(f"Expected a @workflow or a LaunchPlan, got {target!r}.")
