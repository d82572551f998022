"""What the execution page reads: every node's progress without its config (``execution_progress``)
and one node whole (``get_node``), each the same as ``get_execution`` says. On SQLite,
PostgreSQL and the in-memory double alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from retune.model.execution import Attempt, AttemptKind, CacheStatus, NodeProgress, Phase
from retune.store import AttemptChange, NodeChange, NotFound, open_store
from retune.store.base import ControlStore
from retune.testing import MemoryStore

from .test_sql_store import PATHS, new_execution


@pytest.fixture(params=["sql", "memory"])
def any_store(request: pytest.FixtureRequest, database_url: str) -> Iterator[ControlStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with open_store(database_url) as opened:
        yield opened


def tried(number: int, phase: Phase, item: int | None = None) -> Attempt:
    return Attempt(
        number=number, phase=phase, kind=AttemptKind.USER, item=item, logs={"stdout": f"logs/{number}"}
    )


@pytest.fixture
def started(any_store: ControlStore) -> ControlStore:
    """ex-1: n0 succeeded after a retry, n1 a map of 3 items (item 1 retrying), n2 queued."""
    any_store.create_execution(new_execution())
    n0, n1 = PATHS[0], PATHS[1]
    any_store.apply(
        [
            NodeChange("ex-1", n0, Phase.SUCCEEDED, CacheStatus.MISS, {"o0": 1}, cache_reason="new inputs"),
            AttemptChange("ex-1", n0, tried(1, Phase.FAILED)),
            AttemptChange("ex-1", n0, tried(2, Phase.SUCCEEDED)),
            NodeChange("ex-1", n1, Phase.RUNNING, items=3),
            AttemptChange("ex-1", n1, tried(1, Phase.SUCCEEDED, item=0)),
            AttemptChange("ex-1", n1, tried(2, Phase.FAILED, item=1)),
            AttemptChange("ex-1", n1, tried(3, Phase.RUNNING, item=1)),
            AttemptChange("ex-1", n1, tried(4, Phase.FAILED, item=2)),
        ]
    )
    return any_store


def test_progress_says_each_nodes_phase_cache_attempts_and_items(started: ControlStore) -> None:
    execution, nodes = started.execution_progress("ex-1")

    assert execution == replace(started.get_execution("ex-1"), nodes=())
    assert nodes == (
        NodeProgress(PATHS[0], "first", nodes[0].task, Phase.SUCCEEDED, CacheStatus.MISS, 2),
        NodeProgress(
            PATHS[1],
            None,
            nodes[1].task,
            Phase.RUNNING,
            CacheStatus.DISABLED,
            4,
            {"total": 3, "succeeded": 1, "failed": 1, "running": 1, "aborted": 0},
        ),
        NodeProgress(PATHS[2], "total", nodes[2].task, Phase.QUEUED, CacheStatus.DISABLED, 0),
    )
    whole = started.get_execution("ex-1").nodes
    assert [(n.path, n.hook, n.task, n.item_counts()) for n in whole] == [
        (p.path, p.hook, p.task, p.items) for p in nodes
    ]


def test_one_node_is_read_whole_by_path_or_by_hook(started: ControlStore) -> None:
    whole = started.get_execution("ex-1")
    execution, node = started.get_node("ex-1", PATHS[0])
    assert execution == replace(whole, nodes=()) and node == whole.nodes[0]
    assert [a.number for a in node.attempts] == [1, 2] and node.cache_reason == "new inputs"
    assert started.get_node("ex-1", "total")[1] == whole.nodes[2]
    assert started.get_node("ex-1", PATHS[1])[1].item_counts() == whole.nodes[1].item_counts()


def test_an_unknown_execution_or_node_is_not_found(started: ControlStore) -> None:
    with pytest.raises(NotFound):
        started.execution_progress("ex-none")
    with pytest.raises(NotFound):
        started.get_node("ex-none", PATHS[0])
    with pytest.raises(NotFound, match="has no node or hook 'nope'"):
        started.get_node("ex-1", "nope")
