"""The worker: claim a launched execution, run it with the engine, release it; again.

    1. claim   the oldest queued execution, or a live one whose worker's lease expired
               (``ControlStore.claim_execution``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
    2. load    its workflow spec from the registry and its code bundle from the blob store
               (extracted once per machine under ``RETUNE_HOME/bundles``)
    3. run     ``Engine.run`` (which resumes an adopted execution from the store: nodes that
               succeeded never run again, attempts that were in flight become ``system`` lost
               attempts and are retried), while a heartbeat thread renews the lease every third
               of it and watches for an abort request
    4. release the lease

A worker that stops renewing (killed, frozen, cut off) loses its executions when their lease
expires, and another worker adopts them. A worker that finds its lease taken stops driving the
execution at once, writing nothing more (the engine's ``"lost"`` stop).
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
from pathlib import Path
from types import FrameType
from typing import Final

from retune.control.bundles import BundleError, extract_bundle
from retune.control.local import bundle_key
from retune.engine import Engine
from retune.executors.base import Executor, TaskRef
from retune.model.execution import Phase
from retune.model.spec import WorkflowSpec
from retune.store.base import BlobStore, ControlStore, ExecutionChange, NotFound

LEASE: Final = 15.0
POLL: Final = 0.5

log = logging.getLogger("retune.worker")


class Worker:
    """Runs launched executions from ``store`` on ``executor``, one at a time."""

    def __init__(
        self,
        store: ControlStore,
        blobs: BlobStore,
        executor: Executor,
        *,
        bundles: Path,
        name: str | None = None,
        lease: float = LEASE,
        poll: float = POLL,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.executor = executor
        self.bundles = bundles
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.poll = poll
        self.stopping = threading.Event()

    def serve(self, *, once: bool = False) -> int:
        """Claim and run executions until ``stop()`` (or, with ``once``, until none is left).
        Returns how many it ran."""
        count = 0
        while not self.stopping.is_set():
            execution_id = self.store.claim_execution(self.name, self.lease)
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
        """Drive one claimed execution to a terminal phase (or until the lease is lost)."""
        beat = _Heartbeat(self, execution_id)
        beat.start()
        try:
            record = self.store.get_execution(execution_id)
            log.info("%s: running %s (%s, phase %s)", self.name, execution_id, record.workflow, record.phase)
            try:
                spec, tasks = self.load(
                    record.project or "", record.domain or "", record.workflow, record.workflow_version
                )
            except (NotFound, BundleError, ValueError) as exc:
                self.store.apply(
                    [ExecutionChange(execution_id, Phase.FAILED, error=f"cannot load: {exc}", at=time.time())]
                )
                return
            Engine(self.store, self.executor).run(execution_id, spec, tasks, stop=beat.signal)
        finally:
            beat.stop()
            self.store.release_execution(execution_id, self.name)

    def load(
        self, project: str, domain: str, workflow: str, version: str
    ) -> tuple[WorkflowSpec, Mapping[str, TaskRef]]:
        found = self.store.registered("workflow", project, domain, workflow, version)
        spec = WorkflowSpec.model_validate(found.spec)
        paths: dict[str | None, tuple[str, ...]] = {None: ()}
        tasks = {}
        for name, task in spec.tasks.items():
            bundle = task.bundle or found.bundle  # a reference's tasks keep their own bundle
            if bundle not in paths:
                data = self.blobs.get(bundle_key(bundle or ""))
                paths[bundle] = (str(extract_bundle(data, bundle or "", self.bundles)),)
            tasks[name] = TaskRef(
                name=name,
                module=task.module,
                qualname=task.qualname,
                task_type=task.task_type,
                sys_path=paths[bundle],
                bundle=bundle,
            )
        return spec, tasks


class _Heartbeat:
    """Renews one execution's lease every third of it; tells the engine to stop when an abort
    was asked for or the lease was lost."""

    def __init__(self, worker: Worker, execution_id: str) -> None:
        self.worker = worker
        self.execution_id = execution_id
        self.state: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(
            target=self._loop, name=f"retune-heartbeat-{execution_id}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def signal(self) -> str | None:
        if self.worker.stopping.is_set() and self.state is None:
            return "lost"  # shutting down: leave the execution to the next worker
        return self.state

    def _loop(self) -> None:
        w = self.worker
        while not self.done.wait(w.lease / 3):
            try:
                lease = w.store.renew_lease(self.execution_id, w.name, w.lease)
            except Exception:  # a database hiccup: try again next beat, the lease has slack
                log.exception("%s: cannot renew the lease of %s", w.name, self.execution_id)
                continue
            if lease.abort_requested:
                self.state = "abort"
            elif not lease.held:
                self.state = "lost"


def run_worker(
    *, name: str | None = None, lease: float = LEASE, poll: float = POLL, once: bool = False
) -> int:
    """``retune worker``: run launched executions from the configured store until SIGTERM/SIGINT
    (or, with ``once``, until the queue is empty). Returns how many executions it ran."""
    from retune.executors.local import LocalExecutor
    from retune.settings import load
    from retune.store import open_blobs, open_store

    settings = load()
    blobs = open_blobs(settings.home / "blobs")
    store = open_store(settings.database_url)
    executor = LocalExecutor(blobs, capacity=settings.capacity or None, images=settings.images or None)
    worker = Worker(
        store, blobs, executor, bundles=settings.home / "bundles", name=name, lease=lease, poll=poll
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return worker.serve(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        executor.close()
        store.close()
