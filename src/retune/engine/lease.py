"""Holding an execution while driving it: one owner at a time, by lease.

Whoever drives an execution (a worker, ``retune run``, ``retune executions resume``) holds its
lease and renews it every third of its length on a thread of its own. The lease is what makes
a second driver refuse a live execution, and take over an abandoned one (its lease expired)
at once. The keeper's ``signal`` is the engine's ``stop`` callable: ``"abort"`` once an abort
was requested, ``"lost"`` once another owner took the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import suppress
from typing import Final

from retune.store.base import ControlStore, StoreError, StoreUnavailable

LEASE: Final = 15.0
"""Seconds a driver's hold lasts without renewal; a killed driver's execution is free after it."""

log = logging.getLogger("retune.lease")


def owner_name(kind: str) -> str:
    """``run@host:pid``: who holds an execution, as an error message shows it."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    """Renews ``owner``'s lease on one execution until ``stop()``. Once ``stopping`` is set (a
    worker shutting down) the engine is told ``"lost"``: the execution is left to the next driver."""

    def __init__(
        self,
        store: ControlStore,
        execution_id: str,
        owner: str,
        lease: float = LEASE,
        *,
        stopping: threading.Event | None = None,
    ) -> None:
        self.stopping = stopping
        self.store = store
        self.execution_id = execution_id
        self.owner = owner
        self.lease = lease
        self.state: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"retune-lease-{execution_id}", daemon=True)

    def start(self) -> LeaseKeeper:
        self.thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with ``release``, free the execution for the next driver now."""
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()
        if release:
            with suppress(StoreError):  # an unreleased lease lapses by itself
                self.store.release_execution(self.execution_id, self.owner)

    def signal(self) -> str | None:
        if self.state is None and self.stopping is not None and self.stopping.is_set():
            return "lost"
        return self.state

    def _loop(self) -> None:
        while not self.done.wait(self.lease / 3):
            try:
                lease = self.store.renew_lease(self.execution_id, self.owner, self.lease)
            except StoreUnavailable:  # the store logged the outage; the next beat tries again
                continue
            except Exception as exc:  # the store is away: try again next beat, the lease has slack
                log.warning("cannot renew the lease of %s: %s", self.execution_id, exc)
                continue
            if lease.abort_requested:
                self.state = "abort"
            elif not lease.held:
                self.state = "lost"
