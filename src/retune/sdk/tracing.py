"""The tracing context: which workflow function is being traced, and its nodes so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retune.compiler.graph import TracedBinding, TracedNode
from retune.errors import CompileError
from retune.sdk.location import caller
from retune.sdk.types import type_of_value


@dataclass(eq=False)
class TraceContext:
    workflow_name: str
    nodes: list[TracedNode] = field(default_factory=list)
    sub_ids: dict[str, int] = field(default_factory=dict)

    def next_task_id(self) -> str:
        return f"n{len(self.nodes)}"

    def next_sub_id(self, name: str) -> str:
        count = self.sub_ids.get(name, 0) + 1
        self.sub_ids[name] = count
        return name if count == 1 else f"{name}-{count}"


_STACK: list[TraceContext] = []


def current() -> TraceContext | None:
    return _STACK[-1] if _STACK else None


def push(context: TraceContext) -> None:
    _STACK.append(context)


def pop() -> None:
    _STACK.pop()


def bind_value(value: Any, where: str, name: str) -> TracedBinding:
    """A value passed into a call inside a workflow -> the binding it stands for."""
    from retune.sdk.promise import InputPromise, NodeOutputs, Promise, VoidPromise

    if isinstance(value, Promise):
        return value.binding
    if isinstance(value, InputPromise):
        return TracedBinding(kind="input", name=value.name)
    if isinstance(value, VoidPromise | NodeOutputs):
        what = "no outputs" if isinstance(value, VoidPromise) else f"{len(value)} outputs"
        raise CompileError(
            f"{where} input {name!r} is given the result of a call with {what}. "
            "Unpack it first (a, b = t(...)) and pass one output."
        )
    if isinstance(value, list | tuple) and any(_is_promise(v) for v in value):
        items = tuple(bind_value(v, where, name) for v in value)
        return TracedBinding(kind="list", items=items)
    _check_literal(value, where, name)
    return TracedBinding(kind="literal", value=value, type=type_of_value(value))


def _check_literal(value: Any, where: str, name: str) -> None:
    """A literal is stored in the workflow's spec: one JSON cannot hold is refused here, at its
    call site, rather than when the spec is stored. (Other types are encoded by the codec.)"""
    if not isinstance(value, dict | list | str | int | float) or isinstance(value, bool):
        return
    from retune.model.values.limits import LimitExceeded, check_stored

    try:
        check_stored(value)
    except LimitExceeded as exc:
        raise CompileError(
            f"{where} input {name!r} is given a literal that cannot be stored: {exc}. {exc.fix}"
        ) from None


def _is_promise(value: Any) -> bool:
    from retune.sdk.promise import InputPromise, Promise

    return isinstance(value, Promise | InputPromise)


def call_site() -> str:
    """The user's line that made a call inside a workflow function."""
    return caller(3)
