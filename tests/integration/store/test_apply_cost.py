"""What persisting one task costs: the two batches the engine applies per attempt; and reading
the cache entries of many ready nodes at once.

Measured and printed (``pytest -s``), not asserted: timing belongs to ``make bench``. The test
asserts that everything measured was written.
"""

from __future__ import annotations

import time

import pytest

import retune as rt
from retune.model.execution import Attempt, AttemptKind, CacheStatus, Phase
from retune.store import AttemptChange, CachePut, NewExecution, NewNode, NodeChange, open_store

NODES = 500


@rt.task(cache=True)
def square(x: int) -> int:
    return x * x


@rt.workflow
def one(x: int = 2) -> int:
    return square(x=x)


def test_apply_cost_of_a_typical_task(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = next(iter(rt.resolve(one).values()))
    paths = [f"n{i}" for i in range(NODES)]
    with open_store(database_url) as store:
        started = time.perf_counter()
        store.create_execution(
            NewExecution("ex-1", "one", "v1", {"x": 2}, [NewNode(p, config) for p in paths])
        )
        created = time.perf_counter() - started
        start_cost = finish_cost = 0.0
        for i, path in enumerate(paths):
            t0 = time.perf_counter()
            store.apply(
                [
                    NodeChange("ex-1", path, Phase.RUNNING, cache=CacheStatus.MISS),
                    AttemptChange("ex-1", path, Attempt(1, Phase.RUNNING, AttemptKind.USER, started_at=t0)),
                ]
            )
            t1 = time.perf_counter()
            store.apply(
                [
                    AttemptChange(
                        "ex-1",
                        path,
                        Attempt(1, Phase.SUCCEEDED, AttemptKind.USER, started_at=t0, finished_at=t1),
                    ),
                    NodeChange("ex-1", path, Phase.SUCCEEDED, outputs={"o0": i * i}),
                    CachePut(f"square-{i}", {"o0": i * i}, "ex-1", path),
                ]
            )
            start_cost += t1 - t0
            finish_cost += time.perf_counter() - t1
        t0 = time.perf_counter()
        ex = store.get_execution("ex-1")
        read = time.perf_counter() - t0

        assert [n.phase for n in ex.nodes] == [Phase.SUCCEEDED] * NODES
        assert [n.outputs for n in ex.nodes] == [{"o0": i * i} for i in range(NODES)]
        assert {len(n.attempts) for n in ex.nodes} == {1}
        assert store.cache_get(f"square-{NODES - 1}") == {"o0": (NODES - 1) ** 2}

    backend = database_url.split(":", 1)[0]
    with capsys.disabled():
        print(
            f"\n[{backend}] per task: start batch {start_cost / NODES * 1e6:.0f} us, "
            f"finish batch {finish_cost / NODES * 1e6:.0f} us; create_execution {created / NODES * 1e6:.0f} us/node; "
            f"get_execution {read / NODES * 1e6:.0f} us/node ({NODES} nodes)"
        )


def test_many_cache_entries_are_read_in_one_call_and_only_those_that_exist(database_url: str) -> None:
    resolved = rt.resolve(one)
    path = next(iter(resolved))
    with open_store(database_url) as store:
        store.create_execution(NewExecution("ex-a", "one", "v1", {}, [NewNode(path, resolved[path])]))
        keys = [f"k{i}" for i in range(300)] + ['it\'s "quoted"', "ünï"]
        store.apply([CachePut(key, {"o0": i}, "ex-a", path) for i, key in enumerate(keys) if i % 3 == 0])

        found = store.cache_get_many([*keys, "absent"])

        assert found == {key: {"o0": i} for i, key in enumerate(keys) if i % 3 == 0}
        assert store.cache_get_many([]) == {}
        assert all(store.cache_get(key) == outputs for key, outputs in found.items())
