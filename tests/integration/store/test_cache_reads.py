"""Reading many cache entries at once (``cache_get_many``), on SQLite and PostgreSQL."""

from __future__ import annotations

import retune as rt
from retune.store import CachePut, NewExecution, NewNode, open_store


@rt.task(cache=True)
def square(x: int) -> int:
    return x * x


@rt.workflow
def one(x: int = 2) -> int:
    return square(x=x)


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
