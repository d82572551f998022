"""@rt.workflow: tracing builds the graph on first compile; inputs, literals, recursion."""

from __future__ import annotations

import pytest

import retune as rt

from . import flows_sdk as flows


def test_default_workflow_inputs_are_part_of_the_interface() -> None:
    (param,) = rt.compile(flows.with_default).spec.interface.inputs

    assert (param.name, param.type, param.has_default, param.default) == ("x", "int", True, 3)


def test_sub_workflow_called_without_an_input_gets_its_default() -> None:
    (node,) = rt.compile(flows.calls_with_default).nodes

    assert node.path == "with_default/n0"
    assert (node.inputs["x"].kind, node.inputs["x"].value) == ("literal", 3)


def test_literals_passed_to_tasks_are_bound_as_literals() -> None:
    first, second = rt.compile(flows.literals).nodes

    assert {k: (b.kind, b.value) for k, b in first.inputs.items()} == {
        "a": ("literal", 1),
        "b": ("literal", 5),
    }
    assert (second.inputs["a"].kind, second.inputs["a"].node) == ("output", "n0")
    assert "b" not in second.inputs  # the task's own default applies when it runs


def test_positional_arguments_bind_to_the_parameters_in_order() -> None:
    first, second = rt.compile(flows.positional).nodes

    assert (first.inputs["x"].kind, first.inputs["x"].name) == ("input", "x")
    assert (second.inputs["a"].kind, second.inputs["a"].node) == ("output", "n0")
    assert (second.inputs["b"].kind, second.inputs["b"].value) == ("literal", 7)


def test_calling_a_workflow_outside_a_workflow_is_refused_with_how_to_run_it() -> None:
    with pytest.raises(rt.CompileError, match=r"called directly\. Run it with rt\.run\(with_default"):
        flows.with_default(x=1)


def test_workflow_calling_itself_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="calls itself"):
        rt.compile(flows.calls_itself)


def test_workflows_calling_each_other_are_refused() -> None:
    with pytest.raises(rt.CompileError, match="calls itself"):
        rt.compile(flows.ping)


def test_failed_trace_can_be_retried_and_fails_the_same_way() -> None:
    for _ in range(2):
        with pytest.raises(rt.CompileError, match="calls itself"):
            rt.compile(flows.calls_itself)


def test_calling_a_sub_workflow_with_an_input_it_does_not_take_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="unexpected keyword argument 'y'"):
        rt.compile(flows.unknown_sub_workflow_input)


def test_returning_a_value_without_a_return_annotation_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="declares no return type"):
        rt.compile(flows.no_return_annotation)


def test_returning_fewer_values_than_declared_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="returns 1 values but declares 2 outputs"):
        rt.compile(flows.too_few_values)


def test_branching_on_a_promise_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="used as a condition"):
        rt.compile(flows.promise_as_condition)
