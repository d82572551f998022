"""``rt.current_context()``: the running attempt, or a clear error outside one."""

from __future__ import annotations

import pytest

import retune as rt
from retune.task_runtime import context
from retune.task_runtime.context import TaskContext, current_context


def test_outside_a_task_the_context_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"only available inside a running task"):
        current_context()


def test_inside_an_attempt_the_context_names_it() -> None:
    installed = TaskContext("e1", "sub/n0", 2, "flows.train", {"threads": 4}, {"retries": 1})
    context.set_context(installed)
    try:
        assert current_context() is installed
        assert (current_context().node, current_context().attempt) == ("sub/n0", 2)
    finally:
        context.set_context(None)


def test_a_runners_extras_are_on_the_context_while_the_function_runs_and_lazy_ones_only_when_read() -> None:
    from retune.task_runtime import context
    from retune.task_runtime.main import _with_extras

    made: list[str] = []

    def session() -> str:
        made.append("session")
        return "a session"

    context.set_context(context.TaskContext("ex-1", "n0", 1, "t"))
    try:
        untouched = _with_extras(
            {"sql": "a connection"}, {"spark": session}, lambda: rt.current_context().sql
        )
        assert untouched == "a connection"
        assert made == [], "a lazy extra nobody reads is never made"
        twice = _with_extras(
            {}, {"spark": session}, lambda: (rt.current_context().spark, rt.current_context().spark)
        )
        assert twice == ("a session", "a session")
        assert made == ["session"], "made once, on first access"
        with pytest.raises(AttributeError, match="has no 'spark' in this task"):
            rt.current_context().spark  # gone once the call returned
    finally:
        context.set_context(None)
