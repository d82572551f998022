"""Workflows for node paths: identical shapes, nesting, a very long chain."""

import retune as rt


@rt.task
def inc(x: int) -> int:
    return x + 1


@rt.workflow
def bottom(x: int) -> int:
    a = inc(x=x)
    return inc(x=a).with_runtime_override("deep")


@rt.workflow
def mid(x: int) -> int:
    a = inc(x=x)
    return bottom(x=a)


@rt.workflow
def root(x: int) -> int:
    a = mid(x=x)
    b = inc(x=a)
    return mid(x=b).with_hook_aliases(deep="deep-2")


@rt.workflow
def shape_a(x: int) -> int:
    a = inc(x=x).with_runtime_override("first")
    b = bottom(x=a)
    return inc(x=b)


@rt.workflow
def shape_b(x: int) -> int:
    a = inc(x=x).with_runtime_override("first")
    b = bottom(x=a)
    return inc(x=b)


CHAIN_LENGTH = 20_000


def chain(x: int) -> int:
    value = x
    for _ in range(CHAIN_LENGTH):
        value = inc(x=value)
    return value


long_chain = rt.workflow(chain)


@rt.workflow
def renamed_onto_other_node(x: int) -> int:
    a = inc(x=x).with_overrides(name="n1")
    return inc(x=a)


@rt.workflow
def renamed(x: int) -> int:
    return inc(x=x).with_overrides(name="increment")
