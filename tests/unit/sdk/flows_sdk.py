"""Tasks and workflows for the SDK tests: promises, overrides, map tasks, launch plans."""

from datetime import timedelta
from typing import NamedTuple

import retune as rt


class Stats(NamedTuple):
    mean: float
    count: int


@rt.task
def prep(x: int) -> int:
    return x + 1


@rt.task
def add(a: int, b: int = 2) -> int:
    return a + b


@rt.task
def split(x: int) -> tuple[int, str]:
    return x, str(x)


@rt.task
def stats(xs: list[int]) -> Stats:
    return Stats(sum(xs) / len(xs), len(xs))


@rt.task
def shout(text: str) -> str:
    return text.upper()


@rt.task
def log(x: int) -> None:
    print(x)


@rt.task
def square(x: int) -> int:
    return x * x


@rt.task
def total(xs: list[int]) -> int:
    return sum(xs)


@rt.task(
    requests=rt.Resources(cpu="1", mem="1Gi"),
    limits=rt.Resources(cpu="2", mem="2Gi"),
    cache=True,
    cache_version="1",
    retries=1,
    environment={"A": "task", "B": "task"},
    timeout=timedelta(minutes=1),
)
def work(x: int) -> int:
    return x


@rt.task(task_config=rt.plugins.SQL(cluster="small"))
def query(x: int) -> int:
    return x


# -- promises ------------------------------------------------------------------------------


@rt.workflow
def unpacked(x: int) -> tuple[int, str]:
    number, text = split(x=x)
    return prep(x=number), shout(text=text)


@rt.workflow
def named_outputs(xs: list[int]) -> float:
    mean, count = stats(xs=xs)
    prep(x=count)
    return mean


@rt.workflow
def both_outputs(x: int) -> tuple[int, str]:
    return split(x=x)


@rt.workflow
def unused_outputs(x: int) -> int:
    split(x=x).with_runtime_override("split", {"retries": 2})
    return prep(x=x)


@rt.workflow
def void_node(x: int) -> None:
    log(x=x).with_runtime_override("log", {"retries": 1})


@rt.workflow
def void_into_task(x: int) -> int:
    return prep(x=log(x=x))


@rt.workflow
def tuple_into_task(x: int) -> int:
    return prep(x=split(x=x))


@rt.workflow
def text_into_number(x: int) -> int:
    _, text = split(x=x)
    return prep(x=text)


@rt.workflow
def mean_into_int(xs: list[int]) -> int:
    mean, _ = stats(xs=xs)
    return prep(x=mean)


@rt.workflow
def with_default(x: int = 3) -> int:
    return prep(x=x)


@rt.workflow
def calls_with_default() -> int:
    return with_default()


@rt.workflow
def literals() -> int:
    a = add(a=1, b=5)
    return add(a=a)


@rt.workflow
def positional(x: int) -> int:
    a = prep(x)
    return add(a, 7)


@rt.workflow
def chained(x: int) -> int:
    return (
        prep(x=x)
        .with_overrides(retries=3)
        .with_runtime_override("prep", {"retries": 4})
        .with_overrides(interruptible=True)
    )


# -- with_overrides -----------------------------------------------------------------------


@rt.workflow
def every_override(x: int) -> int:
    return work(x=x).with_overrides(
        requests=rt.Resources(cpu="3"),
        limits=rt.Resources(cpu="4", mem="4Gi"),
        retries=0,
        timeout=timedelta(minutes=5),
        interruptible=True,
        container_image="python:3.11",
        cache=True,
        cache_version="2",
        cache_serialize=True,
        environment={"A": "node"},
        name="tuned-work",
    )


@rt.workflow
def sql_override(x: int) -> int:
    return query(x=x).with_overrides(task_config=rt.plugins.SQL(threads=4))


@rt.workflow
def plain_query(x: int) -> int:
    return query(x=x)


@rt.workflow
def override_then_hook(x: int) -> int:
    return work(x=x).with_overrides(retries=5).with_runtime_override("work", {"retries": 6})


@rt.workflow
def inner_overrides(x: int) -> int:
    a = work(x=x).with_overrides(retries=5, environment={"A": "inner", "C": "inner"})
    return prep(x=a)


@rt.workflow
def outer_overrides(x: int) -> int:
    return inner_overrides(x=x).with_overrides(retries=7, environment={"A": "outer"})


@rt.workflow
def outermost_overrides(x: int) -> int:
    return outer_overrides(x=x).with_overrides(interruptible=True)


# -- map_task -----------------------------------------------------------------------------


@rt.workflow
def squares(xs: list[int]) -> list[int]:
    return rt.map_task(square)(x=xs).with_runtime_override("square", rt.runtime_override_config(cpu=2))


@rt.workflow
def sum_of_squares(xs: list[int]) -> int:
    return total(xs=rt.map_task(square)(x=xs))


@rt.workflow
def squares_of_promises(x: int) -> list[int]:
    return rt.map_task(square)(x=[prep(x=x), prep(x=x)])


@rt.workflow
def map_over_text(words: list[str]) -> list[int]:
    return rt.map_task(square)(x=words)


@rt.workflow
def map_over_text_literal() -> list[int]:
    return rt.map_task(square)(x=["a", "b"])


@rt.workflow
def map_output_into_scalar(xs: list[int]) -> int:
    return prep(x=rt.map_task(square)(x=xs))


# -- launch plans -------------------------------------------------------------------------


@rt.workflow
def planned(x: int = 3, label: str = "a") -> int:
    a = prep(x=x).with_runtime_override("prep", {"retries": 1})
    return work(x=a).with_runtime_override("work")


# -- workflows that must not compile ----------------------------------------------------


@rt.workflow
def alias_on_task(x: int) -> int:
    return prep(x=x).with_hook_aliases(prep="prep-b")


@rt.workflow
def unknown_input(x: int) -> int:
    return prep(y=x)


@rt.workflow
def unknown_sub_workflow_input(x: int) -> int:
    return with_default(y=x)


@rt.workflow
def calls_itself(x: int) -> int:
    return calls_itself(x=x)


@rt.workflow
def ping(x: int) -> int:
    return pong(x=x)


@rt.workflow
def pong(x: int) -> int:
    return ping(x=x)


@rt.workflow
def no_return_annotation(x: int):
    return prep(x=x)


@rt.workflow
def too_few_values(x: int) -> tuple[int, int]:
    return prep(x=x)


@rt.workflow
def promise_as_condition(x: int) -> int:
    a = prep(x=x)
    if a:
        return prep(x=a)
    return a


def not_yet_a_task(x: int) -> int:
    return x
