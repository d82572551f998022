"""``rt.LaunchPlan``: a workflow with default and fixed inputs and a runtime_override layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from retune.errors import CompileError
from retune.model import TaskNodeOverrides
from retune.model.spec import LaunchPlanSpec
from retune.model.types import is_assignable
from retune.overrides import check_known_hooks, parse_overrides, resolve_workflow
from retune.sdk.location import caller
from retune.sdk.types import type_of_value
from retune.sdk.workflow import Workflow


class LaunchPlan:
    """Created with ``LaunchPlan.get_or_create``; checked against the workflow when created."""

    _known: ClassVar[dict[str, LaunchPlan]] = {}

    def __init__(self, workflow: Workflow[Any, Any], spec: LaunchPlanSpec) -> None:
        self.workflow = workflow
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def get_or_create(
        cls,
        workflow: Workflow[Any, Any],
        name: str | None = None,
        default_inputs: Mapping[str, Any] | None = None,
        fixed_inputs: Mapping[str, Any] | None = None,
        runtime_override: Mapping[str, TaskNodeOverrides | Mapping[str, Any]] | None = None,
    ) -> LaunchPlan:
        """The launch plan ``name`` (default: the workflow's name), created if new.

        Asking again with the same arguments returns the same plan; different arguments
        under a name already taken are refused.
        """
        if name is None and not (default_inputs or fixed_inputs or runtime_override):
            name = workflow.name
        if name is None:
            raise CompileError(
                f"LaunchPlan.get_or_create at {caller()}: a launch plan with settings needs a name."
            )
        origin = f"launch plan {name!r}"
        spec = LaunchPlanSpec(
            name=name,
            workflow=workflow.name,
            default_inputs=dict(default_inputs or {}),
            fixed_inputs=dict(fixed_inputs or {}),
            runtime_override=parse_overrides(runtime_override, origin=origin),
        )
        known = cls._known.get(name)
        if known is not None:
            if known.workflow is workflow and known.spec == spec:
                return known
            raise CompileError(
                f"A launch plan named {name!r} already exists with other settings. "
                "Give this one another name."
            )
        compiled = workflow.compile()
        _check_inputs(workflow, spec)
        check_known_hooks(spec.runtime_override, compiled.spec.hooks, workflow=workflow.name, origin=origin)
        resolve_workflow(compiled.spec, launch_plan=spec)  # refuse what cannot be honoured, now
        plan = cls(workflow, spec)
        cls._known[name] = plan
        return plan

    def __repr__(self) -> str:
        return f"LaunchPlan({self.name} -> {self.workflow.name})"


def _check_inputs(workflow: Workflow[Any, Any], spec: LaunchPlanSpec) -> None:
    params = {p.name: p for p in workflow.interface.inputs}
    both = sorted(set(spec.default_inputs) & set(spec.fixed_inputs))
    if both:
        raise CompileError(
            f"Launch plan {spec.name!r}: {both[0]!r} is both a default and a fixed input; keep one."
        )
    for kind, values in (
        ("default_inputs", spec.default_inputs),
        ("fixed_inputs", spec.fixed_inputs),
    ):
        for key, value in values.items():
            if key not in params:
                raise CompileError(
                    f"Launch plan {spec.name!r}: {kind} names {key!r}, which workflow {workflow.name!r} "
                    f"does not take. Its inputs are: {', '.join(sorted(params)) or 'none'}."
                )
            given = type_of_value(value)
            if not is_assignable(given, params[key].type):
                raise CompileError(
                    f"Launch plan {spec.name!r}: {kind}[{key!r}]={value!r} is {given}, "
                    f"but the workflow input is {params[key].type}."
                )
