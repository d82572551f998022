"""Registering workflows written as source text, as ``retune register`` would."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retune.model.spec import WorkflowSpec


def register_source(
    plane: Any, source: str, directory: Path, workflows: Sequence[str] = ("wf",)
) -> tuple[Any, list[WorkflowSpec]]:
    """Register workflows written as ``source``, as ``retune register`` would: the text becomes
    a module of a fresh name under ``directory/flows``, its ``workflows`` are compiled, the
    folder is bundled and everything registered in ``p/d`` at ``v1`` through ``plane`` (a
    ``ControlPlane``). Returns the imported module and the workflows' specs."""
    import importlib
    import sys

    from retune.api import compile
    from retune.control.bundles import build_bundle
    from retune.model.control import Registration

    root = directory / "flows"
    root.mkdir()
    name = f"flows_{uuid.uuid4().hex[:8]}"  # a module name no other test has imported
    (root / f"{name}.py").write_text(source)
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
    specs = [compile(getattr(module, workflow)).spec for workflow in workflows]
    tasks = {task.name: task for spec in specs for task in spec.tasks.values()}
    bundle = plane.put_bundle(build_bundle(root))
    registration = Registration(
        project="p",
        domain="d",
        version="v1",
        bundle=bundle,
        workflows=tuple(specs),
        tasks=tuple(tasks.values()),
    )
    plane.register(registration)
    return module, specs
