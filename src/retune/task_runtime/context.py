"""``rt.current_context()``: what a running task may know about its attempt. Stdlib only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lazy", "TaskContext", "current_context"]


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The attempt a task is running in.

    ``config`` is the node's effective config as a plain dict (``EffectiveConfig.to_dict()``);
    ``task_config`` is its ``task_config`` part, for task types that read it. ``index`` is the
    item's position in a map node (``None`` for a plain task node). A task type may add
    attributes for the task to read while it runs (``extras``: the Spark type's ``spark``).
    """

    execution_id: str
    node: str
    attempt: int
    task: str
    task_config: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    index: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        extras = object.__getattribute__(self, "extras")
        if name in extras:
            value = extras[name]
            return value.get() if isinstance(value, Lazy) else value
        raise AttributeError(
            f"rt.current_context() has no {name!r} in this task"
            + (f" (its task type adds: {', '.join(sorted(extras))})" if extras else "")
            + "; the Spark task type adds 'spark', for tasks declared with task_config=rt.Spark(...)."
        )


class Lazy:
    """An extra made on first access (a SparkSession, whose JVM takes seconds to start, only for
    the tasks that use it), then kept for the rest of the call."""

    __slots__ = ("_factory", "_made", "_value")

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._made = False
        self._value: Any = None

    def get(self) -> Any:
        if not self._made:
            self._value = self._factory()
            self._made = True
        return self._value


# One attempt runs at a time in a task process, and threads the task starts must see its
# context too, so this is a plain global rather than a ContextVar.
_current: TaskContext | None = None


def current_context() -> TaskContext:
    """The context of the attempt running in this process; ``RuntimeError`` outside a task."""
    if _current is None:
        raise RuntimeError(
            "rt.current_context() is only available inside a running task (an attempt started by an "
            "executor); calling the task's function directly runs it without one."
        )
    return _current


def set_context(context: TaskContext | None) -> None:
    """Install (or, with ``None``, clear) the running attempt's context: the runtime's job."""
    global _current
    _current = context
