"""Building the pydantic specs of tasks and workflows from Python functions.

Loaded on first compile, not on ``import retune``: pydantic alone costs more start-up
time than the whole rest of the SDK, and decorating a function should stay cheap.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from retune.model import TaskNodeOverrides
from retune.model.spec import Interface, Param, TaskSpec
from retune.sdk.location import module_of, qualified_name
from retune.sdk.types import type_of


def interface_of(fn: Any) -> Interface:
    hints = typing.get_type_hints(fn)
    signature = inspect.signature(fn)
    return Interface(
        inputs=input_params(signature, hints),
        outputs=output_params(hints.get("return", signature.return_annotation)),
    )


def task_spec(
    fn: Any,
    *,
    task_type: str,
    config: TaskNodeOverrides,
    timeout: float | None,
    location: str,
    cache_env: tuple[str, ...] = (),
) -> TaskSpec:
    return TaskSpec(
        name=qualified_name(fn),
        task_type=task_type,
        interface=interface_of(fn),
        config=config,
        timeout=timeout,
        module=module_of(fn),
        qualname=fn.__qualname__,
        location=location,
        cache_env=cache_env,
    )


def output_params(annotation: Any) -> tuple[Param, ...]:
    """A return annotation -> outputs: none, one (``o0``), a tuple (``o0, o1``) or a NamedTuple."""
    if annotation in (None, type(None), inspect.Signature.empty):
        return ()
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        hints = typing.get_type_hints(annotation)
        return tuple(Param(name=f, type=type_of(hints.get(f, Any))) for f in annotation._fields)
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[int, ...]: one output, a sequence
            return (Param(name="o0", type=f"list[{type_of(args[0])}]"),)
        return tuple(Param(name=f"o{i}", type=type_of(a)) for i, a in enumerate(args))
    return (Param(name="o0", type=type_of(annotation)),)


def input_params(signature: inspect.Signature, hints: dict[str, Any]) -> tuple[Param, ...]:
    params = []
    for name, parameter in signature.parameters.items():
        has_default = parameter.default is not inspect.Parameter.empty
        params.append(
            Param(
                name=name,
                type=type_of(hints.get(name, parameter.annotation)),
                has_default=has_default,
                default=parameter.default if has_default else None,
            )
        )
    return tuple(params)
