"""The worker: claim a launched execution, run it with the engine, release it; again.

    1. claim   the oldest queued execution, or a live one whose worker's lease expired
               (``ControlStore.claim_execution``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
    2. load    its workflow spec from the registry; its code bundle is installed from the blob
               store by the executor (extracted once per machine under ``RETUNE_HOME/bundles``)
    3. run     ``Engine.run`` (which resumes an adopted execution from the store: nodes that
               succeeded never run again, attempts that were in flight become ``system`` lost
               attempts and are retried), while a heartbeat thread renews the lease every third
               of it and watches for an abort request
    4. release the lease, unless the execution ended (its end cleared the lease)

A worker that stops renewing (killed, frozen, cut off) loses its executions when their lease
expires, and another worker adopts them. A worker that finds its lease taken stops driving the
execution at once, writing nothing more (the engine's ``"lost"`` stop).

A worker never dies of one execution (DESIGN §7). While the database is away the store retries
(for the lease, then ``StoreUnavailable``): the running execution goes on, and if the outage
outlasts the lease the worker leaves it to be claimed again; the claim loop retries forever.
Anything else that escapes processing fails the execution with a ``system error`` naming it, so
it is never left ``RUNNING`` nor claimed again in a loop, and the queue moves on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from types import FrameType
from typing import Final

from retune.control.loading import load_registered
from retune.engine import Engine
from retune.engine.lease import LEASE, LeaseKeeper
from retune.executors.base import Executor, TaskRef
from retune.executors.bundles import BundleError
from retune.model.execution import AttemptKind, Execution, Phase
from retune.model.spec import WorkflowSpec
from retune.store.base import (
    AttemptChange,
    BlobStore,
    Change,
    ControlStore,
    ExecutionChange,
    IllegalTransition,
    NodeChange,
    NotFound,
    StoreError,
    StoreUnavailable,
)

POLL: Final = 0.5
ERROR_CHARS: Final = 2000
"""The longest system error written on an execution (an exception may quote a whole value)."""

log = logging.getLogger("retune.worker")


class Worker:
    """Runs launched executions from ``store`` on ``executor``, one at a time."""

    def __init__(
        self,
        store: ControlStore,
        blobs: BlobStore,
        executor: Executor,
        *,
        name: str | None = None,
        lease: float = LEASE,
        poll: float = POLL,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.executor = executor
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.poll = poll
        self.stopping = threading.Event()

    def serve(self, *, once: bool = False) -> int:
        """Claim and run executions until ``stop()`` (or, with ``once``, until none is left).
        Returns how many it ran."""
        count = 0
        while not self.stopping.is_set():
            try:
                execution_id = self.store.claim_execution(self.name, self.lease)
            except StoreUnavailable:  # the store logged the outage; wait, and claim again
                self.stopping.wait(self.poll)
                continue
            if execution_id is None:
                if once:
                    break
                self.stopping.wait(self.poll)
                continue
            self.run_one(execution_id)
            count += 1
        return count

    def stop(self) -> None:
        self.stopping.set()

    def run_one(self, execution_id: str) -> None:
        """Drive one claimed execution to a terminal phase (or until the lease is lost). Never
        raises: what escapes processing fails the execution (``fail``), unless the database is
        away, which leaves it to be claimed again."""
        beat = LeaseKeeper(self.store, execution_id, self.name, self.lease, stopping=self.stopping).start()
        began, ended = time.monotonic(), False
        try:
            phase = self._drive(execution_id, beat)
            ended = phase.terminal  # the change that ended it cleared its lease (decision 0013)
            log.info("%s: %s is %s after %.1f s", self.name, execution_id, phase, time.monotonic() - began)
        except StoreUnavailable as exc:
            log.warning("%s: left %s to be claimed again: %s", self.name, execution_id, exc)
        except Exception as exc:
            log.error("%s: %s failed: %s: %s", self.name, execution_id, type(exc).__name__, exc)
            log.debug("%s: the error of %s", self.name, execution_id, exc_info=True)
            self.fail(execution_id, exc)
        finally:
            beat.stop(release=not ended)

    def _drive(self, execution_id: str, beat: LeaseKeeper) -> Phase:
        record = self.store.get_execution(execution_id)
        log.info(
            "%s: claimed %s (workflow %s, phase %s)",
            self.name,
            execution_id,
            record.workflow,
            record.phase.value,
        )
        try:
            spec, tasks = self.load(
                record.project or "", record.domain or "", record.workflow, record.workflow_version
            )
        except (NotFound, BundleError, ValueError) as exc:
            if isinstance(exc, StoreError) and not isinstance(exc, NotFound):
                raise
            self.store.apply(
                [ExecutionChange(execution_id, Phase.FAILED, error=f"cannot load: {exc}", at=time.time())]
            )
            return Phase.FAILED
        return Engine(self.store, self.executor).run(execution_id, spec, tasks, stop=beat.signal).phase

    def fail(self, execution_id: str, exc: BaseException) -> None:
        """Record ``exc`` as a system error: the execution ``FAILED``, its running nodes and
        attempts with it, its queued nodes ``SKIPPED``. Written without reading anything that
        may be what failed; a store that refuses even that leaves the lease to expire."""
        error = f"system error: worker {self.name} could not run this execution: {type(exc).__name__}: {exc}"
        error = error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"
        now = time.time()
        try:
            record: Execution | None = self.store.get_execution(execution_id)
        except Exception:  # the record itself may be what cannot be read
            record = None
        final: list[Change] = [ExecutionChange(execution_id, Phase.FAILED, error=error, at=now)]
        for changes in (_ended_nodes(record, error, now) + final, final):
            try:
                self.store.apply(changes)
                return
            except IllegalTransition:  # already terminal, or another worker's now: nothing to do
                return
            except Exception as again:
                log.error("%s: cannot record the failure of %s: %s", self.name, execution_id, again)

    def load(
        self, project: str, domain: str, workflow: str, version: str
    ) -> tuple[WorkflowSpec, Mapping[str, TaskRef]]:
        return load_registered(self.store, self.blobs, project, domain, workflow, version)


def _ended_nodes(record: Execution | None, error: str, now: float) -> list[Change]:
    """The changes that end every node of ``record`` not yet terminal, for ``Worker.fail``."""
    if record is None:
        return []
    changes: list[Change] = []
    for node in record.nodes:
        if node.phase.terminal:
            continue
        if node.attempts and node.attempts[-1].phase is Phase.RUNNING:
            lost = replace(
                node.attempts[-1], phase=Phase.FAILED, kind=AttemptKind.SYSTEM, error=error, finished_at=now
            )
            changes.append(AttemptChange(record.id, node.path, lost))
        phase = Phase.FAILED if node.phase is Phase.RUNNING else Phase.SKIPPED
        changes.append(NodeChange(record.id, node.path, phase, error=error, at=now))
    return changes


def run_worker(
    *,
    name: str | None = None,
    lease: float = LEASE,
    poll: float = POLL,
    once: bool = False,
    executor: str | None = None,
) -> int:
    """``retune worker``: run launched executions from the configured store until SIGTERM/SIGINT
    (or, with ``once``, until the queue is empty), on the ``executor`` of that kind (default: the
    settings' kind). Returns how many executions it ran.

    Logs one line per claim and per finish (and the store's outage lines) to stderr unless the
    process configured logging already. A database that cannot be reached at start is waited for.
    """
    from retune.executors.factory import build_executor
    from retune.settings import load
    from retune.store import open_default_blobs

    configure_logging()
    settings = load()
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        store = _open_store(settings.database_url, lease, stopping)
        if store is None:
            return 0
        # Like the database: calls wait out an outage of the blob store for the lease.
        blobs = open_default_blobs(settings, grace=lease)
        runner = build_executor(settings, blobs, kind=executor, origin="--executor")
        worker = Worker(store, blobs, runner, name=name, lease=lease, poll=poll)
        worker.stopping = stopping
        log.info("%s: serving %s", worker.name, _redacted(settings.database_url))
        try:
            return worker.serve(once=once)
        finally:
            runner.close()
            store.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def configure_logging() -> None:
    """INFO lines with a time to stderr, when nothing configured logging before."""
    if logging.getLogger().handlers:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its migration chatter is not the worker's


def _open_store(url: str | None, lease: float, stopping: threading.Event) -> ControlStore | None:
    """The store, once the database answers (the store logs the outage once); None if stopped first.
    Calls wait through an outage for the lease: past it, the lease may be another worker's."""
    from retune.store import open_store

    while not stopping.is_set():
        try:
            return open_store(url, grace=lease)
        except StoreUnavailable:
            stopping.wait(POLL)
    return None


def _redacted(url: str | None) -> str:
    from retune.store import default_database_url
    from retune.store.sql.outage import redact

    return redact(url or default_database_url())
