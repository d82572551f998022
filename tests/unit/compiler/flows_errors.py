"""Workflows that must not compile. Lines ending in ``# <marker>`` are asserted by the tests."""

import retune as rt


@rt.task
def train(x: int) -> float:
    return x * 1.5


@rt.task
def prep(x: int) -> int:
    return x + 1


@rt.task
def label(x: int) -> str:
    return str(x)


@rt.workflow
def sub(x: int) -> float:
    return train(x=x).with_runtime_override("train")  # sub-train


@rt.workflow
def same_hook_twice(x: int) -> int:
    a = prep(x=x).with_runtime_override("prep")  # first-prep
    return prep(x=a).with_runtime_override("prep")  # second-prep


@rt.workflow
def sub_used_twice(x: int) -> float:
    sub(x=x)  # sub-call-a
    return sub(x=x)  # sub-call-b


@rt.workflow
def alias_unknown(x: int) -> float:
    return sub(x=x).with_hook_aliases(trian="train-b")  # alias-unknown


@rt.workflow
def default_unknown(x: int) -> float:
    return sub(x=x).with_runtime_override("trian", {"retries": 1})  # default-unknown


@rt.workflow
def default_after_alias(x: int) -> float:
    return sub(x=x).with_hook_aliases(train="train-b").with_runtime_override("train", {"retries": 1})


@rt.workflow
def hook_with_dot(x: int) -> int:
    return prep(x=x).with_runtime_override("prep.v2")


@rt.workflow
def hook_with_space(x: int) -> int:
    return prep(x=x).with_runtime_override("my hook")


@rt.workflow
def hook_too_long(x: int) -> int:
    return prep(x=x).with_runtime_override("h" * 64)


@rt.workflow
def hook_longest(x: int) -> int:
    return prep(x=x).with_runtime_override("h" * 63)


@rt.workflow
def alias_to_invalid(x: int) -> float:
    return sub(x=x).with_hook_aliases(train="train.b")


@rt.workflow
def two_hooks_one_node(x: int) -> int:
    return prep(x=x).with_runtime_override("first").with_runtime_override("second")


@rt.workflow
def labelled(x: int) -> int:
    name = label(x=x)  # str-source
    return prep(x=name)  # int-target


@rt.workflow
def str_into_int(x: int) -> int:
    return labelled(x=x)


@rt.workflow
def returns_wrong_type(x: int) -> int:
    return label(x=x)


@rt.workflow
def missing_input(x: int) -> int:
    return prep()


@rt.workflow
def wraps_sub(x: int) -> float:
    return sub(x=x)  # wraps-sub


@rt.workflow
def alias_to_invalid_outside(x: int) -> float:
    return wraps_sub(x=x).with_hook_aliases(train="train.b")  # alias-outside


@rt.workflow
def wraps_sub_twice(x: int) -> float:
    wraps_sub(x=x)  # wraps-call-a
    return wraps_sub(x=x)  # wraps-call-b


@rt.workflow
def malformed_default(x: int) -> int:
    return prep(x=x).with_runtime_override("prep", {"retries": -1})  # malformed-default


@rt.workflow
def malformed_node_override(x: int) -> int:
    return prep(x=x).with_overrides(retries=-1)  # malformed-node-override


@rt.workflow
def malformed_outer_default(x: int) -> float:
    return sub(x=x).with_runtime_override("train", {"environment": {"RETUNE_X": "1"}})  # malformed-outer


@rt.workflow
def one_hook_on_two_tasks(x: int) -> str:
    a = prep(x=x).with_runtime_override("step")  # prep-step
    return label(x=a).with_runtime_override("step")  # label-step
