"""Several processes (and threads) share one store: one winner per reservation, one migration,
writers that wait for each other instead of failing."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from store_processes import open_fresh, race_for_keys

import retune as rt
from retune.model.execution import Attempt, AttemptKind, Phase
from retune.store import AttemptChange, NewExecution, NewNode, NodeChange, open_store
from retune.store.sql.schema import HEAD

PROCESSES = 8
KEYS = [f"cache-key-{i}" for i in range(20)]
SPAWN = multiprocessing.get_context("spawn")


def run_processes(target: Callable[..., None], args: Callable[[int, Any, Any], tuple[Any, ...]]) -> list[Any]:
    """Start PROCESSES processes behind one barrier; their reports, once all have exited cleanly."""
    start, results = SPAWN.Barrier(PROCESSES), SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=args(i, start, results)) for i in range(PROCESSES)]
    for process in processes:
        process.start()
    reports: list[Any] = []
    deadline = time.monotonic() + 180
    while len(reports) < PROCESSES and time.monotonic() < deadline:
        try:
            reports.append(results.get(timeout=0.5))
        except queue.Empty:
            if not any(p.is_alive() for p in processes):
                break  # one died without reporting
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert len(reports) == PROCESSES
    return reports


def race(url: str, ttl: float = 60.0) -> Counter[str]:
    """Every process tries every key (each from a different first key); key -> winning owner."""

    def args(i: int, start: Any, results: Any) -> tuple[Any, ...]:
        return (url, f"engine-{i}", KEYS[i:] + KEYS[:i], ttl, start, results)

    winners: dict[str, list[str]] = {key: [] for key in KEYS}
    for owner, won in run_processes(race_for_keys, args):
        for key in won:
            winners[key].append(owner)
    assert {key: len(owners) for key, owners in winners.items()} == dict.fromkeys(KEYS, 1)
    return Counter({key: owners[0] for key, owners in winners.items()})


def test_processes_racing_for_free_keys_get_exactly_one_winner_each(database_url: str) -> None:
    open_store(database_url).close()

    race(database_url)


def test_an_expired_reservation_goes_to_exactly_one_new_owner(database_url: str) -> None:
    with open_store(database_url) as store:
        assert all(store.cache_reserve(key, "crashed-engine", ttl=0) for key in KEYS)

    winners = race(database_url)

    assert "crashed-engine" not in set(winners.values())


def test_a_live_reservation_keeps_every_racer_out_while_its_owner_renews_it(database_url: str) -> None:
    with open_store(database_url) as store:
        assert all(store.cache_reserve(key, "holder", ttl=600) for key in KEYS)

        def args(i: int, start: Any, results: Any) -> tuple[Any, ...]:
            return (database_url, f"engine-{i}", KEYS, 60.0, start, results)

        assert [won for _, won in run_processes(race_for_keys, args)] == [[]] * PROCESSES
        assert all(store.cache_reserve(key, "holder", ttl=600) for key in KEYS)


def test_processes_opening_a_new_database_at_once_create_its_schema_exactly_once(database_url: str) -> None:
    reports = run_processes(open_fresh, lambda i, start, results: (database_url, start, results))

    assert sorted(reports) == [([], False, HEAD)] * (PROCESSES - 1) + [(["create"], False, HEAD)]
    with open_store(database_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


@rt.task
def step(x: int) -> int:
    return x


@rt.workflow
def fan(x: int = 1) -> None:
    for _ in range(16):
        step(x=x)


def test_threads_sharing_one_store_each_see_their_batches_committed(database_url: str) -> None:
    resolved = rt.resolve(fan)
    with open_store(database_url) as store:
        store.create_execution(
            NewExecution("ex-1", "fan", "v1", {}, [NewNode(p, c) for p, c in resolved.items()])
        )

        def work(path: str) -> None:
            for number in (1, 2, 3):
                store.apply(
                    [
                        NodeChange("ex-1", path, Phase.RUNNING),
                        AttemptChange("ex-1", path, Attempt(number, Phase.FAILED, AttemptKind.USER)),
                    ]
                )
            store.apply([NodeChange("ex-1", path, Phase.SUCCEEDED)])

        threads = [threading.Thread(target=work, args=(path,)) for path in resolved]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        ex = store.get_execution("ex-1")

    assert {n.phase for n in ex.nodes} == {Phase.SUCCEEDED}
    assert {len(n.attempts) for n in ex.nodes} == {3}
    assert len(ex.nodes) == 16


def test_a_sqlite_writer_waits_for_another_process_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "retune.db"
    resolved = rt.resolve(fan)
    store = open_store(f"sqlite:///{path}")
    store.create_execution(
        NewExecution("ex-1", "fan", "v1", {}, [NewNode(p, c) for p, c in resolved.items()])
    )
    locked, released = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        threading.Event().wait(0.5)
        released.set()
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    locked.wait(timeout=10)
    store.apply([NodeChange("ex-1", next(iter(resolved)), Phase.RUNNING)])

    assert released.is_set()  # apply returned only after the other writer let go
    assert store.get_execution("ex-1").nodes[0].phase is Phase.RUNNING
    holder.join(timeout=10)
    store.close()


@pytest.fixture(autouse=True)
def _no_leaked_children() -> Any:
    yield
    assert multiprocessing.active_children() == []
