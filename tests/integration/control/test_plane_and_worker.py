"""The control plane's verbs and the worker, in process, on real SQLite and PostgreSQL stores and
a real local executor: registration is immutable, refused requests create nothing, launches are
idempotent, relaunch carries overrides over, recover re-runs only what failed, abort stops a
queued or a running execution, and claims hand each execution to one worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import retune as rt
from retune.control import LocalControlPlane
from retune.errors import InputError, OverrideError, RequestRefused
from retune.executors.local import LocalExecutor
from retune.model.control import ExecutionRequest, LaunchPlanRequest, Registration, RelaunchRequest
from retune.model.execution import Phase
from retune.store import Conflict, NotFound, open_blobs, open_store
from retune.testing import register_source
from retune.worker import Worker

FLOWS = """
import os
import time
import retune as rt


@rt.task
def double(x: int) -> int:
    time.sleep(float(os.environ.get("SLOW", "0")))
    return x * 2


@rt.task
def finish(a: int, b: int) -> int:
    if os.environ.get("FAIL") == "yes":
        raise ValueError("asked to fail")
    return a + b + int(os.environ.get("BONUS", "0"))


@rt.workflow
def wf(x: int = 2) -> int:
    a = double(x=x).with_runtime_override("first")
    b = double(x=a)
    return finish(a=a, b=b).with_runtime_override("last")
"""


@dataclass
class Setup:
    plane: LocalControlPlane
    worker: Worker
    workflow: str
    flows: Path

    def launch(self, **fields: object) -> str:
        request = ExecutionRequest.model_validate({"project": "p", "domain": "d", **fields})
        return self.plane.launch(request)[0].id


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    store, blobs = open_store(database_url), open_blobs(tmp_path / "blobs")
    plane = LocalControlPlane(store, blobs)
    (spec,) = register_source(plane, FLOWS, tmp_path)[1]
    executor = LocalExecutor(blobs)
    worker = Worker(store, blobs, executor, lease=1.5, poll=0.05)
    try:
        yield Setup(plane, worker, spec.name, tmp_path / "flows")
    finally:
        executor.close()
        store.close()


def _registration(spec: rt.model.spec.WorkflowSpec, bundle: str, version: str = "v1") -> Registration:
    return Registration(
        project="p",
        domain="d",
        version=version,
        bundle=bundle,
        workflows=(spec,),
        tasks=tuple(spec.tasks.values()),
    )


def test_registering_the_same_version_again_is_a_no_op_and_other_content_is_refused(setup: Setup) -> None:
    found = setup.plane.get_workflow("p", "d", setup.workflow)
    again = setup.plane.register(_registration(found.spec, found.bundle or ""))
    assert {e.created for e in again.entities} == {False}
    changed = found.spec.model_copy(update={"location": "elsewhere.py:1"})
    with pytest.raises(
        Conflict,
        match=r"version .v1. is already registered in p/d with other content: workflow \S+ \(location\)",
    ):
        setup.plane.register(_registration(changed, found.bundle or ""))
    assert setup.plane.get_workflow("p", "d", setup.workflow).spec == found.spec


def test_refused_launches_name_what_is_wrong_and_create_nothing(setup: Setup) -> None:
    cases = [
        ({"overrides": {"frist": {"retries": 1}}}, OverrideError, "Did you mean 'first'"),
        ({"overrides": {"first": {"retries": "many"}}}, OverrideError, "field 'retries'"),
        ({"inputs": {"x": "two"}}, InputError, "Input 'x' expects int"),
        ({"inputs": {"y": 1}}, InputError, "has no input 'y'"),
    ]
    for fields, error, message in cases:
        with pytest.raises(error, match=message):
            setup.launch(workflow=setup.workflow, **fields)
    with pytest.raises(NotFound, match="its versions are 'v1'"):
        setup.launch(workflow=setup.workflow, version="v9")
    with pytest.raises(NotFound, match="No workflow 'nope'"):
        setup.launch(workflow="nope")
    assert setup.plane.list_executions(project="p") == []


def test_a_launch_plan_with_an_unknown_hook_or_a_mistyped_input_is_refused(setup: Setup) -> None:
    base = {"project": "p", "domain": "d", "name": "nightly", "workflow": setup.workflow}
    with pytest.raises(OverrideError, match="no hook 'lats'"):
        setup.plane.create_launch_plan(
            LaunchPlanRequest.model_validate({**base, "runtime_override": {"lats": {}}})
        )
    with pytest.raises(InputError, match="must be an integer"):
        setup.plane.create_launch_plan(
            LaunchPlanRequest.model_validate({**base, "default_inputs": {"x": "a"}})
        )
    with pytest.raises(NotFound):
        setup.plane.get_launch_plan("p", "d", "nightly")


def test_executions_are_listed_by_workflow_and_phase_and_know_the_spec_they_ran(setup: Setup) -> None:
    first = setup.launch(workflow=setup.workflow)
    second = setup.launch(workflow=setup.workflow, inputs={"x": 5})
    setup.plane.abort(first)

    listed = setup.plane.list_executions(project="p", workflow=setup.workflow)
    assert [e.id for e in listed] == [second, first] and all(e.nodes == () for e in listed)
    assert [e.id for e in setup.plane.list_executions(phase=Phase.ABORTED)] == [first]
    assert [e.id for e in setup.plane.list_executions(phase=Phase.QUEUED, domain="d")] == [second]
    assert setup.plane.list_executions(workflow="other.wf") == []
    spec, content_hash = setup.plane.spec_of(setup.plane.get_execution(second))
    assert spec.name == setup.workflow
    assert content_hash == setup.plane.store.registered("workflow", "p", "d", setup.workflow).content_hash


def test_the_same_idempotency_key_returns_the_first_execution(setup: Setup) -> None:
    first = setup.launch(workflow=setup.workflow, idempotency_key="k-1")
    assert setup.launch(workflow=setup.workflow, idempotency_key="k-1") == first
    with pytest.raises(Conflict, match="Idempotency key 'k-1' was used for another request"):
        setup.launch(workflow=setup.workflow, inputs={"x": 9}, idempotency_key="k-1")
    assert len(setup.plane.list_executions(project="p")) == 1


def test_a_worker_runs_a_launch_plan_with_every_layer_and_relaunch_carries_overrides_over(
    setup: Setup,
) -> None:
    setup.plane.create_launch_plan(
        LaunchPlanRequest(
            project="p",
            domain="d",
            name="nightly",
            workflow=setup.workflow,
            default_inputs={"x": 5},
            runtime_override={"last": {"environment": {"BONUS": "100"}}},
        )
    )
    first = setup.launch(launch_plan="nightly", overrides={"first": {"retries": 3}})
    assert setup.worker.serve(once=True) == 1
    record = setup.plane.get_execution(first)
    assert (record.phase, record.outputs) == (Phase.SUCCEEDED, 5 * 2 + 5 * 4 + 100)
    assert record.node("last").provenance["environment.BONUS"].layer.value == "launch_plan"

    again = setup.plane.relaunch(first, RelaunchRequest(overrides={"last": {"environment": {"BONUS": "1"}}}))
    assert again.parent_id == first
    assert again.overrides == {"first": {"retries": 3}, "last": {"environment": {"BONUS": "1"}}}
    setup.worker.serve(once=True)
    rerun = setup.plane.get_execution(again.id)
    assert rerun.outputs == 31
    assert rerun.node("first").config.retries == 3


def test_recover_reruns_only_the_failed_nodes_with_the_parents_config(setup: Setup) -> None:
    failed = setup.launch(workflow=setup.workflow, overrides={"last": {"environment": {"FAIL": "yes"}}})
    setup.worker.serve(once=True)
    parent = setup.plane.get_execution(failed)
    assert parent.phase is Phase.FAILED
    with pytest.raises(RequestRefused, match="only a FAILED or ABORTED one"):
        setup.plane.recover(setup.launch(workflow=setup.workflow))

    recovered = setup.plane.recover(failed)
    assert recovered.node("first").phase is Phase.SUCCEEDED  # carried over, not run again
    assert recovered.node("last").config == parent.node("last").config
    setup.worker.serve(once=True)
    done = setup.plane.get_execution(recovered.id)
    # The parent's resolved config comes along, FAIL=yes included: the node fails the same way.
    assert done.node("last").phase is Phase.FAILED
    assert done.node("first").attempts == ()  # the succeeded nodes never ran in the recovery
    assert done.node("n1").attempts == ()


def test_abort_stops_a_queued_execution_at_once_and_a_running_one_at_its_next_heartbeat(setup: Setup) -> None:
    queued = setup.launch(workflow=setup.workflow)
    assert setup.plane.abort(queued).phase is Phase.ABORTED
    assert setup.worker.serve(once=True) == 0

    running = setup.launch(workflow=setup.workflow, overrides={"first": {"environment": {"SLOW": "3"}}})
    thread = threading.Thread(target=setup.worker.serve, kwargs={"once": True})
    thread.start()
    _wait(lambda: setup.plane.get_execution(running).phase is Phase.RUNNING)
    began = time.monotonic()
    setup.plane.abort(running)
    thread.join(timeout=30)
    record = setup.plane.get_execution(running)
    assert record.phase is Phase.ABORTED
    assert time.monotonic() - began < 2.5  # well before the 3 s task would have finished
    assert {n.phase for n in record.nodes} == {Phase.ABORTED}


def test_an_expired_lease_is_adopted_and_a_live_one_is_not(setup: Setup) -> None:
    execution_id = setup.launch(workflow=setup.workflow)
    store = setup.plane.store
    assert store.claim_execution("dead-worker", 0.5) == execution_id
    assert store.claim_execution("other", 0.5) is None  # held
    time.sleep(0.6)
    assert store.claim_execution("adopter", 5) == execution_id
    assert not store.renew_lease(execution_id, "dead-worker", 5).held


def test_concurrent_claims_hand_each_execution_to_exactly_one_worker(setup: Setup) -> None:
    ids = {setup.launch(workflow=setup.workflow, inputs={"x": i}) for i in range(12)}
    url = setup.plane.store.url  # type: ignore[attr-defined]
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        store = open_store(url)
        try:
            while (found := store.claim_execution(name, 60)) is not None:
                with lock:
                    claimed.append(found)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)


def _wait(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _poison_inputs(store: object, execution_id: str) -> None:
    """Make an execution's stored inputs unreadable, as a value written by hand or by an older
    retune could be: valid JSON, but an integer Python's ``json`` refuses to read (5,000 digits)."""
    import sqlalchemy as sa

    from retune.store.sql import tables as t

    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    huge = '\'{"x": ' + "7" * 5000 + "}'" + ("" if engine.dialect.name == "sqlite" else "::json")
    with engine.begin() as conn:
        conn.execute(
            sa.update(t.executions).where(t.executions.c.id == execution_id).values(inputs=sa.text(huge))
        )


def _phase_and_error(store: object, execution_id: str) -> tuple[str, str | None]:
    import sqlalchemy as sa

    from retune.store.sql import tables as t

    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    x = t.executions
    with engine.begin() as conn:
        row = conn.execute(sa.select(x.c.phase, x.c.error).where(x.c.id == execution_id)).one()
    return row.phase, row.error


def test_an_execution_the_worker_cannot_process_fails_with_a_system_error_and_the_queue_moves_on(
    setup: Setup,
) -> None:
    poisoned = setup.launch(workflow=setup.workflow)
    _poison_inputs(setup.plane.store, poisoned)
    healthy = setup.launch(workflow=setup.workflow)

    assert setup.worker.serve(once=True) == 2  # returned: it did not die of the first one

    store = setup.plane.store
    assert store.claim_execution("another-worker", 5) is None  # nothing is left to claim again
    assert store.get_execution(healthy).phase is Phase.SUCCEEDED
    phase, error = _phase_and_error(store, poisoned)  # its record cannot be read: its inputs are what failed
    assert phase == Phase.FAILED.value
    assert error is not None and error.startswith(f"system error: worker {setup.worker.name} could not run")
    assert "Cannot read the inputs of execution" in error and "4300 digits" in error


def test_a_worker_s_name_is_on_the_executions_it_ran(setup: Setup) -> None:
    execution_id = setup.launch(workflow=setup.workflow)

    setup.worker.serve(once=True)

    record = setup.plane.get_execution(execution_id)
    assert (record.phase, record.worker) == (Phase.SUCCEEDED, setup.worker.name)
    assert record.to_dict()["worker"] == setup.worker.name
