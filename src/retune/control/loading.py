"""A registered workflow and its tasks, as whoever drives an execution needs them.

The spec comes from the registry; each task names its code bundle (a reference's tasks keep
their own), which the executor installs from the blob store; tasks the bundle sends by value
come with their pickle. Used by workers, by ``retune executions resume`` and by ``rt.run``
itself (local runs are registered under ``model.control.LOCAL``), so all of them run the same
code from the store alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from retune.executors.base import TaskRef, Template
from retune.executors.bundles import bundle_key, check_digest, pickled_tasks
from retune.model.spec import WorkflowSpec
from retune.store.base import BlobStore, ControlStore


def load_registered(
    store: ControlStore, blobs: BlobStore, project: str, domain: str, workflow: str, version: str
) -> tuple[WorkflowSpec, Mapping[str, TaskRef]]:
    """Raises the store's ``NotFound``, or ``BundleError`` for a bundle that cannot be read."""
    found = store.registered("workflow", project, domain, workflow, version)
    spec = WorkflowSpec.model_validate(found.spec)
    return spec, task_refs(spec, found.bundle, bundle_pickles(blobs, found.bundle))


def task_refs(
    spec: WorkflowSpec, bundle: str | None = None, pickled: Mapping[str, bytes] | None = None
) -> dict[str, TaskRef]:
    """How a task process finds each task: in ``bundle`` (a reference's tasks in their own), by
    value when ``pickled`` holds it."""
    pickled = pickled or {}
    return {
        name: TaskRef(
            name=name,
            module=task.module,
            qualname=task.qualname,
            task_type=task.task_type,
            pickled=pickled.get(name),
            bundle=task.bundle or bundle,
            template=None
            if task.definition is None
            else Template(
                task.definition,
                tuple((p.name, p.type) for p in task.interface.inputs),
                tuple((p.name, p.type) for p in task.interface.outputs),
            ),
        )
        for name, task in spec.tasks.items()
    }


def bundle_pickles(blobs: BlobStore, bundle: str | None) -> dict[str, bytes]:
    """The tasks ``bundle`` sends by value; reading it also shows that the bundle is whole."""
    if bundle is None:
        return {}
    return pickled_tasks(check_digest(blobs.get(bundle_key(bundle)), bundle))
