"""``FILE:WORKFLOW`` -> the workflow (or launch plan) object, with errors a user can act on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from retune.cli.errors import UsageError


def load_target(reference: str) -> Any:
    """Import ``FILE`` as a module named after it and return its attribute ``WORKFLOW``."""
    file, sep, name = reference.rpartition(":")
    if not sep or not file or not name:
        raise UsageError(f"{reference!r} is not FILE:WORKFLOW", "Write e.g. retune run flows.py:pipeline.")
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"file {file!r} does not exist", "Check the path to the Python file.")
    module = _import(path)
    target = getattr(module, name, None)
    from retune.sdk.workflow import Workflow

    if not isinstance(target, Workflow) and not _is_launch_plan(target):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Workflow))
        what = "nothing" if target is None else f"a {type(target).__name__}"
        raise UsageError(
            f"{name!r} in {file} is {what}, not a @workflow",
            f"Workflows in {file}: {', '.join(found) or 'none'}.",
        )
    return target


def _is_launch_plan(target: object) -> bool:
    """Whether ``target`` is a ``LaunchPlan``, without importing its module (and pydantic with
    it, ~100 ms of ``retune run FILE:WORKFLOW --help``): a file that made one has imported it."""
    module = sys.modules.get("retune.sdk.launch_plan")
    return module is not None and isinstance(target, module.LaunchPlan)


def _import(path: Path) -> Any:
    name = path.stem
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path.resolve()):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}", "Is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(
            f"{path} has a syntax error at line {exc.lineno}: {exc.msg}", "Fix the file."
        ) from None
    return module
