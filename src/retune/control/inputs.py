"""Launch inputs checked without the workflow's code: JSON values against the interface's
type strings (``int``, ``list[str]``, ``optional[float]``, ``dict[str, int]``).

What cannot be checked from a type string (dataclasses, pydantic models, enums, files) is
passed on as sent; the task process decodes it with the real annotation and a mismatch fails
that node with the codec's message. Every given value is first held to the codec's limits
(``retune.model.values.limits``: depth, integer digits, size, blob references), the same ones
``rt.run`` and task outputs meet, so what is accepted can be stored and read back.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from retune.errors import InputError
from retune.model.spec import Interface, LaunchPlanSpec, Param
from retune.model.types import parse_type
from retune.model.values import LimitExceeded, check_given, encode, shown

_FLOAT_MAX = int(sys.float_info.max)


def launch_inputs(
    workflow: str, interface: Interface, given: Mapping[str, Any], launch_plan: LaunchPlanSpec | None
) -> dict[str, Any]:
    """The inputs of a launch: given ones checked, launch plan defaults and fixed inputs and the
    workflow's own defaults filled in. Raises ``InputError`` naming the input."""
    how = 'retune launch -i {name}=VALUE, or "inputs": {{"{name}": ...}} in the API'
    picked = pick_inputs(workflow, interface, given, launch_plan, how_to_give=how)
    params = {p.name: p for p in interface.inputs}
    return {
        name: checked(name, params[name], value) if name in given else value for name, value in picked.items()
    }


def pick_inputs(
    workflow: str,
    interface: Interface,
    given: Mapping[str, Any],
    launch_plan: LaunchPlanSpec | None,
    *,
    how_to_give: str,
) -> dict[str, Any]:
    """Every input's value, in the interface's order: the given one, else the launch plan's fixed
    or default one, else the workflow's default. ``InputError`` for an input the workflow does
    not have, one the launch plan fixes, or one nobody gives (``how_to_give`` says how, with
    ``{name}``). The one rule for ``rt.run`` and launches; each then checks values its way."""
    params = {p.name: p for p in interface.inputs}
    fixed = launch_plan.fixed_inputs if launch_plan else {}
    defaults = launch_plan.default_inputs if launch_plan else {}
    for name in given:
        if name not in params:
            raise InputError(
                f"Workflow {workflow!r} has no input {name!r}",
                input=name,
                fix=f"Its inputs are: {', '.join(sorted(params)) or 'none'}.",
            )
        if name in fixed:
            raise InputError(
                f"Input {name!r} is fixed by launch plan {launch_plan.name if launch_plan else ''!r}",
                input=name,
                fix="Leave it out, or use a launch plan that does not fix it.",
            )
    values: dict[str, Any] = {}
    for name, param in params.items():
        if name in given:
            values[name] = given[name]
        elif name in fixed or name in defaults:
            values[name] = fixed[name] if name in fixed else defaults[name]
        elif param.has_default:
            values[name] = param.default
        else:
            raise InputError(
                f"Workflow {workflow!r} needs input {name!r} ({param.type})",
                input=name,
                fix=f"Give it a value ({how_to_give.format(name=name)}).",
            )
    return values


def checked(name: str, param: Param, value: Any) -> Any:
    """``value`` as the encoded form of ``param.type``, or ``InputError``."""
    value = as_float(param.type, value)
    check_limits(name, value)
    problem = problem_of(value, param.type, name)
    if problem is not None:
        raise InputError(
            f"Input {name!r} expects {param.type}, got {shown(value)}: {problem}",
            input=name,
            fix=f"Pass a value of type {param.type}.",
        )
    return value


def as_float(type_: str, value: Any) -> Any:
    """A number given for a ``float`` input as the float codec stores it: an int as a float, and
    a non-finite float (JSON bodies parsed by Python may hold ``NaN``) as ``"NaN"``, ``"Infinity"``
    or ``"-Infinity"``. Other values as they are."""
    if type_ != "float" or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    try:
        return encode(value, float)
    except (TypeError, ValueError):  # an int too large for a float: problem_of's message says so
        return value


def check_given_inputs(given: Mapping[str, Any]) -> None:
    """Hold the inputs of a request to the limits before anything reads them whole (the request's
    hash is JSON of it, which a 5,000-digit integer or 300 levels of nesting would break).
    A float is left to ``checked``, which knows whether the input takes ``NaN`` as a float."""
    for name, value in given.items():
        if type(value) is not float:
            check_limits(name, value)


def check_limits(name: str, value: Any, origin: str = "Input") -> None:
    """Refuse a value a client hands over that could not be stored and read back, or that holds
    a blob reference it may not (``retune.model.values.limits``), naming the input and the limit."""
    try:
        check_given(value)
    except LimitExceeded as exc:
        raise InputError(f"{origin} {name!r} cannot be stored: {exc}", input=name, fix=exc.fix) from None


def problem_of(value: Any, type_: str, where: str) -> str | None:
    """What is wrong with ``value`` as a JSON value of ``type_``, or None."""
    head, args = parse_type(type_)
    if head == "any" or ":" in head or head in ("datetime", "date", "timedelta", "bytes"):
        return None  # not checkable from the type string alone: the task decodes it
    if head == "optional":
        return None if value is None else problem_of(value, args[0], where)
    if head == "none":
        return None if value is None else f"{where} must be null"
    if head == "bool":
        return None if isinstance(value, bool) else f"{where} must be true or false"
    if head == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{where} must be an integer"
    if head == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return f"{where} must be a number"
        if isinstance(value, str) and value not in ("NaN", "Infinity", "-Infinity"):
            return f"{where} must be a number"
        if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            return f"{where} must be a number a float can hold (at most about 1.8e308)"
        return None
    if head == "str":
        return None if isinstance(value, str) else f"{where} must be a string"
    if head in ("list", "set", "tuple"):
        if not isinstance(value, list):
            return f"{where} must be a list"
        inner = args[0] if args else "any"
        for i, item in enumerate(value):
            problem = problem_of(item, inner, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if head == "dict":
        if not isinstance(value, dict):
            return f"{where} must be an object"
        inner = args[1] if len(args) == 2 else "any"
        for key, item in value.items():
            problem = problem_of(item, inner, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    return None
