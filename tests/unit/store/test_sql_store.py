"""SqlStore keeps what the engine writes: specs, executions, nodes, attempts, cache.

Every test runs on SQLite and on PostgreSQL (``database_url`` in conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

import retune as rt
from retune.model.execution import TERMINAL, Attempt, AttemptKind, CacheStatus, Capacity, Phase
from retune.model.spec import WorkflowSpec
from retune.store import (
    AttemptChange,
    CachePut,
    Conflict,
    ExecutionChange,
    IllegalTransition,
    NewExecution,
    NewNode,
    NodeChange,
    NotFound,
)
from retune.store.sql import SqlStore

from .flows_store import pipeline

SPEC: WorkflowSpec = rt.compile(pipeline).spec
RESOLVED = rt.resolve(pipeline, overrides={"total": {"environment": {"A": "b"}}}, name="ex-1")
PATHS = list(RESOLVED)  # n0 (hook "first"), n1, n2 (hook "total")


def new_execution(
    execution_id: str = "ex-1", *, created_at: float = 0.0, reverse: bool = False
) -> NewExecution:
    paths = list(reversed(PATHS)) if reverse else PATHS
    return NewExecution(
        id=execution_id,
        workflow=SPEC.name,
        workflow_version="v1",
        inputs={"x": 3},
        nodes=[NewNode(path, RESOLVED[path]) for path in paths],
        launch_plan="nightly",
        overrides={"total": {"environment": {"A": "b"}}},
        created_at=created_at,
    )


@pytest.fixture
def execution(store: SqlStore) -> str:
    store.create_execution(new_execution())
    return "ex-1"


def attempt(number: int = 1, phase: Phase = Phase.RUNNING, **fields: Any) -> Attempt:
    return Attempt(number=number, phase=phase, kind=AttemptKind.USER, **fields)


# -- executions ------------------------------------------------------------------------------


def test_the_record_of_a_new_execution_is_what_reading_it_back_gives(store: SqlStore) -> None:
    """``rt.run`` drives the execution it just created from ``NewExecution.record()`` without
    reading it back: the two must agree on everything the engine reads."""
    new = new_execution(created_at=1000.0)
    store.create_execution(new)

    stored, made = store.get_execution("ex-1"), new.record()

    assert (made.phase, made.error, made.inputs) == (stored.phase, stored.error, stored.inputs)
    assert [
        (n.path, n.hook, n.task, n.phase, n.cache, n.attempts, n.outputs, n.error, n.items)
        for n in made.nodes
    ] == [
        (n.path, n.hook, n.task, n.phase, n.cache, n.attempts, n.outputs, n.error, n.items)
        for n in stored.nodes
    ]
    assert [(n.config, dict(n.provenance)) for n in made.nodes] == [
        (n.config, dict(n.provenance)) for n in stored.nodes
    ]


def test_a_new_execution_reads_back_queued_with_its_nodes_in_creation_order(store: SqlStore) -> None:
    store.create_execution(new_execution(created_at=1000.0, reverse=True))

    ex = store.get_execution("ex-1")

    assert (ex.id, ex.workflow, ex.workflow_version, ex.phase) == ("ex-1", SPEC.name, "v1", Phase.QUEUED)
    assert (ex.inputs, ex.launch_plan, ex.created_at) == ({"x": 3}, "nightly", 1000.0)
    assert ex.overrides == {"total": {"environment": {"A": "b"}}}
    assert (ex.outputs, ex.error, ex.finished_at) == (None, None, None)
    assert [n.path for n in ex.nodes] == list(reversed(PATHS))
    for node in ex.nodes:
        resolved = RESOLVED[node.path]
        assert (node.hook, node.task, node.phase) == (resolved.hook, resolved.task, Phase.QUEUED)
        assert node.config == resolved.config
        assert dict(node.provenance) == dict(resolved.provenance)
        assert (node.attempts, node.outputs, node.error, node.cache) == ((), None, None, CacheStatus.DISABLED)


def test_provenance_survives_the_round_trip_with_layer_name_and_hook(store: SqlStore, execution: str) -> None:
    total = store.get_execution(execution).node("total")

    assert total.provenance["environment.A"] == rt.Source(rt.Layer.EXECUTION, "ex-1", "total")
    assert (total.config.environment, total.config.retries) == ({"A": "b"}, 1)
    first = store.get_execution(execution).node("first")
    assert (first.config.requests.cpu, first.config.retries) == (2.0, 3)
    assert first.provenance["retries"].layer is rt.Layer.WORKFLOW


def test_an_execution_without_a_creation_time_is_stamped_when_created(store: SqlStore) -> None:
    store.create_execution(new_execution(created_at=0.0))

    created_at = store.get_execution("ex-1").created_at
    assert created_at is not None and created_at > 1_600_000_000


def test_creating_an_execution_twice_is_a_conflict(store: SqlStore, execution: str) -> None:
    with pytest.raises(Conflict, match="'ex-1' already exists"):
        store.create_execution(new_execution())


def test_an_unknown_execution_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        store.get_execution("nope")


def test_an_execution_change_records_phase_outputs_error_and_finish_time(
    store: SqlStore, execution: str
) -> None:
    store.apply([ExecutionChange(execution, Phase.RUNNING, at=10.0)])
    assert store.get_execution(execution).phase is Phase.RUNNING
    assert store.get_execution(execution).finished_at is None

    store.apply([ExecutionChange(execution, Phase.FAILED, outputs=[1, "two"], error="boom", at=12.5)])

    ex = store.get_execution(execution)
    assert (ex.phase, ex.outputs, ex.error, ex.finished_at) == (Phase.FAILED, [1, "two"], "boom", 12.5)


def test_a_node_change_records_phase_cache_status_outputs_and_error(store: SqlStore, execution: str) -> None:
    first, second = PATHS[0], PATHS[1]
    store.apply(
        [
            NodeChange(
                execution, first, Phase.SUCCEEDED, cache=CacheStatus.HIT, outputs={"o0": {"k": [1.5]}}
            ),
            NodeChange(execution, second, Phase.FAILED, cache=CacheStatus.MISS, error="ValueError: no"),
        ]
    )

    nodes = {n.path: n for n in store.get_execution(execution).nodes}
    assert (nodes[first].phase, nodes[first].cache, nodes[first].outputs) == (
        Phase.SUCCEEDED,
        CacheStatus.HIT,
        {"o0": {"k": [1.5]}},
    )
    assert (nodes[second].phase, nodes[second].cache, nodes[second].error) == (
        Phase.FAILED,
        CacheStatus.MISS,
        "ValueError: no",
    )


def test_a_node_change_that_names_no_outputs_or_cache_status_keeps_those_recorded(
    store: SqlStore, execution: str
) -> None:
    path = PATHS[0]
    store.apply([NodeChange(execution, path, Phase.RUNNING, cache=CacheStatus.MISS, outputs={"partial": 1})])
    store.apply([NodeChange(execution, path, Phase.SUCCEEDED)])

    node = store.get_execution(execution).nodes[0]
    assert (node.phase, node.cache, node.outputs) == (Phase.SUCCEEDED, CacheStatus.MISS, {"partial": 1})


def test_a_node_may_go_back_to_queued_for_a_retry_and_its_error_is_replaced(
    store: SqlStore, execution: str
) -> None:
    path = PATHS[0]
    store.apply([NodeChange(execution, path, Phase.RUNNING)])
    store.apply([NodeChange(execution, path, Phase.QUEUED, error="attempt 1 failed")])
    store.apply([NodeChange(execution, path, Phase.RUNNING)])

    node = store.get_execution(execution).nodes[0]
    assert (node.phase, node.error) == (Phase.RUNNING, None)


def test_attempts_are_upserted_by_number_and_read_in_number_order(store: SqlStore, execution: str) -> None:
    path = PATHS[0]
    store.apply([AttemptChange(execution, path, attempt(2, Phase.RUNNING))])
    store.apply([AttemptChange(execution, path, attempt(1, Phase.RUNNING))])
    store.apply([AttemptChange(execution, path, attempt(1, Phase.FAILED, error="KeyError: 'a'"))])

    attempts = store.get_execution(execution).nodes[0].attempts
    assert [(a.number, a.phase, a.error) for a in attempts] == [
        (1, Phase.FAILED, "KeyError: 'a'"),
        (2, Phase.RUNNING, None),
    ]
    assert store.get_execution(execution).nodes[1].attempts == ()


def test_every_attempt_field_round_trips(store: SqlStore, execution: str) -> None:
    full = Attempt(
        number=3,
        phase=Phase.FAILED,
        kind=AttemptKind.SYSTEM,
        error="worker lost",
        capacity=Capacity.INTERRUPTIBLE,
        executor="ray",
        started_at=100.25,
        finished_at=101.5,
        logs={"stdout": "logs/ex-1/n0/3/stdout", "stderr": "logs/ex-1/n0/3/stderr"},
    )
    store.apply([AttemptChange(execution, PATHS[0], full)])

    (stored,) = store.get_execution(execution).nodes[0].attempts
    assert stored == full


def test_a_cache_put_is_read_back_by_key_and_a_later_put_replaces_it(store: SqlStore, execution: str) -> None:
    assert store.cache_get("key-1") is None

    store.apply([CachePut("key-1", {"o0": 1, "o1": "ü"}, execution, PATHS[0])])
    assert store.cache_get("key-1") == {"o0": 1, "o1": "ü"}

    store.apply([CachePut("key-1", {"o0": 2})])
    assert store.cache_get("key-1") == {"o0": 2}


def test_outputs_keep_their_key_order(store: SqlStore, execution: str) -> None:
    outputs = {"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}}
    store.apply([NodeChange(execution, PATHS[0], Phase.SUCCEEDED, outputs=outputs), CachePut("k", outputs)])

    assert list(store.get_execution(execution).nodes[0].outputs or {}) == ["zeta", "alpha", "mid"]
    assert list((store.cache_get("k") or {})["mid"]) == ["b", "a"]


# -- terminal phases are absorbing -----------------------------------------------------------


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_a_node_in_a_terminal_phase_cannot_change(store: SqlStore, execution: str, terminal: Phase) -> None:
    path = PATHS[1]
    store.apply([NodeChange(execution, path, terminal)])

    with pytest.raises(
        IllegalTransition, match=rf"Node '{path}' .* already {terminal.value}.*cannot become RUNNING"
    ):
        store.apply([NodeChange(execution, path, Phase.RUNNING)])
    with pytest.raises(IllegalTransition):
        store.apply([NodeChange(execution, path, terminal)])
    assert store.get_execution(execution).nodes[1].phase is terminal


@pytest.mark.parametrize("terminal", [Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED])
def test_an_execution_in_a_terminal_phase_cannot_change(
    store: SqlStore, execution: str, terminal: Phase
) -> None:
    store.apply([ExecutionChange(execution, terminal, outputs={"o0": 1})])

    with pytest.raises(IllegalTransition, match=rf"Execution 'ex-1' is already {terminal.value}"):
        store.apply([ExecutionChange(execution, Phase.RUNNING)])
    ex = store.get_execution(execution)
    assert (ex.phase, ex.outputs) == (terminal, {"o0": 1})


def test_an_illegal_change_rolls_back_the_whole_batch(store: SqlStore, execution: str) -> None:
    done, other = PATHS[0], PATHS[1]
    store.apply([NodeChange(execution, done, Phase.SUCCEEDED, outputs={"o0": 1})])
    before = store.get_execution(execution)

    with pytest.raises(IllegalTransition, match=rf"Node '{done}'.*Nothing in this batch was written"):
        store.apply(
            [
                ExecutionChange(execution, Phase.RUNNING),
                NodeChange(execution, other, Phase.RUNNING),
                AttemptChange(execution, other, attempt(1)),
                CachePut("key-1", {"o0": 1}, execution, other),
                NodeChange(execution, done, Phase.RUNNING),
            ]
        )

    assert store.get_execution(execution) == before
    assert store.cache_get("key-1") is None


def test_one_batch_may_start_and_finish_a_node(store: SqlStore, execution: str) -> None:
    path = PATHS[0]
    store.apply([NodeChange(execution, path, Phase.RUNNING), NodeChange(execution, path, Phase.SUCCEEDED)])

    assert store.get_execution(execution).nodes[0].phase is Phase.SUCCEEDED


def test_one_batch_cannot_move_a_node_it_finished(store: SqlStore, execution: str) -> None:
    path = PATHS[0]

    with pytest.raises(IllegalTransition, match="already SUCCEEDED"):
        store.apply(
            [NodeChange(execution, path, Phase.SUCCEEDED), NodeChange(execution, path, Phase.RUNNING)]
        )
    assert store.get_execution(execution).nodes[0].phase is Phase.QUEUED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (ExecutionChange("nope", Phase.RUNNING), "No execution 'nope'"),
        (NodeChange("ex-1", "n99", Phase.RUNNING), "No node 'n99' in execution 'ex-1'"),
        (AttemptChange("ex-1", "n99", Attempt(1, Phase.RUNNING, AttemptKind.USER)), "No node 'n99'"),
        (NodeChange("nope", "n0", Phase.RUNNING), "No node 'n0' in execution 'nope'"),
    ],
    ids=["execution", "node", "attempt", "node-of-unknown-execution"],
)
def test_a_change_to_something_that_does_not_exist_is_illegal(
    store: SqlStore, execution: str, change: Any, message: str
) -> None:
    with pytest.raises(IllegalTransition, match=message):
        store.apply([ExecutionChange(execution, Phase.RUNNING), change])

    assert store.get_execution(execution).phase is Phase.QUEUED


# -- listing ---------------------------------------------------------------------------------


def test_executions_are_listed_newest_first_up_to_the_limit(store: SqlStore) -> None:
    for execution_id, created_at in [("a", 10.0), ("b", 30.0), ("c", 20.0), ("d", 30.0)]:
        store.create_execution(new_execution(execution_id, created_at=created_at))
    store.apply([ExecutionChange("c", Phase.SUCCEEDED, outputs=5, at=40.0)])

    listed = store.list_executions(limit=3)

    assert [e.id for e in listed] == ["d", "b", "c"]  # equal times: the later created first
    assert all(e.nodes == () for e in listed)
    assert (listed[2].phase, listed[2].outputs, listed[2].finished_at) == (Phase.SUCCEEDED, 5, 40.0)
    assert [e.id for e in store.list_executions()] == ["d", "b", "c", "a"]


# -- cache reservations ----------------------------------------------------------------------


def test_a_free_key_is_reserved_by_its_first_owner_only(store: SqlStore) -> None:
    assert store.cache_reserve("key", "engine-a", ttl=60)
    assert not store.cache_reserve("key", "engine-b", ttl=60)
    assert store.cache_reserve("other-key", "engine-b", ttl=60)


def test_the_owner_renewing_its_reservation_extends_it(store: SqlStore) -> None:
    assert store.cache_reserve("key", "engine-a", ttl=0)  # would lapse at once
    assert store.cache_reserve("key", "engine-a", ttl=60)  # the heartbeat

    assert not store.cache_reserve("key", "engine-b", ttl=60)


def test_an_expired_reservation_goes_to_the_next_owner(store: SqlStore) -> None:
    assert store.cache_reserve("key", "engine-a", ttl=0)

    assert store.cache_reserve("key", "engine-b", ttl=60)
    assert not store.cache_reserve("key", "engine-a", ttl=60)


def test_a_released_reservation_is_free_but_only_its_owner_can_release_it(store: SqlStore) -> None:
    store.cache_reserve("key", "engine-a", ttl=60)

    store.cache_release("key", "engine-b")
    assert not store.cache_reserve("key", "engine-b", ttl=60)

    store.cache_release("key", "engine-a")
    assert store.cache_reserve("key", "engine-b", ttl=60)


def test_the_newest_registered_spec_is_read_anew_after_another_version_is_registered(store: SqlStore) -> None:
    # Specs are kept by content hash once read: a new version must still be found as the newest.
    first, second = {"name": "wf", "location": "a.py:1"}, {"name": "wf", "location": "b.py:2"}
    store.register("p", "d", "v1", [("workflow", first)], None)
    assert store.registered("workflow", "p", "d", "wf").spec == first

    store.register("p", "d", "v2", [("workflow", second)], None)

    assert (
        store.registered("workflow", "p", "d", "wf").version,
        store.registered("workflow", "p", "d", "wf").spec,
    ) == ("v2", second)
    assert store.registered("workflow", "p", "d", "wf", "v1").spec == first


def test_the_latest_cache_entry_of_a_task_keeps_its_parts_and_a_node_its_cache_reason(
    store: SqlStore, execution: str
) -> None:
    assert store.cache_latest("flows.train") is None
    store.apply([CachePut("old", {"o0": 1}, execution, PATHS[0])])  # as written before revision 0005
    assert store.cache_latest("flows.train") is None

    store.apply([CachePut("k1", {"o0": 1}, execution, PATHS[0], "flows.train", {"container_image": "py311"})])
    store.apply([CachePut("k2", {"o0": 2}, execution, PATHS[0], "flows.train", {"container_image": "py312"})])
    store.apply([CachePut("k3", {"o0": 3}, execution, PATHS[0], "flows.other", {"container_image": "py313"})])
    reason = "cache miss: container_image changed ('py311' -> 'py312')"
    store.apply(
        [NodeChange(execution, PATHS[0], Phase.SUCCEEDED, CacheStatus.MISS, {"o0": 2}, cache_reason=reason)]
    )

    assert store.cache_latest("flows.train") == {"container_image": "py312"}
    node = store.get_execution(execution).nodes[0]
    assert (node.cache, node.cache_reason) == (CacheStatus.MISS, reason)
    assert node.to_dict()["cache_reason"] == reason
