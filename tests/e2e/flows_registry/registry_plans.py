"""A launch plan with a runtime_override, and a workflow using a helper of registry_text.py."""

from __future__ import annotations

from registry_text import exclaim, loud

import retune as rt


@rt.task
def announce(text: str, weights: list[float]) -> str:
    return exclaim(f"{text} {sum(weights):g}", 1)


@rt.workflow
def announced(text: str, weights: list[float]) -> str:
    return announce(text=text, weights=weights).with_runtime_override("announce")


nightly = rt.LaunchPlan.get_or_create(
    workflow=loud,
    name="loud_nightly",
    default_inputs={"times": 3},
    runtime_override={"shout": rt.TaskNodeOverrides(retries=4, environment={"WHEN": "night"})},
)
