"""``rt.map_task(t)``: one node that runs ``t`` once per item; a hook on it covers every item."""

from __future__ import annotations

from typing import Any

from retune.errors import CompileError
from retune.sdk import tracing
from retune.sdk.promise import Promise, promise_for
from retune.sdk.task import Task, make_node


class MapTask:
    """Call it inside ``@workflow`` with lists for every input of the mapped task."""

    def __init__(self, task: Task[Any, Any]) -> None:
        if not isinstance(task, Task):
            raise CompileError(f"map_task takes a @task, not {task!r}.")
        self.task = task

    @property
    def name(self) -> str:
        return self.task.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        context = tracing.current()
        if context is None:
            columns = self.task.signature.bind(*args, **kwargs).arguments
            rows = zip(*columns.values(), strict=True)
            return [self.task.fn(**dict(zip(columns, row, strict=True))) for row in rows]
        node = make_node(self.task, context, args, kwargs, is_map=True)
        return promise_for(node)

    def __repr__(self) -> str:
        return f"MapTask({self.name})"


def map_task(task: Task[Any, Any]) -> MapTask:
    """Map ``task`` over lists: ``rt.map_task(square)(x=[1, 2, 3])``."""
    return MapTask(task)


__all__ = ["MapTask", "Promise", "map_task"]
