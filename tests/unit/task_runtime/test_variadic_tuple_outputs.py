"""A known disagreement (a bug in ``retune.sdk.specs.output_params``), kept failing until fixed.

``-> tuple[int, ...]`` is one output (a tuple of any length). The task runtime names it ``o0``;
the SDK's interface declares two outputs, ``o0: int`` and ``o1: any`` (the ``...`` read as a
second element), so a workflow binding ``o1`` would compile and then find nothing.
"""

from __future__ import annotations

from retune.sdk.specs import output_params
from retune.task_runtime.calls import output_names


def test_a_variadic_tuple_return_is_one_output_for_the_sdk_and_the_runtime() -> None:
    assert output_names(tuple[int, ...]) is None  # the runtime: one output, o0
    assert [p.name for p in output_params(tuple[int, ...])] == ["o0"]
