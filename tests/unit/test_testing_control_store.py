"""``retune.testing.MemoryStore`` is a ``ControlStore`` that behaves like the SQL store: every
test runs the same operations on both (SQLite and the double) and expects the same answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import retune as rt
from retune.model.execution import Phase
from retune.store import Conflict, ExecutionChange, NewExecution, NewNode, NotFound, open_store
from retune.store.base import ControlStore, Lease
from retune.store.sql import SqlStore
from retune.store.sql.tables import executions
from retune.testing import MemoryStore

SHORT = 0.01  # a lease that has run out once the test slept twice as long


@rt.task
def square(x: int) -> int:
    return x * x


@rt.workflow
def flow(x: int = 2) -> int:
    return square(x=x).with_runtime_override("sq")


RESOLVED = rt.resolve(flow)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with open_store(f"sqlite:///{tmp_path}/retune.db") as opened:
        yield opened


def launched(
    store: ControlStore,
    execution_id: str,
    *,
    project: str | None = "p",
    workflow: str = "flow",
    **fields: Any,
) -> str:
    nodes = [NewNode(path, resolved) for path, resolved in RESOLVED.items()]
    store.create_execution(
        NewExecution(
            id=execution_id,
            workflow=workflow,
            workflow_version="v1",
            inputs={"x": 2},
            nodes=nodes,
            project=project,
            domain="d" if project else None,
            **fields,
        )
    )
    return execution_id


def spec(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "location": "flow.py:1", **fields}


# -- the registry ----------------------------------------------------------------------------


def test_registering_the_same_content_again_is_a_no_op_keeping_the_first_record(
    store: ControlStore,
) -> None:
    (first,) = store.register("p", "d", "v1", [("workflow", spec("wf"))], "b1")
    (again,) = store.register("p", "d", "v1", [("workflow", spec("wf"))], "b1")

    assert (first.created, again.created) == (True, False)
    assert (again.spec, again.bundle, again.created_at) == (first.spec, "b1", first.created_at)
    assert again.content_hash == first.content_hash != ""


def test_other_content_under_a_taken_version_is_a_conflict_naming_what_differs_and_writes_nothing(
    store: ControlStore,
) -> None:
    store.register("p", "d", "v1", [("workflow", spec("wf")), ("task", spec("t"))], "b1")

    with pytest.raises(Conflict) as raised:
        store.register(
            "p",
            "d",
            "v1",
            [("launch_plan", spec("lp")), ("workflow", spec("wf", location="other.py:2"))],
            "b2",
        )

    assert str(raised.value).startswith(
        "Refused: version 'v1' is already registered in p/d with other content: "
        "workflow wf (location, code bundle). "
    )
    assert "under a new version" in str(raised.value)
    with pytest.raises(NotFound):
        store.registered("launch_plan", "p", "d", "lp", "v1")  # the new item of the refused batch
    assert store.registered("workflow", "p", "d", "wf", "v1").spec == spec("wf")


def test_without_a_version_the_newest_is_read_and_a_missing_one_lists_what_exists(
    store: ControlStore,
) -> None:
    store.register("p", "d", "v1", [("workflow", spec("wf"))], None)
    store.register("p", "d", "v2", [("workflow", spec("wf", location="flow.py:9"))], None)
    store.register("p", "d", "v1", [("workflow", spec("other"))], None)

    assert store.registered("workflow", "p", "d", "wf").version == "v2"
    assert store.registered("workflow", "p", "d", "wf", "v1").spec == spec("wf")
    with pytest.raises(
        NotFound, match=r"No version 'v9' of workflow 'wf' in p/d; its versions are 'v1', 'v2'\."
    ):
        store.registered("workflow", "p", "d", "wf", "v9")
    with pytest.raises(NotFound, match=r"No workflow 'nope' in p/d \(registered ones: other, wf\)\."):
        store.registered("workflow", "p", "d", "nope")
    with pytest.raises(NotFound, match=r"No launch plan 'wf' in p/d \(none is registered there\)\."):
        store.registered("launch_plan", "p", "d", "wf")
    with pytest.raises(NotFound, match="none is registered there"):
        store.registered("workflow", "p", "elsewhere", "wf")


def test_registered_entities_are_listed_by_name_newest_version_first(store: ControlStore) -> None:
    store.register("p", "d", "v1", [("workflow", spec("b")), ("workflow", spec("a"))], None)
    store.register("p", "d", "v2", [("workflow", spec("b", location="x.py:1"))], None)
    store.register("p", "other", "v1", [("workflow", spec("c"))], None)

    listed = store.list_registered("workflow", "p", "d")

    assert [(r.name, r.version) for r in listed] == [("a", "v1"), ("b", "v2"), ("b", "v1")]
    assert [r.version for r in store.list_registered("workflow", "p", "d", "b")] == ["v2", "v1"]
    assert store.list_registered("task", "p", "d") == []


# -- claims and leases -----------------------------------------------------------------------


def test_a_claim_takes_the_oldest_launched_execution_and_never_a_local_run(store: ControlStore) -> None:
    launched(store, "local", project=None)
    launched(store, "first")
    launched(store, "second")

    assert store.claim_execution("w1", lease=60) == "first"
    assert store.claim_execution("w2", lease=60) == "second"
    assert store.claim_execution("w3", lease=60) is None
    assert store.get_execution("first").worker == "w1"


def test_a_live_execution_whose_lease_ran_out_is_claimed_again_but_a_finished_one_never(
    store: ControlStore,
) -> None:
    # "done" is claimed and finished before "adopted" is launched: a second claim made while
    # "adopted" held its SHORT lease could find it lapsed already on a loaded machine.
    launched(store, "done")
    assert store.claim_execution("dead", lease=SHORT) == "done"
    store.apply([ExecutionChange("done", Phase.SUCCEEDED)])
    launched(store, "adopted")
    assert store.claim_execution("dead", lease=SHORT) == "adopted"
    store.apply([ExecutionChange("adopted", Phase.RUNNING)])
    time.sleep(2 * SHORT)

    assert store.claim_execution("w2", lease=60) == "adopted"
    assert store.claim_execution("w3", lease=60) is None
    assert store.get_execution("adopted").worker == "w2"


def test_a_released_execution_can_be_claimed_at_once(store: ControlStore) -> None:
    launched(store, "ex")
    store.claim_execution("w1", lease=60)

    store.release_execution("ex", "someone-else")  # only its holder releases it
    assert store.claim_execution("w2", lease=60) is None
    store.release_execution("ex", "w1")

    assert store.claim_execution("w2", lease=60) == "ex"


def test_taking_an_execution_held_by_another_live_lease_names_the_holder_and_changes_nothing(
    store: ControlStore,
) -> None:
    launched(store, "ex", project=None)  # a local run: ``retune run`` and ``resume`` take it
    assert store.take_execution("ex", "run-a", lease=60) is None

    assert store.take_execution("ex", "run-b", lease=60) == "run-a"
    assert store.take_execution("ex", "run-a", lease=60) is None  # its holder takes it again
    assert store.renew_lease("ex", "run-b", lease=60).held is False
    assert store.get_execution("ex").worker == "run-a"


def test_an_execution_created_held_is_its_drivers_until_its_lease_runs_out(store: ControlStore) -> None:
    launched(store, "ex", project=None, worker="run-a", lease=60)  # rt.run: no take after creating
    launched(store, "brief", project=None, worker="run-a", lease=SHORT)

    assert store.get_execution("ex").worker == "run-a"
    assert store.take_execution("ex", "run-b", lease=60) == "run-a"
    assert store.take_execution("ex", "run-a", lease=60) is None
    time.sleep(2 * SHORT)
    assert store.take_execution("brief", "run-b", lease=60) is None  # its driver died: taken over


def test_an_execution_that_ends_holds_no_lease(store: ControlStore) -> None:
    launched(store, "ex", project=None, worker="run-a", lease=60)
    assert lease_of(store, "ex") is not None
    store.apply([ExecutionChange("ex", Phase.RUNNING)])
    assert lease_of(store, "ex") is not None

    store.apply([ExecutionChange("ex", Phase.SUCCEEDED, outputs=4)])  # its driver releases nothing

    assert lease_of(store, "ex") is None
    assert store.get_execution("ex").worker == "run-a"  # who ran it last stays recorded


def test_a_change_without_outputs_keeps_those_recorded_and_its_error_replaces_the_last(
    store: ControlStore,
) -> None:
    launched(store, "ex", project=None)
    store.apply([ExecutionChange("ex", Phase.RUNNING, outputs=4, error="a worker was lost; resumed", at=1.0)])
    store.apply([ExecutionChange("ex", Phase.RUNNING, at=2.0)])
    running = store.get_execution("ex")
    assert (running.outputs, running.error, running.finished_at) == (4, None, None)

    store.apply([ExecutionChange("ex", Phase.FAILED, error="node n0 failed", at=3.0)])
    ended = store.get_execution("ex")
    assert (ended.phase, ended.outputs, ended.error, ended.finished_at) == (
        Phase.FAILED,
        4,
        "node n0 failed",
        3.0,
    )


def lease_of(store: ControlStore, execution_id: str) -> float | None:
    """When the execution's lease runs out (None: it holds none): a column the record leaves out."""
    if isinstance(store, MemoryStore):
        return store.holds[execution_id].expires
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.select(executions.c.lease_expires_at).where(executions.c.id == execution_id)
        ).scalar()
    return None if found is None else float(found)


def test_an_execution_whose_lease_ran_out_is_taken_over_and_a_finished_one_is_not(
    store: ControlStore,
) -> None:
    launched(store, "ex")
    launched(store, "done")
    store.take_execution("ex", "dead", lease=SHORT)
    store.take_execution("done", "dead", lease=60)
    store.apply([ExecutionChange("done", Phase.FAILED, error="boom")])
    time.sleep(2 * SHORT)

    assert store.take_execution("ex", "run-b", lease=60) is None
    assert store.take_execution("done", "run-b", lease=60) == "dead"
    assert store.take_execution("nope", "run-b", lease=60) == ""


def test_only_the_holder_renews_a_lease_and_only_while_the_execution_is_live(store: ControlStore) -> None:
    launched(store, "ex")
    store.claim_execution("w1", lease=60)

    assert store.renew_lease("ex", "w1", lease=60) == Lease(held=True, abort_requested=False)
    assert store.renew_lease("ex", "w2", lease=60) == Lease(held=False, abort_requested=False)
    store.apply([ExecutionChange("ex", Phase.SUCCEEDED, outputs=4)])
    assert store.renew_lease("ex", "w1", lease=60) == Lease(held=False, abort_requested=False)


# -- aborts ----------------------------------------------------------------------------------


def test_aborting_a_queued_unclaimed_execution_aborts_it_and_its_nodes_at_once(store: ControlStore) -> None:
    launched(store, "ex")

    assert store.request_abort("ex") is True

    record = store.get_execution("ex")
    assert (record.phase, record.error) == (Phase.ABORTED, "aborted before it started")
    assert record.finished_at is not None
    assert {n.phase for n in record.nodes} == {Phase.ABORTED}
    assert store.claim_execution("w1", lease=60) is None


def test_aborting_a_claimed_execution_asks_its_worker_through_the_lease(store: ControlStore) -> None:
    launched(store, "ex")
    store.claim_execution("w1", lease=60)

    assert store.request_abort("ex") is False

    assert store.get_execution("ex").phase is Phase.QUEUED  # its worker's engine aborts it
    assert store.renew_lease("ex", "w1", lease=60) == Lease(held=True, abort_requested=True)


def test_aborting_a_finished_execution_changes_nothing_and_an_unknown_one_is_not_found(
    store: ControlStore,
) -> None:
    launched(store, "ex")
    store.apply([ExecutionChange("ex", Phase.SUCCEEDED, outputs=4)])

    assert store.request_abort("ex") is False
    assert store.get_execution("ex").phase is Phase.SUCCEEDED
    with pytest.raises(NotFound, match="No execution 'nope'"):
        store.request_abort("nope")


# -- idempotency and listing -----------------------------------------------------------------


def test_an_execution_is_found_by_its_idempotency_key_which_no_second_execution_may_reuse(
    store: ControlStore,
) -> None:
    launched(store, "ex", idempotency_key="key-1", request_hash="h1")

    assert store.find_execution("key-1") == ("ex", "h1")
    assert store.find_execution("key-2") is None
    with pytest.raises(Conflict):
        launched(store, "other", idempotency_key="key-1", request_hash="h2")
    with pytest.raises(Conflict, match="'ex' already exists"):
        launched(store, "ex")
    assert store.find_execution("key-1") == ("ex", "h1")


def test_launched_executions_are_listed_newest_first_without_nodes_or_local_runs(
    store: ControlStore,
) -> None:
    launched(store, "a")
    launched(store, "local", project=None)
    launched(store, "b")
    launched(store, "c", project="q")

    assert [e.id for e in store.list_launched()] == ["c", "b", "a"]
    assert [e.id for e in store.list_launched(project="p")] == ["b", "a"]
    assert [e.id for e in store.list_launched(project="p", domain="x")] == []
    assert [e.id for e in store.list_launched(limit=1)] == ["c"]
    assert all(e.nodes == () for e in store.list_launched())


def test_launched_executions_are_filtered_by_workflow_and_phase(store: ControlStore) -> None:
    launched(store, "a")
    launched(store, "b", workflow="other")
    launched(store, "c")
    store.request_abort("c")

    assert [e.id for e in store.list_launched(workflow="flow")] == ["c", "a"]
    assert [e.id for e in store.list_launched(workflow="other")] == ["b"]
    assert [e.id for e in store.list_launched(phase=Phase.ABORTED)] == ["c"]
    assert [e.id for e in store.list_launched(workflow="flow", phase=Phase.QUEUED)] == ["a"]
    assert store.list_launched(workflow="nope") == []
    assert store.list_launched(phase=Phase.SUCCEEDED) == []
    (summary,) = store.list_launched(phase=Phase.ABORTED)
    assert (summary.workflow, summary.project, summary.inputs, summary.nodes) == ("flow", "p", {"x": 2}, ())


def test_launched_executions_are_ordered_by_creation_time_then_id_whatever_the_order_written(
    store: ControlStore,
) -> None:
    launched(store, "b", created_at=20.0)
    launched(store, "late", created_at=5.0)  # written last, created first (another process's clock)
    launched(store, "a", created_at=20.0)  # the same instant as b: the id decides, for good
    launched(store, "c", created_at=30.0)

    assert [e.id for e in store.list_launched()] == ["c", "b", "a", "late"]


def test_launched_executions_are_paged_by_the_last_execution_of_the_page_before(
    store: ControlStore,
) -> None:
    for number, at in enumerate((10.0, 20.0, 20.0, 20.0, 30.0, 40.0)):
        launched(store, f"x{number}", created_at=at)
    launched(store, "local", project=None, created_at=25.0)
    launched(store, "q", project="q", created_at=35.0)

    pages, before = [], None
    while page := [e.id for e in store.list_launched(project="p", limit=2, before=before)]:
        pages.append(page)
        before = page[-1]
    assert pages == [["x5", "x4"], ["x3", "x2"], ["x1", "x0"]]
    assert [e.id for e in store.list_launched(before="x4")] == ["x3", "x2", "x1", "x0"]
    # the cursor may be of another project or a local run: it is a place in the order
    assert [e.id for e in store.list_launched(project="p", before="q")] == ["x4", "x3", "x2", "x1", "x0"]
    assert [e.id for e in store.list_launched(before="local", limit=1)] == ["x3"]
    store.request_abort("x1")
    assert [e.id for e in store.list_launched(phase=Phase.QUEUED, before="x2")] == ["x0"]


def test_paging_before_an_unknown_execution_is_not_found(store: ControlStore) -> None:
    launched(store, "a")
    with pytest.raises(NotFound, match="No execution 'nope' to list the executions before"):
        store.list_launched(before="nope")


def test_a_cache_entry_keeps_its_task_and_parts_and_a_node_why_it_missed(store: ControlStore) -> None:
    from retune.model.execution import CacheStatus
    from retune.store import CachePut, NodeChange

    execution = launched(store, "ex-cache", project=None)
    path = next(iter(RESOLVED))
    store.apply([CachePut("k1", {"o0": 4}, execution, path, "sq", {"inputs": "sha256:a"})])
    store.apply([CachePut("k2", {"o0": 9}, execution, path, "sq", {"inputs": "sha256:b"})])
    store.apply(
        [NodeChange(execution, path, Phase.SUCCEEDED, CacheStatus.MISS, {"o0": 9}, cache_reason="why")]
    )

    assert store.cache_latest("sq") == {"inputs": "sha256:b"}
    assert store.cache_latest("other") is None
    assert store.get_execution(execution).node(path).cache_reason == "why"


def test_every_execution_local_runs_included_is_listed_in_the_same_order_and_pages(
    store: ControlStore,
) -> None:
    for number, at in enumerate((10.0, 20.0, 20.0, 30.0)):
        launched(store, f"x{number}", created_at=at)
    launched(store, "local", project=None, created_at=20.0)

    pages, before = [], None
    while page := store.list_executions(limit=2, before=before):
        assert all(e.nodes == () for e in page)
        pages.append([e.id for e in page])
        before = page[-1].id

    assert pages == [["x3", "x2"], ["x1", "local"], ["x0"]]
    with pytest.raises(NotFound, match="No execution 'nope' to list the executions before"):
        store.list_executions(before="nope")
