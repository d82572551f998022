"""Promises: outputs, with_overrides (layer 2), with_runtime_override and with_hook_aliases."""

from __future__ import annotations

import pytest

import retune as rt
from retune import Layer, Source

from . import flows_sdk as flows

GiB = 2**30


# -- outputs -------------------------------------------------------------------------------


def test_tuple_outputs_unpack_into_separate_promises() -> None:
    compiled = rt.compile(flows.unpacked)
    _, number, text = compiled.nodes

    assert (number.inputs["x"].node, number.inputs["x"].name) == ("n0", "o0")
    assert (text.inputs["text"].node, text.inputs["text"].name) == ("n0", "o1")
    assert [p.type for p in compiled.spec.interface.outputs] == ["int", "str"]


def test_named_tuple_outputs_keep_their_field_names() -> None:
    compiled = rt.compile(flows.named_outputs)

    assert (compiled.nodes[1].inputs["x"].node, compiled.nodes[1].inputs["x"].name) == ("n0", "count")
    assert (compiled.spec.outputs["o0"].node, compiled.spec.outputs["o0"].name) == ("n0", "mean")


def test_outputs_are_typed_one_by_one() -> None:
    with pytest.raises(rt.CompileError, match="output 'o1' is str"):
        rt.compile(flows.text_into_number)
    with pytest.raises(rt.CompileError, match="output 'mean' is float"):
        rt.compile(flows.mean_into_int)


def test_workflow_may_return_all_outputs_of_a_node() -> None:
    outputs = rt.compile(flows.both_outputs).spec.outputs

    assert {k: (b.node, b.name) for k, b in outputs.items()} == {"o0": ("n0", "o0"), "o1": ("n0", "o1")}


def test_several_outputs_passed_as_one_value_are_refused() -> None:
    with pytest.raises(rt.CompileError, match=r"a call with 2 outputs\. Unpack it first"):
        rt.compile(flows.tuple_into_task)


def test_hook_on_a_node_whose_outputs_are_unused() -> None:
    hooks = rt.compile(flows.unused_outputs).hooks
    node = rt.resolve(flows.unused_outputs)["n0"]

    assert hooks["split"].nodes == ("n0",)
    assert node.config.retries == 2
    assert node.provenance["retries"] == Source(Layer.WORKFLOW, flows.unused_outputs.name, "split")


def test_hook_on_a_task_without_outputs() -> None:
    compiled = rt.compile(flows.void_node)

    assert compiled.hooks["log"].nodes == ("n0",)
    assert compiled.spec.outputs == {}
    assert rt.resolve(flows.void_node, overrides={"log": {"retries": 3}})["n0"].config.retries == 3


def test_result_of_a_task_without_outputs_cannot_be_passed_on() -> None:
    with pytest.raises(rt.CompileError, match="a call with no outputs"):
        rt.compile(flows.void_into_task)


# -- with_overrides ------------------------------------------------------------------------


def test_with_overrides_takes_flytes_arguments_and_applies_them_at_the_node_layer() -> None:
    (node,) = rt.compile(flows.every_override).nodes
    resolved = rt.resolve(flows.every_override)["tuned-work"]
    config, here = resolved.config, Source(Layer.NODE, flows.every_override.name)

    assert node.path == "tuned-work"
    assert (config.requests.cpu, config.limits.cpu, config.limits.mem) == (3.0, 4.0, 4 * GiB)
    assert config.requests.mem == GiB  # the task's, not named by with_overrides
    assert config.retries == 0
    assert config.timeout == 300.0
    assert config.interruptible is True
    assert config.container_image == "python:3.11"
    assert (config.cache, config.cache_version, config.cache_serialize) == (True, "2", True)
    assert dict(config.environment) == {"A": "node", "B": "task"}
    for field in (
        "requests.cpu",
        "limits.mem",
        "retries",
        "timeout",
        "interruptible",
        "container_image",
        "cache_version",
        "cache_serialize",
        "environment.A",
    ):
        assert resolved.provenance[field] == here, field
    assert resolved.provenance["requests.mem"] == Source(Layer.TASK, flows.work.name)
    assert resolved.provenance["environment.B"] == Source(Layer.TASK, flows.work.name)


def test_with_overrides_task_config_merges_into_the_tasks_config() -> None:
    resolved = rt.resolve(flows.sql_override)["n0"]

    assert resolved.config.task_config["cluster"] == "small"
    assert resolved.config.task_config["threads"] == 4
    assert resolved.provenance["task_config.threads"] == Source(Layer.NODE, flows.sql_override.name)


def test_hook_default_beats_with_overrides_on_the_same_node() -> None:
    resolved = rt.resolve(flows.override_then_hook)["n0"]

    assert resolved.config.retries == 6
    assert resolved.provenance["retries"] == Source(Layer.WORKFLOW, flows.override_then_hook.name, "work")


def test_with_overrides_and_with_runtime_override_chain_in_any_order() -> None:
    resolved = rt.resolve(flows.chained)["n0"]

    assert resolved.hook == "prep"
    assert resolved.config.retries == 4
    assert resolved.config.interruptible is True
    assert resolved.provenance["interruptible"] == Source(Layer.NODE, flows.chained.name)


def test_with_overrides_of_an_enclosing_sub_workflow_node_wins_over_the_inner_one() -> None:
    resolved = rt.resolve(flows.outer_overrides)["inner_overrides/n0"]
    inner, outer = flows.inner_overrides.name, flows.outer_overrides.name

    assert resolved.config.retries == 7
    assert resolved.provenance["retries"] == Source(Layer.NODE, outer)
    assert dict(resolved.config.environment) == {"A": "outer", "B": "task", "C": "inner"}
    assert resolved.provenance["environment.A"] == Source(Layer.NODE, outer)
    assert resolved.provenance["environment.C"] == Source(Layer.NODE, inner)


def test_with_overrides_on_a_sub_workflow_node_reaches_every_task_node_inside() -> None:
    resolved = rt.resolve(flows.outermost_overrides)
    outermost = Source(Layer.NODE, flows.outermost_overrides.name)

    assert sorted(resolved) == ["outer_overrides/inner_overrides/n0", "outer_overrides/inner_overrides/n1"]
    for path, node in resolved.items():
        assert node.config.interruptible is True, path
        assert node.provenance["interruptible"] == outermost, path
        assert node.config.retries == 7, path


def test_with_overrides_on_a_node_leaves_other_nodes_of_the_same_task_alone() -> None:
    overridden = rt.resolve(flows.sql_override)["n0"]
    plain = rt.resolve(flows.plain_query)["n0"]

    assert overridden.config.task_config["threads"] == 4
    assert plain.config.task_config["threads"] == 1
    assert plain.provenance["task_config.threads"].layer is Layer.TASK


# -- with_hook_aliases ---------------------------------------------------------------------


def test_with_hook_aliases_on_a_task_node_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="is on a task node; it renames hooks inside a sub-workflow"):
        rt.compile(flows.alias_on_task)
