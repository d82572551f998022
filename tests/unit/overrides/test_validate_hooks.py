"""Hook checks: a well-formed name, and a hook the workflow actually has."""

import pytest

import retune as rt
from retune import OverrideError
from retune.overrides import HOOK_NAME, check_hook_name, check_known_hooks


@rt.task
def prep(x: int) -> int:
    return x + 1


@rt.task
def train(x: int) -> int:
    return x * 2


@rt.workflow
def inner(x: int) -> int:
    return train(x=x).with_runtime_override("train")


@rt.workflow
def hooked(x: int = 1) -> int:
    a = prep(x=x).with_runtime_override("task-yee")
    b = prep(x=a).with_runtime_override("task-ketan")
    return inner(x=b)


@rt.workflow
def hookless(x: int = 1) -> int:
    return prep(x=x)


HOOKS = ("train", "task-yee", "task-ketan")


def test_unknown_hook_suggests_the_nearest_and_lists_all_sorted() -> None:
    with pytest.raises(OverrideError) as caught:
        check_known_hooks({"trian": {}}, HOOKS, workflow="flows.wf", origin="-o")
    error = caught.value
    assert (error.hook, error.field, error.origin) == ("trian", None, "-o")
    assert error.problem == "workflow 'flows.wf' has no hook 'trian'"
    assert error.fix == "Did you mean 'train'? Its hooks are: task-ketan, task-yee, train."


def test_unknown_hook_with_nothing_near_only_lists_the_hooks() -> None:
    with pytest.raises(OverrideError) as caught:
        check_known_hooks({"zzz": {}}, HOOKS, workflow="flows.wf", origin=None)
    assert caught.value.fix == "Its hooks are: task-ketan, task-yee, train."


def test_unknown_hook_on_a_workflow_without_hooks_says_how_to_add_one() -> None:
    with pytest.raises(OverrideError) as caught:
        check_known_hooks({"train": {}}, (), workflow="flows.wf", origin=None)
    assert caught.value.hook == "train"
    assert ".with_runtime_override(NAME)" in caught.value.fix


def test_known_hooks_pass() -> None:
    check_known_hooks({"train": {}, "task-yee": {}}, HOOKS, workflow="flows.wf", origin=None)


def test_resolve_refuses_an_unknown_hook_with_did_you_mean() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(hooked, overrides={"task-yeee": {"retries": 1}})
    error = caught.value
    assert error.hook == "task-yeee"
    assert error.field is None
    assert f"workflow {hooked.name!r} has no hook 'task-yeee'" in error.problem
    assert "Did you mean 'task-yee'? Its hooks are: task-ketan, task-yee, train." in error.fix


def test_hooks_inside_sub_workflows_are_known_by_their_flat_name() -> None:
    resolved = rt.resolve(hooked, overrides={"train": {"retries": 4}})
    assert resolved["inner/n0"].config.retries == 4


def test_resolve_refuses_any_hook_on_a_hookless_workflow() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(hookless, overrides={"train": {"retries": 1}})
    assert caught.value.hook == "train"
    assert "has no hooks at all" in caught.value.fix


def test_launch_plans_refuse_unknown_hooks_when_created() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.LaunchPlan.get_or_create(
            workflow=hooked, name="validate-hooks-typo", runtime_override={"trainn": {"retries": 1}}
        )
    error = caught.value
    assert error.hook == "trainn"
    assert error.origin == "launch plan 'validate-hooks-typo'"
    assert "Did you mean 'train'?" in error.fix


@pytest.mark.parametrize("name", ["train", "task-yee", "T_2", "9lives", "a" * 63])
def test_well_formed_hook_names_pass(name: str) -> None:
    assert check_hook_name(name) == name
    assert HOOK_NAME.match(name)


@pytest.mark.parametrize("name", ["", "train.cpu", "-x", "_x", "has space", "a" * 64, "é", None])
def test_malformed_hook_names_say_the_rule(name: object) -> None:
    with pytest.raises(OverrideError) as caught:
        check_hook_name(name, "-o")
    error = caught.value
    assert error.origin == "-o"
    assert f"{name!r} is not a valid hook name" in error.problem
    assert "starting with a letter or digit" in error.fix
