"""Workflows whose bindings exercise the type check."""

import retune as rt


@rt.task
def prep(x: int) -> int:
    return x + 1


@rt.task
def label(x: int) -> str:
    return str(x)


@rt.task
def half(y: float) -> float:
    return y / 2


@rt.task
def maybe(x: int | None) -> int | None:
    return x


@rt.task
def total(xs: list[int]) -> int:
    return sum(xs)


@rt.workflow
def int_into_float(x: int) -> float:
    return half(y=prep(x=x))


@rt.workflow
def float_into_int(y: float) -> int:
    return prep(x=half(y=y))


@rt.workflow
def into_optional(x: int) -> int | None:
    a = maybe(x=x)
    maybe(x=None)
    return maybe(x=a)


@rt.workflow
def optional_into_int(x: int) -> int:
    return prep(x=maybe(x=x))


@rt.workflow
def fan_in(x: int) -> int:
    a = prep(x=x)
    b = prep(x=a)
    c = prep(x=b)
    return total(xs=[a, b, c])


@rt.workflow
def fan_in_with_literal(x: int) -> int:
    return total(xs=[prep(x=x), 10])


@rt.workflow
def fan_in_wrong_item(x: int) -> int:
    return total(xs=[prep(x=x), label(x=x)])


@rt.workflow
def list_into_scalar(x: int) -> int:
    return prep(x=[prep(x=x)])


@rt.workflow
def literal_of_wrong_type() -> int:
    return prep(x="three")
