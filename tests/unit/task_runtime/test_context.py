"""``rt.current_context()``: the running attempt, or a clear error outside one."""

from __future__ import annotations

import pytest

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
