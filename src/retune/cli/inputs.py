"""Workflow inputs as typed command-line flags: ``--x 3 --name abc --items '[1, 2]'``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from retune.cli.errors import UsageError

if TYPE_CHECKING:  # pydantic: only a workflow that is run needs it
    from retune.model.spec import Param


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
    kind = param.type
    try:
        if kind == "str":
            return raw
        if kind == "int":
            return parse_int(raw, f"--{param.name}")
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes")
        return json.loads(raw) if raw[:1] in '[{"' or raw in ("null", "true", "false") else _scalar(raw)
    except ValueError:
        raise UsageError(
            f"--{param.name} expects {kind}, got {raw!r}",
            f"Pass a value of type {kind}, e.g. --{param.name} {_example(kind)}.",
        ) from None


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


def _scalar(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _example(kind: str) -> str:
    return {"int": "3", "float": "0.5", "bool": "true", "str": "text"}.get(kind, "'[1, 2]'")
