"""What the processes of the concurrency tests do (module level, so ``spawn`` can import it)."""

from __future__ import annotations

import sys
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from retune.store import open_store
from retune.store.sql import schema


def race_for_keys(
    url: str, owner: str, keys: list[str], ttl: float, start: Barrier, results: Queue[Any]
) -> None:
    """Open the store, wait for every racer, then try to reserve each key; report the ones won."""
    with open_store(url) as store:
        start.wait(timeout=120)
        won = [key for key in keys if store.cache_reserve(key, owner, ttl)]
    results.put((owner, won))


def open_fresh(url: str, start: Barrier, results: Queue[Any]) -> None:
    """Open a database every racer opens at once; report how this process built the schema
    (``create``: a new database; ``migrate``: Alembic), if it did, and whether it loaded Alembic."""
    built: list[str] = []
    for name in ("create", "migrate"):
        real = getattr(schema, name)

        def spy(conn: Any, real: Any = real, name: str = name) -> None:
            built.append(name)
            real(conn)

        setattr(schema, name, spy)
    start.wait(timeout=120)
    with open_store(url) as store, store.engine.connect() as conn:
        results.put((built, "alembic" in sys.modules, schema.revision(conn)))
