"""rt.map_task: one node of kind "map" whose hook covers every mapped item."""

from __future__ import annotations

import pytest

import retune as rt
from retune import Layer, Source

from . import flows_sdk as flows


def test_hook_on_a_map_task_covers_the_one_map_node() -> None:
    compiled = rt.compile(flows.squares)
    (node,) = compiled.nodes

    assert (node.path, node.kind, node.hook, node.task) == ("n0", "map", "square", flows.square.name)
    assert compiled.hooks["square"].nodes == ("n0",)


def test_hook_on_a_map_task_resolves_like_any_hook() -> None:
    resolved = rt.resolve(flows.squares, overrides={"square": {"retries": 3}})["n0"]

    assert resolved.config.requests.cpu == resolved.config.limits.cpu == 2.0
    assert resolved.provenance["requests.cpu"] == Source(Layer.WORKFLOW, flows.squares.name, "square")
    assert resolved.config.retries == 3
    assert resolved.provenance["retries"] == Source(Layer.EXECUTION, "preview", "square")


def test_map_task_outputs_are_lists() -> None:
    assert [n.kind for n in rt.compile(flows.sum_of_squares).nodes] == ["map", "task"]
    with pytest.raises(rt.CompileError, match=r"output 'o0' is list\[int\]"):
        rt.compile(flows.map_output_into_scalar)


def test_map_task_takes_a_list_of_promises() -> None:
    binding = rt.compile(flows.squares_of_promises).nodes[-1].inputs["x"]

    assert binding.kind == "list"
    assert [item.node for item in binding.items] == ["n0", "n1"]


def test_map_task_over_a_list_of_text_is_refused_for_an_int_input() -> None:
    with pytest.raises(
        rt.CompileError, match=r"expects list\[int\], but workflow input 'words' is list\[str\]"
    ):
        rt.compile(flows.map_over_text)
    with pytest.raises(
        rt.CompileError, match=r"expects list\[int\], but the literal \['a', 'b'\] is list\[str\]"
    ):
        rt.compile(flows.map_over_text_literal)


def test_map_task_outside_a_workflow_runs_the_function_per_item() -> None:
    assert rt.map_task(flows.square)(x=[1, 2, 3]) == [1, 4, 9]


def test_map_task_of_something_else_than_a_task_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="map_task takes a @task"):
        rt.map_task(flows.with_default)
