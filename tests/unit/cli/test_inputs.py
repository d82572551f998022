"""The inputs `retune run FILE:WORKFLOW --help` reads from a signature are the workflow's interface."""

from __future__ import annotations

import contextlib
import datetime
from typing import Any, NamedTuple

import pytest

import retune as rt
from retune.cli.inputs import read_value, signature_inputs


class Pair(NamedTuple):
    a: int
    b: str


@rt.workflow
def plain(x: int, name: str = "n", rate: float = 0.5, on: bool = True) -> int:
    return x


@rt.workflow
def shaped(
    items: list[int],
    table: dict[str, float] | None = None,
    when: datetime.date | None = None,
    pair: Pair | None = None,
    anything: Any = None,
    unannotated=3,
) -> None:
    return None


@pytest.mark.parametrize("workflow", [plain, shaped], ids=["plain", "shaped"])
def test_signature_inputs_are_the_interface_inputs(workflow: rt.Workflow[Any, Any]) -> None:
    read = signature_inputs(workflow.fn, workflow.signature)

    assert [(i.name, i.type, i.has_default, i.default) for i in read] == [
        (p.name, p.type, p.has_default, p.default) for p in workflow.interface.inputs
    ]


@pytest.mark.parametrize(
    "text", ["0", "-0", "+7", "42", "-42", "12345678901234567890", "007", "1_000", "0x1f"]
)
@pytest.mark.parametrize("kind", ["int", "float", "bool", "any", "list[int]"])
def test_an_integer_on_the_command_line_reads_as_yaml_reads_it(text: str, kind: str) -> None:
    import yaml

    expected = yaml.safe_load(text)
    if kind == "float":  # a float input reads 7 as 7.0 (and 0x1f as YAML does)
        with contextlib.suppress(ValueError):
            expected = float(text)
    if kind == "bool" and expected in (0, 1):
        expected = bool(expected)

    value = read_value(text, kind, "--x")

    assert (value, type(value)) == (expected, type(expected))
