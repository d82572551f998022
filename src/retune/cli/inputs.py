"""Workflow inputs as typed command-line flags: ``--x 3 --name abc --items '[1, 2]'``."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retune.cli.errors import UsageError

if TYPE_CHECKING:  # pydantic: only a workflow that is run needs it
    from retune.model.spec import Param


@dataclass(frozen=True)
class SignatureInput:
    """One input as ``retune run FILE:WORKFLOW --help`` shows it: what ``Workflow.interface``
    says of it (``sdk.specs.input_params``), read from the signature without pydantic."""

    name: str
    type: str
    has_default: bool
    default: Any


def signature_inputs(fn: Callable[..., Any], signature: inspect.Signature) -> list[SignatureInput]:
    """The inputs of the workflow function ``fn`` (whose ``signature`` the SDK keeps), in order."""
    from retune.sdk.types import type_of

    hints = typing.get_type_hints(fn)
    found = []
    for name, parameter in signature.parameters.items():
        has_default = parameter.default is not inspect.Parameter.empty
        default = parameter.default if has_default else None
        found.append(
            SignatureInput(name, type_of(hints.get(name, parameter.annotation)), has_default, default)
        )
    return found


def parse_input_flags(args: Sequence[str], params: Sequence[Param]) -> dict[str, Any]:
    """``["--x", "3"]`` -> ``{"x": 3}``, each value converted by the input's type."""
    by_flag = {f"--{p.name}": p for p in params} | {f"--{p.name.replace('_', '-')}": p for p in params}
    values: dict[str, Any] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        flag, eq, inline = flag.partition("=")
        param = by_flag.get(flag)
        if param is None:
            known = ", ".join(f"--{p.name}" for p in params) or "none"
            raise UsageError(f"unknown option {flag!r}", f"The workflow's inputs are: {known}.")
        if eq:
            raw = inline
        elif rest:
            raw = rest.pop(0)
        else:
            raise UsageError(f"{flag} needs a value", f"Write {flag} VALUE ({param.type}).")
        values[param.name] = convert(raw, param)
    return values


def convert(raw: str, param: Param) -> Any:
    """``--NAME VALUE`` of ``retune run``: ``read_value``, then a scalar input's type checked here
    (anything else is checked against the workflow's annotation by ``rt.run``)."""
    kind = param.type
    value = read_value(raw, kind, f"--{param.name}")
    expected = {"int": int, "float": float, "bool": bool}.get(kind)
    if expected is not None and (
        not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    ):
        raise UsageError(
            f"--{param.name} expects {kind}, got {raw!r}",
            f"Pass a value of type {kind}, e.g. --{param.name} {_example(kind)}.",
        )
    return value


def read_value(raw: str, kind: str, label: str) -> Any:
    """The one grammar of an input given as text (``retune run --x VALUE``, ``retune launch -i
    x=VALUE``, the web form): ``retune.model.values.text.read_text``, after refusing an integer
    too long to store with a message naming ``label``."""
    from retune.model.values.text import read_text

    refuse_long_int(raw, label)
    return read_text(raw, kind)


def parse_int(raw: str, label: str) -> int:
    """``int(raw)``, with a message naming the limit for an integer too long to store."""
    refuse_long_int(raw, label)
    return int(raw)


def refuse_long_int(raw: str, label: str) -> None:
    """A ``UsageError`` naming the limit if ``raw`` is an integer of more digits than a value may have."""
    digits = raw.strip().lstrip("+-").replace("_", "")
    if digits.isdigit() and len(digits) > sys.get_int_max_str_digits():
        raise UsageError(
            f"{label} is an integer of {len(digits)} digits, over the limit of "
            f"{sys.get_int_max_str_digits()} digits a value may have",
            "Pass it as text (a str input) or in a file (rt.File).",
        )


def _example(kind: str) -> str:
    return {"int": "3", "float": "0.5", "bool": "true", "str": "text"}.get(kind, "'[1, 2]'")
