"""rt.LaunchPlan.get_or_create: checked against the workflow when created; its own layer."""

from __future__ import annotations

import pytest

import retune as rt
from retune import Layer, Source

from . import flows_sdk as flows


def _plan(name: str, **settings: object) -> rt.LaunchPlan:
    return rt.LaunchPlan.get_or_create(workflow=flows.planned, name=f"test-sdk-{name}", **settings)


def test_same_arguments_return_the_same_launch_plan() -> None:
    first = _plan("same", default_inputs={"x": 5}, runtime_override={"work": {"retries": 9}})
    again = _plan("same", default_inputs={"x": 5}, runtime_override={"work": rt.TaskNodeOverrides(retries=9)})

    assert again is first


def test_other_arguments_under_a_taken_name_are_refused() -> None:
    _plan("taken", default_inputs={"x": 5})

    with pytest.raises(rt.CompileError, match="'test-sdk-taken' already exists with other settings"):
        _plan("taken", default_inputs={"x": 6})


def test_launch_plan_without_settings_is_named_after_its_workflow() -> None:
    plan = rt.LaunchPlan.get_or_create(workflow=flows.planned)

    assert plan.name == flows.planned.name
    assert plan.workflow is flows.planned


def test_launch_plan_with_settings_needs_a_name() -> None:
    with pytest.raises(rt.CompileError, match="needs a name"):
        rt.LaunchPlan.get_or_create(workflow=flows.planned, default_inputs={"x": 1})


def test_runtime_override_for_an_unknown_hook_is_refused_with_did_you_mean() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        _plan("typo", runtime_override={"wrok": {"retries": 9}})

    message = str(caught.value)
    assert caught.value.hook == "wrok"
    assert "Did you mean 'work'?" in message
    assert "Its hooks are: prep, work." in message
    assert "launch plan 'test-sdk-typo'" in message


def test_runtime_override_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(rt.OverrideError, match="Did you mean 'retries'"):
        _plan("field", runtime_override={"work": {"retires": 9}})


def test_runtime_override_that_cannot_be_honoured_is_refused_at_creation() -> None:
    with pytest.raises(rt.OverrideError, match=r"requests.cpu=8 .* is above limits.cpu=2"):
        _plan("above-limit", runtime_override={"work": {"resources": {"requests": {"cpu": 8}}}})


@pytest.mark.parametrize("kind", ["default_inputs", "fixed_inputs"])
def test_inputs_the_workflow_does_not_take_are_refused(kind: str) -> None:
    with pytest.raises(rt.CompileError, match=f"{kind} names 'y'.* Its inputs are: label, x."):
        _plan(f"unknown-{kind}", **{kind: {"y": 1}})


@pytest.mark.parametrize("kind", ["default_inputs", "fixed_inputs"])
def test_inputs_of_the_wrong_type_are_refused(kind: str) -> None:
    with pytest.raises(rt.CompileError, match=rf"{kind}\['x'\]='five' is str, but the workflow input is int"):
        _plan(f"mistyped-{kind}", **{kind: {"x": "five"}})


def test_input_both_default_and_fixed_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="'x' is both a default and a fixed input"):
        _plan("both", default_inputs={"x": 1}, fixed_inputs={"x": 2})


def test_refused_launch_plan_does_not_take_its_name() -> None:
    with pytest.raises(rt.OverrideError):
        _plan("retry", runtime_override={"nope": {"retries": 1}})

    plan = _plan("retry", runtime_override={"prep": {"retries": 2}})

    assert plan.spec.runtime_override == {"prep": rt.TaskNodeOverrides(retries=2)}


def test_resolve_of_a_launch_plan_includes_its_layer_above_the_workflow_defaults() -> None:
    plan = _plan("layer", default_inputs={"x": 5}, runtime_override={"prep": {"retries": 7}})

    with_plan = rt.resolve(plan)["n0"]
    without = rt.resolve(flows.planned)["n0"]

    assert with_plan.config.retries == 7
    assert with_plan.provenance["retries"] == Source(Layer.LAUNCH_PLAN, "test-sdk-layer", "prep")
    assert without.config.retries == 1
    assert without.provenance["retries"] == Source(Layer.WORKFLOW, flows.planned.name, "prep")


def test_execution_overrides_win_over_the_launch_plan() -> None:
    plan = _plan("below-execution", runtime_override={"work": {"retries": 9, "interruptible": True}})

    node = rt.resolve(plan, overrides={"work": {"retries": 0}})["n1"]

    assert node.config.retries == 0
    assert node.provenance["retries"] == Source(Layer.EXECUTION, "preview", "work")
    assert node.config.interruptible is True
    assert node.provenance["interruptible"] == Source(Layer.LAUNCH_PLAN, "test-sdk-below-execution", "work")
