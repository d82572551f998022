"""Inputs of a node from its bindings: execution inputs, upstream outputs, literals, lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from retune.model.spec import Binding


def upstream(binding: Binding) -> Iterator[str]:
    """Paths of the nodes a binding reads from."""
    if binding.kind == "output":
        assert binding.node is not None
        yield binding.node
    elif binding.kind == "list":
        for item in binding.items:
            yield from upstream(item)


def value_of(binding: Binding, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """The encoded value a binding stands for, once its upstream nodes have succeeded."""
    if binding.kind == "input":
        assert binding.name is not None
        return inputs[binding.name]
    if binding.kind == "output":
        assert binding.node is not None and binding.name is not None
        return outputs[binding.node][binding.name]
    if binding.kind == "list":
        return [value_of(item, inputs, outputs) for item in binding.items]
    return to_jsonable_python(binding.value)
