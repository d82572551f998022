"""Paging the launched executions (``list_launched(before=)``), on SQLite and PostgreSQL: newest
first by creation time then id, each page after the last execution of the one before, so that
walking the pages lists every execution once, ties of the clock included."""

from __future__ import annotations

import pytest

import retune as rt
from retune.model.execution import Phase
from retune.store import NewExecution, NewNode, NotFound, open_store


@rt.task
def square(x: int) -> int:
    return x * x


@rt.workflow
def one(x: int = 2) -> int:
    return square(x=x)


def test_walking_the_pages_lists_every_execution_once_newest_first(database_url: str) -> None:
    resolved = rt.resolve(one)
    nodes = [NewNode(path, config) for path, config in resolved.items()]
    # 25 executions over 10 instants (so most share theirs with others), written in no order
    created = {f"ex-{(n * 7) % 25:02d}": 1000.0 + (n * 7) % 10 for n in range(25)}
    with open_store(database_url) as store:
        for execution_id, at in created.items():
            store.create_execution(
                NewExecution(execution_id, "one", "v1", {}, nodes, created_at=at, project="p", domain="d")
            )
        store.create_execution(NewExecution("ex-local", "one", "v1", {}, nodes, created_at=1005.0))
        store.request_abort("ex-03")

        expected = sorted(created, key=lambda i: (created[i], i), reverse=True)
        walked: list[str] = []
        before = None
        while page := [e.id for e in store.list_launched(limit=4, before=before)]:
            walked += page
            before = page[-1]
        assert walked == expected

        queued = [e.id for e in store.list_launched(phase=Phase.QUEUED, before=expected[0], limit=100)]
        assert queued == [i for i in expected[1:] if i != "ex-03"]
        assert [e.id for e in store.list_launched(before="ex-local", limit=100)] == [
            i for i in expected if (created[i], i) < (1005.0, "ex-local")
        ]
        with pytest.raises(NotFound):
            store.list_launched(before="ex-nope")


def test_every_execution_pages_the_same_way_local_runs_included(database_url: str) -> None:
    """``list_executions`` (``retune executions list`` without a server): runs of ``rt.run`` and
    launched executions together, in the same order and with the same cursor."""
    resolved = rt.resolve(one)
    nodes = [NewNode(path, config) for path, config in resolved.items()]
    created = {f"ex-{n:02d}": 2000.0 + n % 4 for n in range(11)}
    with open_store(database_url) as store:
        for n, (execution_id, at) in enumerate(created.items()):
            launched = {"project": "p", "domain": "d"} if n % 2 else {}
            store.create_execution(
                NewExecution(execution_id, "one", "v1", {}, nodes, created_at=at, **launched)
            )

        expected = sorted(created, key=lambda i: (created[i], i), reverse=True)
        walked: list[str] = []
        before = None
        while page := store.list_executions(limit=3, before=before):
            assert all(e.nodes == () for e in page)
            walked += [e.id for e in page]
            before = page[-1].id
        assert walked == expected
        with pytest.raises(NotFound, match="No execution 'ex-nope' to list the executions before"):
            store.list_executions(before="ex-nope")
