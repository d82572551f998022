"""One ``LocalControlPlane`` per worker thread, each with its own store connection.

FastAPI runs the routes (plain ``def``) on a pool of worker threads. A ``SqlStore`` serialises
every call on its one connection, so a single shared store would serialise the whole server;
one store per thread lets SQLite's WAL readers and PostgreSQL's connections work side by side,
and no connection is ever used by two threads.

The pool's threads come and go (anyio retires a worker thread idle for a few seconds), so the
planes are kept beside the thread that owns them: whenever a thread asks for a plane, those of
threads that have ended are set aside, and a new thread takes one of those before it opens a
store (up to ``KEPT_FREE`` wait; more are closed). Opening a store is a new database connection
(for PostgreSQL a new backend process, whose first queries are slow): a burst of launches after a
quiet minute opened sixteen at once, and the launches that waited on them were the slowest of a
load (``bench/server.py``: its p99). ``close()`` closes them all at shutdown.

After an outage (``reopen()``, called when a request met ``StoreUnavailable``) each thread's
next request closes its plane and opens a fresh one, so the server heals without a restart even
when a connection the database dropped would not recover by itself.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Final

import anyio

from retune.control import LocalControlPlane
from retune.executors.base import ConfigCheck
from retune.store import BlobStore, open_store

LAUNCHES_AT_ONCE: Final = 3
"""Launches that run at once in one server process; the others wait their turn.

A launch is CPU work under the GIL (parse, resolve 100 nodes, encode) around database round
trips: a few threads keep the database busy while one computes, and more only take turns on
the GIL, which costs CPU. anyio's default pool of 40 was clearly worse than 8 (docs/decisions/
0017); once a launch cost half the CPU, 3 beat 8 (``POST /executions`` at 20 clients, 2
processes, alternating runs: 165-185/s and p99 175-214 ms against 145-174/s and 229-276 ms, the
server's CPU per launch 7.7-9.4 against 8.3-10.1 ms; 2 and 4 were no better; docs/decisions/
0024). Other routes keep the default pool, so a launch waiting out an outage holds no ``GET``
back."""


KEPT_FREE: Final = 16
"""Planes of ended threads kept for the next threads (each holds a database connection)."""


class Planes:
    """The control planes of the server's worker threads, over the database at ``url``;
    ``launches`` admits ``LAUNCHES_AT_ONCE`` launches at a time."""

    def __init__(self, url: str, blobs: BlobStore, *, check: ConfigCheck | None = None) -> None:
        self.url = url
        self.blobs = blobs
        self.check = check
        self.launches = anyio.CapacityLimiter(LAUNCHES_AT_ONCE)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._owners: dict[threading.Thread, tuple[LocalControlPlane, int]] = {}  # plane, generation
        self._free: list[tuple[LocalControlPlane, int]] = []  # of ended threads, for the next ones
        self._closed = False
        self._generation = 0  # bumped by reopen(); a plane of an older generation is replaced

    def current(self) -> LocalControlPlane:
        """The calling thread's plane, opened on its first request.

        Call it in the route itself, not in a dependency: FastAPI may solve a sync dependency
        on another worker thread than the one that runs the route.
        """
        plane: LocalControlPlane | None = getattr(self._local, "plane", None)
        if plane is not None and self._local.generation == self._generation:
            return plane
        if plane is not None:
            self._local.plane = None
            with self._lock:
                self._owners.pop(threading.current_thread(), None)
            _close_quietly(plane)
        for old in self._set_aside_ended_threads():
            _close_quietly(old)
        plane = self._take_free()
        if plane is None:
            plane = LocalControlPlane(open_store(self.url), self.blobs, check=self.check)
        with self._lock:
            if self._closed:
                plane.close()
                raise RuntimeError("the server is shutting down")
            self._owners[threading.current_thread()] = (plane, self._generation)
            self._local.generation = self._generation
        self._local.plane = plane
        return plane

    def reopen(self) -> None:
        """Have every thread open a fresh plane on its next request (after an outage)."""
        with self._lock:
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._owners)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            planes = [plane for plane, _ in [*self._owners.values(), *self._free]]
            self._owners, self._free = {}, []
        for plane in planes:
            plane.close()

    def _set_aside_ended_threads(self) -> list[LocalControlPlane]:
        """The planes of ended threads go to the free list; those it has no room for, or of an
        older generation (opened before an outage), are returned to be closed."""
        with self._lock:
            ended = [self._owners.pop(thread) for thread in list(self._owners) if not thread.is_alive()]
            closing = []
            for plane, generation in ended:
                if generation == self._generation and len(self._free) < KEPT_FREE:
                    self._free.append((plane, generation))
                else:
                    closing.append(plane)
            return closing

    def _take_free(self) -> LocalControlPlane | None:
        stale = []
        found = None
        with self._lock:
            while self._free and found is None:
                plane, generation = self._free.pop()
                if generation == self._generation:
                    found = plane
                else:
                    stale.append(plane)
        for plane in stale:
            _close_quietly(plane)
        return found


def _close_quietly(plane: LocalControlPlane) -> None:
    # Its connection may be the one the outage broke: closing it can fail, and must not fail
    # the request that replaces it.
    with contextlib.suppress(Exception):
        plane.close()
