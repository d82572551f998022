"""``@rt.task``: records a function and its config as a ``TaskSpec``; decides nothing else."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from retune.compiler import TracedNode
from retune.errors import CompileError
from retune.model import FieldError, Resources, TaskNodeOverrides
from retune.model.spec import Interface, TaskSpec
from retune.plugins import task_type_for_config
from retune.sdk import tracing
from retune.sdk.location import caller, of_function
from retune.sdk.promise import config_dict, promise_for
from retune.sdk.types import input_params, output_params

P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A task: call it inside ``@workflow`` to add a node, or outside to run the function."""

    def __init__(self, fn: Callable[P, R], spec: TaskSpec) -> None:
        self.fn = fn
        self.spec = spec
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        context = tracing.current()
        if context is None:
            return self.fn(*args, **kwargs)
        node = make_node(self, context, args, kwargs, is_map=False)
        return promise_for(node)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Task({self.name})"


def make_node(
    task: Task[Any, Any],
    context: tracing.TraceContext,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    is_map: bool,
) -> TracedNode:
    """Add a node calling ``task`` to the workflow being traced (called from ``__call__``)."""
    location = caller(3)
    node_id = context.next_task_id()
    where = f"Node {node_id} ({location})"
    try:
        bound = task.signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise CompileError(f"{where}: calling task {task.name!r}: {exc}.") from None
    inputs = {name: tracing.bind_value(value, where, name) for name, value in bound.arguments.items()}
    outputs = task.spec.interface.outputs
    if is_map:
        outputs = tuple(p.model_copy(update={"type": f"list[{p.type}]"}) for p in outputs)
    node = TracedNode(
        id=node_id, location=location, inputs=inputs, outputs=outputs, task=task.spec, is_map=is_map
    )
    context.nodes.append(node)
    return node


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    fn: None = None,
    /,
    *,
    requests: Resources | None = None,
    limits: Resources | None = None,
    cache: bool = False,
    cache_version: str = "",
    cache_serialize: bool = False,
    retries: int = 0,
    interruptible: bool = False,
    container_image: str | None = None,
    environment: Mapping[str, str] | None = None,
    timeout: float | timedelta | None = None,
    task_config: Any = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    requests: Resources | None = None,
    limits: Resources | None = None,
    cache: bool = False,
    cache_version: str = "",
    cache_serialize: bool = False,
    retries: int = 0,
    interruptible: bool = False,
    container_image: str | None = None,
    environment: Mapping[str, str] | None = None,
    timeout: float | timedelta | None = None,
    task_config: Any = None,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Declare a task; every config field keeps flytekit's name and meaning."""
    fields: dict[str, Any] = {
        "cache": cache,
        "cache_version": cache_version,
        "cache_serialize": cache_serialize,
        "retries": retries,
        "interruptible": interruptible,
        "environment": dict(environment or {}),
        "task_config": config_dict(task_config) or {},
    }
    if container_image is not None:
        fields["container_image"] = container_image
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}
    if resources:
        fields["resources"] = resources
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        name = f"{function.__module__}.{function.__qualname__}"
        location = of_function(function)
        try:
            config = TaskNodeOverrides.from_dict(fields)
            task_type = task_type_for_config(task_config).name
        except (FieldError, TypeError) as exc:
            raise CompileError(f"@task {name} ({location}): {exc}") from None
        hints = typing.get_type_hints(function)
        signature = inspect.signature(function)
        interface = Interface(
            inputs=input_params(signature, hints),
            outputs=output_params(hints.get("return", signature.return_annotation)),
        )
        spec = TaskSpec(
            name=name,
            task_type=task_type,
            interface=interface,
            config=config,
            timeout=seconds,
            module=function.__module__,
            qualname=function.__qualname__,
            location=location,
        )
        return Task(function, spec)

    return decorate(fn) if fn is not None else decorate
