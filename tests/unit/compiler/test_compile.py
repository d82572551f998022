"""rt.compile: hooks across sub-workflows, aliases, compile errors, type checks, node paths."""

from __future__ import annotations

import sys

import pytest

import retune as rt
from retune import Layer, Source

from . import flows_errors, flows_hooks, flows_paths, flows_types
from .markers import site

GiB = 2**30


def _stack_depth() -> int:
    depth, frame = 0, sys._getframe()
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    return depth + 1


def _compile_error(workflow: rt.Workflow) -> str:
    with pytest.raises(rt.CompileError) as caught:
        rt.compile(workflow)
    return str(caught.value)


# -- hooks inside sub-workflows -------------------------------------------------------------


def test_defaults_from_the_outer_workflow_land_on_the_hooks_inside_the_sub_workflow() -> None:
    hooks = rt.compile(flows_hooks.tuned).hooks

    assert {name: hook.nodes for name, hook in hooks.items()} == {
        "evaluate": ("pipeline/n2",),
        "fit": ("pipeline/n1",),
        "load": ("pipeline/n0",),
    }
    inner, outer = flows_hooks.pipeline.name, flows_hooks.tuned.name
    assert [d.workflow for d in hooks["load"].defaults] == [inner, outer]
    assert [d.workflow for d in hooks["fit"].defaults] == [inner, outer]
    assert [d.workflow for d in hooks["evaluate"].defaults] == [outer]


def test_outer_workflow_default_wins_over_the_inner_default_and_names_the_outer_workflow() -> None:
    resolved = rt.resolve(flows_hooks.tuned)
    inner, outer = flows_hooks.pipeline.name, flows_hooks.tuned.name

    load = resolved["pipeline/n0"]
    assert load.config.retries == 4
    assert load.provenance["retries"] == Source(Layer.WORKFLOW, outer, "load")
    assert load.config.requests.cpu == 1.0
    assert load.provenance["requests.cpu"] == Source(Layer.WORKFLOW, inner, "load")

    fit = resolved["pipeline/n1"]
    assert fit.config.requests.mem == fit.config.limits.mem == 2 * GiB
    assert fit.provenance["limits.mem"] == Source(Layer.WORKFLOW, outer, "fit")
    assert dict(fit.config.environment) == {"A": "in", "B": "out"}
    assert fit.provenance["environment.A"] == Source(Layer.WORKFLOW, inner, "fit")
    assert fit.provenance["environment.B"] == Source(Layer.WORKFLOW, outer, "fit")

    evaluate = resolved["pipeline/n2"]
    assert evaluate.config.requests.cpu == evaluate.config.limits.cpu == 2.0
    assert evaluate.provenance["requests.cpu"] == Source(Layer.WORKFLOW, outer, "evaluate")


def test_hook_defaults_are_layered_inner_workflow_to_outer_across_two_levels() -> None:
    hook = rt.compile(flows_hooks.top).hooks["load"]
    load = rt.resolve(flows_hooks.top)["middle/pipeline/n0"]

    assert [d.workflow for d in hook.defaults] == [
        flows_hooks.pipeline.name,
        flows_hooks.middle.name,
        flows_hooks.top.name,
    ]
    assert load.config.retries == 8
    assert load.provenance["retries"] == Source(Layer.WORKFLOW, flows_hooks.top.name, "load")
    assert load.config.limits.mem == GiB
    assert load.provenance["limits.mem"] == Source(Layer.WORKFLOW, flows_hooks.middle.name, "load")
    assert load.config.limits.cpu == 1.0
    assert load.provenance["limits.cpu"] == Source(Layer.WORKFLOW, flows_hooks.pipeline.name, "load")


def test_hook_without_any_default_still_resolves_from_the_task() -> None:
    hook = rt.compile(flows_hooks.top).hooks["evaluate"]
    evaluate = rt.resolve(flows_hooks.top)["middle/pipeline/n2"]

    assert hook.defaults == ()
    assert hook.default == rt.TaskNodeOverrides()
    assert evaluate.config.retries == 0
    assert evaluate.provenance["retries"] == Source(Layer.TASK, flows_hooks.evaluate.name)


def test_hook_declared_in_nested_sub_workflows_lists_call_sites_inner_to_outer() -> None:
    hook = rt.compile(flows_hooks.top).hooks["load"]
    declared = site(flows_hooks, "load-hook")
    called_in_middle = site(flows_hooks, "middle-calls-pipeline")
    called_in_top = site(flows_hooks, "top-calls-middle")

    assert hook.declared_at == (
        f"{declared}, in {flows_hooks.pipeline.name} called at {called_in_middle}, "
        f"in {flows_hooks.middle.name} called at {called_in_top}"
    )


# -- aliases -------------------------------------------------------------------------------


def test_sub_workflow_used_twice_with_aliases_has_two_independent_sets_of_hooks() -> None:
    hooks = rt.compile(flows_hooks.twice).hooks

    assert sorted(hooks) == ["evaluate", "evaluate-b", "fit", "fit-b", "load", "load-b"]
    assert hooks["load"].nodes == ("pipeline/n0",)
    assert hooks["load-b"].nodes == ("pipeline-2/n0",)

    resolved = rt.resolve(flows_hooks.twice, overrides={"load": {"retries": 10}, "load-b": {"retries": 20}})
    assert resolved["pipeline/n0"].config.retries == 10
    assert resolved["pipeline-2/n0"].config.retries == 20
    assert resolved["pipeline-2/n0"].hook == "load-b"
    assert resolved["pipeline-2/n0"].provenance["retries"] == Source(Layer.EXECUTION, "preview", "load-b")


def test_aliased_hook_keeps_the_defaults_written_inside_the_sub_workflow() -> None:
    hooks = rt.compile(flows_hooks.twice).hooks

    assert hooks["load-b"].default == hooks["load"].default == rt.runtime_override_config(cpu=1, retries=2)


def test_aliases_of_every_enclosing_call_site_apply_in_turn() -> None:
    hooks = rt.compile(flows_hooks.renamed_again).hooks
    load = rt.resolve(flows_hooks.renamed_again)["renamed_in_middle/pipeline/n0"]

    assert sorted(hooks) == ["evaluate", "fit", "top-load"]
    assert hooks["top-load"].nodes == ("renamed_in_middle/pipeline/n0",)
    assert load.hook == "top-load"
    assert load.config.retries == 9
    assert load.provenance["retries"] == Source(Layer.WORKFLOW, flows_hooks.renamed_again.name, "top-load")


# -- hook errors ---------------------------------------------------------------------------


def test_duplicate_hook_names_name_both_nodes_and_their_call_sites() -> None:
    message = _compile_error(flows_errors.same_hook_twice)

    assert "Hook 'prep' is declared twice" in message
    assert f"n0 ({site(flows_errors, 'first-prep')})" in message
    assert f"n1 ({site(flows_errors, 'second-prep')})" in message


def test_duplicate_hook_names_name_both_tasks_as_the_user_wrote_them() -> None:
    message = _compile_error(flows_errors.one_hook_on_two_tasks)

    assert f"on task {flows_errors.prep.name!r} at n0 ({site(flows_errors, 'prep-step')})" in message
    assert f"on task {flows_errors.label.name!r} at n1 ({site(flows_errors, 'label-step')})" in message


def test_sub_workflow_used_twice_without_aliases_is_a_duplicate_naming_both_call_sites() -> None:
    message = _compile_error(flows_errors.sub_used_twice)
    declared = site(flows_errors, "sub-train")
    sub = flows_errors.sub.name

    assert "Hook 'train' is declared twice" in message
    assert f"sub/n0 ({declared}, in {sub} called at {site(flows_errors, 'sub-call-a')})" in message
    assert f"sub-2/n0 ({declared}, in {sub} called at {site(flows_errors, 'sub-call-b')})" in message
    assert '.with_hook_aliases(train="train-b")' in message


def test_duplicate_across_nested_sub_workflows_names_the_outer_call_sites() -> None:
    message = _compile_error(flows_errors.wraps_sub_twice)

    assert "wraps_sub/sub/n0" in message
    assert "wraps_sub-2/sub/n0" in message
    assert site(flows_errors, "wraps-call-a") in message
    assert site(flows_errors, "wraps-call-b") in message


def test_alias_of_a_name_not_inside_the_sub_workflow_lists_the_hooks_inside() -> None:
    message = _compile_error(flows_errors.alias_unknown)

    assert f"with_hook_aliases at {site(flows_errors, 'alias-unknown')} renames 'trian'" in message
    assert f"Hooks inside {flows_errors.sub.name!r}: train." in message


def test_runtime_override_on_a_sub_workflow_with_a_name_not_inside_lists_the_hooks_inside() -> None:
    message = _compile_error(flows_errors.default_unknown)

    assert f"with_runtime_override('trian') at {site(flows_errors, 'default-unknown')}" in message
    assert "has no hook 'trian'" in message
    assert f"Hooks inside {flows_errors.sub.name!r}: train." in message


def test_default_for_the_inner_name_after_aliasing_says_it_was_renamed() -> None:
    message = _compile_error(flows_errors.default_after_alias)

    assert "It is renamed 'train-b' at this call site." in message
    assert "train-b" in message.split("Hooks inside")[1]


@pytest.mark.parametrize(
    ("workflow", "name"),
    [
        (flows_errors.hook_with_dot, "prep.v2"),
        (flows_errors.hook_with_space, "my hook"),
        (flows_errors.hook_too_long, "h" * 64),
    ],
    ids=["dot", "space", "64-characters"],
)
def test_invalid_hook_names_are_refused_with_the_rule(workflow: rt.Workflow, name: str) -> None:
    message = _compile_error(workflow)

    assert f"Hook name {name!r}" in message
    assert "no dots" in message


def test_hook_name_of_63_characters_is_valid() -> None:
    assert list(rt.compile(flows_errors.hook_longest).hooks) == ["h" * 63]


def test_alias_to_an_invalid_hook_name_is_refused() -> None:
    message = _compile_error(flows_errors.alias_to_invalid)

    assert "Hook name 'train.b'" in message


def test_alias_to_an_invalid_name_points_at_the_alias_call_site() -> None:
    message = _compile_error(flows_errors.alias_to_invalid_outside)

    assert f"Hook name 'train.b' at {site(flows_errors, 'alias-outside')} is not valid" in message


def test_two_different_hooks_on_one_task_node_are_refused() -> None:
    message = _compile_error(flows_errors.two_hooks_one_node)

    assert "'first', 'second'" in message
    assert "carries one hook" in message


# -- type checks of bindings ----------------------------------------------------------------


def test_str_output_into_int_input_names_both_nodes_with_their_paths() -> None:
    message = _compile_error(flows_errors.str_into_int)

    assert f"Node labelled/n1 ({site(flows_errors, 'int-target')}) input 'x' expects int" in message
    assert f"node labelled/n0 ({site(flows_errors, 'str-source')}) output 'o0' is str" in message


def test_workflow_returning_another_type_than_declared_is_refused() -> None:
    message = _compile_error(flows_errors.returns_wrong_type)

    assert "of type str as output 'o0', declared int" in message


def test_missing_required_input_is_refused() -> None:
    message = _compile_error(flows_errors.missing_input)

    assert "does not pass input 'x' (int)" in message


def test_int_output_may_flow_into_a_float_input() -> None:
    assert [n.task for n in rt.compile(flows_types.int_into_float).nodes] == [
        flows_types.prep.name,
        flows_types.half.name,
    ]


def test_float_output_into_int_input_is_refused() -> None:
    assert "output 'o0' is float" in _compile_error(flows_types.float_into_int)


def test_optional_input_takes_a_value_none_or_an_optional() -> None:
    nodes = rt.compile(flows_types.into_optional).nodes

    assert [n.inputs["x"].kind for n in nodes] == ["input", "literal", "output"]
    assert nodes[1].inputs["x"].value is None


def test_optional_output_into_a_required_input_is_refused() -> None:
    assert "is optional[int]" in _compile_error(flows_types.optional_into_int)


def test_list_of_promises_fans_in_to_a_list_input() -> None:
    reduce = rt.compile(flows_types.fan_in).nodes[-1]
    binding = reduce.inputs["xs"]

    assert binding.kind == "list"
    assert [(item.kind, item.node, item.name) for item in binding.items] == [
        ("output", "n0", "o0"),
        ("output", "n1", "o0"),
        ("output", "n2", "o0"),
    ]


def test_list_may_mix_promises_and_literals() -> None:
    binding = rt.compile(flows_types.fan_in_with_literal).nodes[-1].inputs["xs"]

    assert [(item.kind, item.value) for item in binding.items] == [("output", None), ("literal", 10)]


def test_list_item_of_the_wrong_type_is_refused() -> None:
    assert "output 'o0' is str" in _compile_error(flows_types.fan_in_wrong_item)


def test_list_into_a_scalar_input_is_refused() -> None:
    assert "is given a list" in _compile_error(flows_types.list_into_scalar)


def test_literal_of_the_wrong_type_is_refused() -> None:
    assert "the literal 'three' is str" in _compile_error(flows_types.literal_of_wrong_type)


# -- node paths ----------------------------------------------------------------------------


def test_nested_sub_workflows_give_slash_separated_paths() -> None:
    paths = [node.path for node in rt.compile(flows_paths.root).nodes]

    assert paths == [
        "mid/n0",
        "mid/bottom/n0",
        "mid/bottom/n1",
        "n1",
        "mid-2/n0",
        "mid-2/bottom/n0",
        "mid-2/bottom/n1",
    ]
    assert rt.compile(flows_paths.root).hooks["deep-2"].nodes == ("mid-2/bottom/n1",)


def test_workflows_of_identical_shape_get_identical_paths_and_hooks() -> None:
    a, b = rt.compile(flows_paths.shape_a), rt.compile(flows_paths.shape_b)

    assert [n.path for n in a.nodes] == [n.path for n in b.nodes] == ["n0", "bottom/n0", "bottom/n1", "n2"]
    assert {k: h.nodes for k, h in a.hooks.items()} == {k: h.nodes for k, h in b.hooks.items()}


def test_tracing_the_same_function_again_gives_the_same_spec() -> None:
    again = rt.workflow(flows_paths.shape_a.fn)

    assert rt.compile(again).spec == rt.compile(flows_paths.shape_a).spec


def test_with_overrides_name_renames_the_node_path() -> None:
    assert [n.path for n in rt.compile(flows_paths.renamed).nodes] == ["increment"]


def test_renaming_a_node_onto_another_nodes_path_is_refused() -> None:
    with pytest.raises(rt.CompileError, match="n1"):
        rt.compile(flows_paths.renamed_onto_other_node)


def test_long_chain_compiles_at_the_default_recursion_limit() -> None:
    nodes = rt.compile(rt.workflow(flows_paths.chain)).nodes

    assert len(nodes) == flows_paths.CHAIN_LENGTH
    assert nodes[-1].path == f"n{flows_paths.CHAIN_LENGTH - 1}"
    assert nodes[-1].inputs["x"].node == f"n{flows_paths.CHAIN_LENGTH - 2}"


def test_long_chain_compiles_with_the_recursion_limit_just_above_the_caller() -> None:
    workflow = rt.workflow(flows_paths.chain)
    before = sys.getrecursionlimit()
    # 100 frames above this one: room for ordinary calls, none for a walk that recurses per node.
    sys.setrecursionlimit(_stack_depth() + 100)
    try:
        compiled = rt.compile(workflow)
        resolved = rt.resolve(workflow)
    finally:
        sys.setrecursionlimit(before)

    assert len(compiled.nodes) == len(resolved) == flows_paths.CHAIN_LENGTH


# -- malformed overrides in workflow code ---------------------------------------------------


def test_malformed_hook_default_is_an_override_error_naming_hook_field_and_call_site() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.compile(flows_errors.malformed_default)

    assert (caught.value.hook, caught.value.field) == ("prep", "retries")
    assert caught.value.origin == site(flows_errors, "malformed-default")


def test_malformed_with_overrides_is_an_override_error_naming_field_and_call_site() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.compile(flows_errors.malformed_node_override)

    assert caught.value.field == "retries"
    assert caught.value.origin == site(flows_errors, "malformed-node-override")


def test_malformed_default_from_the_outer_workflow_names_the_outer_call_site() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.compile(flows_errors.malformed_outer_default)

    assert (caught.value.hook, caught.value.field) == ("train", "environment.RETUNE_X")
    assert caught.value.origin == site(flows_errors, "malformed-outer")
