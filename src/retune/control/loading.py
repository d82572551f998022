"""A registered workflow and its tasks, as whoever drives a launched execution needs them.

The spec comes from the registry; each task's code from its registered bundle (a reference's
tasks keep their own), extracted once per machine under ``cache``. Used by workers and by
``retune executions resume`` of a launched execution, so both import the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from retune.control.bundles import extract_bundle
from retune.control.local import bundle_key
from retune.executors.base import TaskRef
from retune.model.spec import WorkflowSpec
from retune.store.base import BlobStore, ControlStore


def load_registered(
    store: ControlStore,
    blobs: BlobStore,
    cache: Path,
    project: str,
    domain: str,
    workflow: str,
    version: str,
) -> tuple[WorkflowSpec, Mapping[str, TaskRef]]:
    """Raises the store's ``NotFound``, or ``BundleError`` for a bundle that cannot be read."""
    found = store.registered("workflow", project, domain, workflow, version)
    spec = WorkflowSpec.model_validate(found.spec)
    paths: dict[str | None, tuple[str, ...]] = {None: ()}
    tasks = {}
    for name, task in spec.tasks.items():
        bundle = task.bundle or found.bundle  # a reference's tasks keep their own bundle
        if bundle not in paths:
            data = blobs.get(bundle_key(bundle or ""))
            paths[bundle] = (str(extract_bundle(data, bundle or "", cache)),)
        tasks[name] = TaskRef(
            name=name,
            module=task.module,
            qualname=task.qualname,
            task_type=task.task_type,
            sys_path=paths[bundle],
            bundle=bundle,
        )
    return spec, tasks
