"""``@rt.task``: records a function and its config as a ``TaskSpec``; decides nothing else."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from retune.compiler.graph import TracedNode
from retune.errors import CompileError
from retune.model import FieldError, Resources, TaskNodeOverrides
from retune.model.overrides import check_env_name
from retune.plugins.registry import task_type_for_config
from retune.sdk import tracing
from retune.sdk.location import caller, of_function, qualified_name
from retune.sdk.promise import config_dict, promise_for

if TYPE_CHECKING:
    from retune.model.spec import TaskSpec

P = ParamSpec("P")
R = TypeVar("R")

_DECLARED: dict[str, Task[Any, Any]] = {}


def declared_task(name: str) -> Task[Any, Any] | None:
    """The task last declared under ``name`` in this process (a notebook may redefine one)."""
    return _DECLARED.get(name)


class Task(Generic[P, R]):
    """A task: call it inside ``@workflow`` to add a node, or outside to run the function."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        config: TaskNodeOverrides,
        task_type: str,
        timeout: float | None,
        location: str,
        cache_env: tuple[str, ...] = (),
    ) -> None:
        self.fn = fn
        self.name = qualified_name(fn)
        self.config = config
        self.task_type = task_type
        self.timeout = timeout
        self.location = location
        self.cache_env = cache_env
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @cached_property
    def spec(self) -> TaskSpec:
        """The task's spec, built on first compile (it needs pydantic; decorating does not)."""
        from retune.sdk.specs import task_spec

        return task_spec(
            self.fn,
            task_type=self.task_type,
            config=self.config,
            timeout=self.timeout,
            location=self.location,
            cache_env=self.cache_env,
        )

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
    cache_env: Sequence[str] = (),
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
    cache_env: Sequence[str] = (),
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Declare a task; every config field keeps flytekit's name and meaning.

    ``cache_env`` (retune's own) names the environment keys whose effective values enter the
    cache key: a run whose ``MODEL_DIR`` differs then misses (docs/decisions/0018-cache-key.md).
    """
    fields = task_fields(
        requests=requests,
        limits=limits,
        cache=cache,
        cache_version=cache_version,
        cache_serialize=cache_serialize,
        retries=retries,
        interruptible=interruptible,
        container_image=container_image,
        environment=environment,
        task_config=task_config,
    )
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        name = qualified_name(function)
        location = of_function(function)
        try:
            config = TaskNodeOverrides.from_dict(fields)
            task_type = task_type_for_config(task_config).name
            keys = cache_env_keys(cache_env)
        except (FieldError, TypeError) as exc:
            raise CompileError(f"@task {name} ({location}): {exc}") from None
        declared = Task(
            function, config=config, task_type=task_type, timeout=seconds, location=location, cache_env=keys
        )
        _DECLARED[declared.name] = declared
        return declared

    return decorate(fn) if fn is not None else decorate


def task_fields(
    *,
    requests: Resources | None,
    limits: Resources | None,
    cache: bool,
    cache_version: str,
    cache_serialize: bool,
    retries: int,
    interruptible: bool,
    container_image: str | None,
    environment: Mapping[str, str] | None,
    task_config: Any,
) -> dict[str, Any]:
    """A task's own config (layer 1) as the map ``TaskNodeOverrides.from_dict`` checks: every
    field it declares, its task_config whole (defaults included, so each value has the task as
    its source); for ``@rt.task`` and ``TemplateTask`` alike."""
    fields: dict[str, Any] = {
        "cache": cache,
        "cache_version": cache_version,
        "cache_serialize": cache_serialize,
        "retries": retries,
        "interruptible": interruptible,
        "environment": dict(environment or {}),
        "task_config": config_dict(task_config, complete=True) or {},
    }
    if container_image is not None:
        fields["container_image"] = container_image
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}
    if resources:
        fields["resources"] = resources
    return fields


def cache_env_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """``cache_env`` checked (environment names, not ``RETUNE_*``), sorted, without repeats."""
    if isinstance(keys, str):
        raise FieldError(
            "cache_env", f"{keys!r} is a string, not a list of names", f"Write cache_env=[{keys!r}]."
        )
    for key in keys:
        try:
            check_env_name(key)
        except FieldError as exc:
            raise FieldError(f"cache_env[{key!r}]", exc.problem, exc.fix) from None
    return tuple(sorted(set(keys)))
