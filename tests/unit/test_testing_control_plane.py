"""The control plane and a worker over the doubles alone: ``LocalControlPlane(MemoryStore(),
MemoryBlobStore())`` serves every verb, and ``Worker`` runs what it launched on ``InlineExecutor``
— no database, no task process, no files but the extracted bundle."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import retune as rt
from retune.control import LocalControlPlane
from retune.model.control import ExecutionRequest, Registration, RelaunchRequest
from retune.model.execution import Phase
from retune.testing import InlineExecutor, MemoryBlobStore, MemoryStore, register_source
from retune.worker import Worker

FLOWS = """
import retune as rt


@rt.task(retries=0)
def double(x: int) -> int:
    return x * 2


@rt.task
def finish(a: int, b: int) -> int:
    if a < 0:
        raise ValueError("a must not be negative")
    return a + b


@rt.workflow
def wf(x: int = 2) -> int:
    a = double(x=x).with_runtime_override("first")
    return finish(a=a, b=x).with_runtime_override("last")
"""


@dataclass
class Doubles:
    store: MemoryStore
    plane: LocalControlPlane
    worker: Worker
    workflow: str

    def launch(self, **fields: object) -> str:
        return self.plane.launch(self.request(**fields))[0].id

    def request(self, **fields: object) -> ExecutionRequest:
        return ExecutionRequest.model_validate(
            {"project": "p", "domain": "d", "workflow": self.workflow, **fields}
        )


@pytest.fixture
def doubles(tmp_path: Path) -> Iterator[Doubles]:
    store, blobs = MemoryStore(), MemoryBlobStore()
    plane = LocalControlPlane(store, blobs)
    (spec,) = register_source(plane, FLOWS, tmp_path)[1]
    executor = InlineExecutor()
    worker = Worker(store, blobs, executor, name="w1", poll=0.01)
    try:
        yield Doubles(store, plane, worker, spec.name)
    finally:
        executor.close()


def test_a_launched_execution_is_run_by_a_worker_over_the_doubles(doubles: Doubles) -> None:
    launched = doubles.launch(inputs={"x": 5}, overrides={"first": {"retries": 2}})

    assert doubles.worker.serve(once=True) == 1

    done = doubles.plane.get_execution(launched)
    assert (done.phase, done.outputs, done.worker) == (Phase.SUCCEEDED, 15, "w1")
    assert done.node("first").config.retries == 2
    assert [e.id for e in doubles.plane.list_executions(project="p")] == [launched]


def test_registering_again_is_a_no_op_and_hooks_are_read_from_the_registry(doubles: Doubles) -> None:
    found = doubles.plane.get_workflow("p", "d", doubles.workflow)
    again = doubles.plane.register(
        Registration(project="p", domain="d", version="v1", bundle=found.bundle, workflows=(found.spec,))
    )

    assert [e.created for e in again.entities] == [False]
    assert sorted(doubles.plane.hooks("p", "d", doubles.workflow)) == ["first", "last"]


def test_a_dry_run_over_the_doubles_answers_every_node_s_config_and_stores_nothing(doubles: Doubles) -> None:
    shown, created = doubles.plane.launch(doubles.request(overrides={"last": {"retries": 4}}), dry_run=True)

    assert created is False
    assert shown.node("last").config.retries == 4
    assert shown.node("last").provenance["retries"].layer is rt.Layer.EXECUTION
    assert doubles.store.executions == {}
    assert doubles.plane.list_executions() == []


def test_relaunch_recover_and_abort_over_the_doubles(doubles: Doubles) -> None:
    failed = doubles.launch(inputs={"x": -1}, overrides={"last": {"environment": {"K": "v"}}})
    doubles.worker.serve(once=True)
    assert doubles.plane.get_execution(failed).phase is Phase.FAILED

    again = doubles.plane.relaunch(failed, RelaunchRequest(overrides={"last": {"retries": 1}}))
    recovered = doubles.plane.recover(failed)
    aborted = doubles.plane.abort(again.id)

    assert again.parent_id == failed
    assert again.node("last").config.environment == {"K": "v"}  # carried over from the parent
    assert again.node("last").config.retries == 1
    assert recovered.node("first").phase is Phase.SUCCEEDED  # kept, not run again
    assert recovered.node("last").phase is Phase.QUEUED
    assert aborted.phase is Phase.ABORTED
    assert doubles.worker.serve(once=True) == 1  # the recovery; the aborted one is never claimed
    assert doubles.plane.get_execution(recovered.id).node("first").attempts == ()
