"""A literal in workflow code is stored in the spec: one that cannot be is refused at its call site."""

from __future__ import annotations

import pytest

import retune as rt


@rt.task
def inc(x: int) -> int:
    return x + 1


def test_an_integer_literal_too_long_to_store_is_a_compile_error_naming_node_input_and_limit() -> None:
    @rt.workflow
    def huge() -> int:
        return inc(x=10**5000)

    with pytest.raises(rt.CompileError) as caught:
        rt.compile(huge)

    message = str(caught.value)
    assert "input 'x'" in message
    assert "4300 digits" in message
    assert "test_literal_limits.py:" in message  # where the literal was written


def test_a_literal_within_the_limits_compiles() -> None:
    @rt.workflow
    def fine() -> int:
        return inc(x=10**4000)

    assert rt.compile(fine).spec.nodes[0].inputs["x"].value == 10**4000
