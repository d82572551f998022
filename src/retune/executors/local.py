"""The local executor: attempts run in long-lived task processes on this machine.

    submit -> queue -> admission (cpu, mem, gpu requests against capacity) -> a slot
    slot: one thread + one task process per interpreter, reused attempt after attempt

1. ``check`` refuses what can never run here: an unknown task type, a ``task_config`` its type
   refuses for this deployment (sql: a cluster retune.toml does not name), a request above the capacity, an unknown image (``container_image`` names an interpreter
   through ``images``). ``submit`` of such an attempt fails it at once (``USER_ERROR``,
   "refused: ...") rather than queue it forever.
2. ``submit`` queues the attempt; it starts as soon as its requests fit next to those of the
   running attempts (later, smaller attempts may start first: backfilling), on an idle slot
   of its interpreter or a new one.
3. The slot pins its process to ``ceil(cpu)`` cores, sets ``RETUNE_CPU`` to the cpu request
   and, on a machine with GPUs, ``CUDA_VISIBLE_DEVICES`` to the attempt's own ``gpu`` devices
   (none for an attempt that asked for none; a process keeps the devices of its first attempt,
   since CUDA reads them once), and runs the attempt there (``retune.task_runtime.main``): environment, log capture and
   memory limit apply to that attempt only.
4. A timeout (``config.timeout`` per call, so an attempt of n calls gets n times it) or a
   memory limit exceeded kills the process (``TIMEOUT``, ``OOM``); a process that exits or
   dies of a signal its code provoked (SIGSEGV, SIGABRT, ...) is ``CRASHED``, with the end of
   its stderr; one killed from outside is ``LOST``. Either way the slot starts a fresh process
   for its next attempt, and every process the attempt started is ended with it.
5. ``cancel`` drops a queued attempt, or kills the process tree of a running one (the slot's
   thread sees it die and resolves the future ``LOST``, ``CANCELLED``); the engine's abort
   uses it, so an aborted execution leaves no task process behind.
6. Short attempts of one node (a map's items), queued together (``submit_many``), go to a task
   process in batches (``_batch``; docs/decisions/0028-attempt-batches.md): one message, one
   admission, each attempt still run, answered, logged, timed and ended as its own; the first
   that does not succeed ends the batch and those behind it are queued again, never having run.

There is no interruptible capacity here: every attempt runs on-demand and says so. Design
notes and numbers: docs/decisions/0008-local-executor.md.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from retune.executors.admission import ADMITTED, Allotment, Ledger, machine_capacity
from retune.executors.base import (
    CANCELLED,
    AttemptRequest,
    AttemptResult,
    Blobs,
    Outcome,
    Refused,
    check_task_type,
    cpu_text,
)
from retune.executors.bundles import InstalledBundles
from retune.executors.images import Interpreters
from retune.executors.process import Reply, StartFailed, TaskProcess, take_warm
from retune.executors.wire import HOLD
from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.model.resources import format_quantity
from retune.settings import Settings

__all__ = ["LocalConfigCheck", "LocalExecutor"]

SPAWN_WORTH: Final = 0.1
"""Seconds of expected queueing that justify starting one more task process (~60 ms)."""

RECYCLE_FRACTION: Final = 0.5
"""A reused task process already holding this share of the next attempt's memory limit is replaced
first, so what earlier attempts left behind does not count against the next one."""


MAX_SLOTS: Final = 8
"""Task processes kept (at least; or one per core): past it, starting one ends an idle one of
another pool."""

BATCH_MEAN: Final = 0.005
"""Attempts that took less than this lately (seconds, per interpreter) may go to a task process
several at a time (``_batch``); longer ones always go one by one."""

BATCH_SPAN: Final = 0.02
"""Seconds of expected work in one batch: a batch is short next to the wait for capacity."""

BATCH_MAX: Final = 64
"""Attempts in one batch at most."""

_CORES: Final = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
"""The cores this process may run on."""

_REMEMBERED: Final = 4096
"""Configs whose check and ``to_dict`` the executor keeps (then it starts over)."""

_POOL: Final = "\x00"
"""Separates the interpreter from the code bundle in a pool key: slots are pooled per
interpreter and, for registered code, per bundle (``TaskRef.bundle``)."""


class LocalConfigCheck:
    """What the local executor refuses, for a capacity and images, with no task process: the
    one code path behind ``LocalExecutor.check`` and the check the server and ``retune launch``
    make before storing a launch (``executors.factory.config_check``)."""

    def __init__(
        self,
        capacity: Mapping[str, str | int | float] | None = None,
        images: Mapping[str, str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.capacity = machine_capacity(capacity)
        self.interpreters = Interpreters(images)
        self.settings = settings

    def __call__(self, config: EffectiveConfig, task_type: str) -> None:
        check_task_type(config, task_type, self.settings)
        self.interpreters.check(config.container_image)
        capacity = self.capacity
        for name in ADMITTED:
            wanted, has = getattr(config.requests, name), capacity.get(name)
            if wanted > has:
                raise Refused(
                    f"resources.requests.{name}",
                    f"requests {name}={format_quantity(name, wanted)} but the local executor's capacity "
                    f"is {name}={format_quantity(name, has)} ({capacity.describe()})",
                    f"Lower it (for example with the override HOOK.{name}=...), or raise the capacity "
                    f"in the [capacity] table of retune.toml or RETUNE_CAPACITY_{name.upper()}.",
                )


@dataclass(slots=True)
class _Job:
    request: AttemptRequest
    future: Future[AttemptResult]
    interpreter: str  # the pool key: the interpreter, and the bundle if any
    allotment: Allotment | None = None
    sent: _Sent | None = None
    slot: _Slot | None = None  # once admitted
    cancelled: bool = False
    admitted_at: float = 0.0
    queued_at: float = 0.0
    started_at: float | None = None  # when it was sent to its task process (time.time())
    batch: list[_Job] | None = None  # a batch's first job: every job of the batch, itself first


@dataclass(frozen=True, slots=True)
class _Sent:
    """An attempt on its way: when it must end."""

    deadline: float | None
    timeout: float | None


class LocalExecutor:
    """``Executor`` running each attempt in an isolated task process on this machine.

    ``capacity``: ``{"cpu": "2", "mem": "8Gi", "gpu": 1}`` (default: this machine's cores and
    RAM, no GPU). ``images``: image name -> Python interpreter. ``workers``: at most this many
    attempts at once, whatever the capacity says (default: only the capacity limits them).
    ``bundles``: where code bundles are extracted (default: a directory of this executor's).
    """

    name = "local"
    interruptible_capacity = False

    def __init__(
        self,
        blobs: Blobs,
        *,
        capacity: Mapping[str, str | int | float] | None = None,
        images: Mapping[str, str] | None = None,
        workers: int | None = None,
        bundles: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.blobs = blobs
        self._check = LocalConfigCheck(capacity, images, settings)
        self.capacity = self._check.capacity
        self.interpreters = self._check.interpreters
        self.max_running = workers
        self._lock = threading.Lock()
        self._pending: deque[_Job] = deque()
        self._waiting: Counter[str] = Counter()  # pool keys of the pending jobs: see _dispatch
        self._jobs: dict[tuple[str, str, int], _Job] = {}  # submitted, not finished: for cancel
        self._ledger = Ledger(self.capacity)
        # Per config object (held, so its id is not reused): check's answer, its to_dict()
        self._checked: dict[tuple[int, str], tuple[EffectiveConfig, Refused | None]] = {}
        self._config_dicts: dict[int, tuple[EffectiveConfig, dict[str, Any]]] = {}
        self._idle: dict[str, list[_Slot]] = {}
        self._spawning: dict[str, int] = {}
        self._mean_duration: dict[str, float] = {}  # moving average of attempts, per interpreter
        self._wake: threading.Timer | None = None
        self._slots: list[_Slot] = []
        self._running = 0
        self._closed = False
        self.batched = 0
        """Attempts sent to task processes in batches (``_batch``) so far."""
        self._scratch = Path(tempfile.mkdtemp(prefix="retune-local-"))
        self.bundles = InstalledBundles(blobs, bundles or self._scratch / "bundles")
        with self._lock:  # a warm task process for the first attempt
            self._new_slot(self.interpreters.default)

    # --- the Executor protocol ---------------------------------------------------------------

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        self._check(config, task_type)

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        return self.submit_many([request])[0]

    def submit_many(self, requests: Sequence[AttemptRequest]) -> list[Future[AttemptResult]]:
        """``submit`` of each, queued under one lock and admitted in one pass, so that a map
        node's items queue together and go to task processes in batches (``_batch``); one at
        a time, each found an idle process and went alone (500 items: ~2,600 messages)."""
        futures: list[Future[AttemptResult]] = []
        jobs: list[_Job] = []
        now = time.monotonic()
        for request in requests:
            future: Future[AttemptResult] = Future()
            futures.append(future)
            refused = self._refusal(request.config, request.task.task_type)
            if refused is not None:
                future.set_result(AttemptResult(Outcome.USER_ERROR, error=f"refused: {refused}"))
                continue
            interpreter = self.interpreters.interpreter(request.config.container_image)
            bundle = request.task.bundle
            job = _Job(request, future, interpreter if bundle is None else f"{interpreter}{_POOL}{bundle}")
            job.queued_at = now
            jobs.append(job)
        starts: list[tuple[_Slot, _Job]] = []
        with self._lock:
            closed = self._closed
            if not closed and jobs:
                for job in jobs:
                    self._pending.append(job)
                    self._waiting[job.interpreter] += 1
                    self._jobs[job.request.identity] = job
                starts = self._dispatch()
        if closed:
            for job in jobs:
                job.future.set_result(AttemptResult(Outcome.LOST, error="the local executor is closed"))
        self._start(starts)
        return futures

    def _refusal(self, config: EffectiveConfig, task_type: str) -> Refused | None:
        """``check``'s answer for an attempt, once per config object (configs are immutable, and
        every attempt of a node, every item of a map, shares its node's): a 200-node chain asked
        the same question 200 times."""
        key = (id(config), task_type)
        known = self._checked.get(key)
        if known is None or known[0] is not config:
            try:
                self.check(config, task_type)
                refused = None
            except Refused as exc:
                refused = exc
            if len(self._checked) > _REMEMBERED:
                self._checked.clear()
            known = self._checked[key] = (config, refused)
        return known[1]

    def cancel(self, request: AttemptRequest) -> None:
        with self._lock:
            job = self._jobs.get(request.identity)
            if job is None:
                return
            job.cancelled = True  # before the kill: a slot about to send it sees this (_Slot._send)
            queued = job in self._pending
            if queued:
                self._pending.remove(job)
                self._unwait(job)
                del self._jobs[request.identity]
            slot = job.slot
        if queued:
            job.future.set_result(AttemptResult(Outcome.LOST, error=CANCELLED))
        elif slot is not None:
            slot.process.interrupt()  # the slot's thread sees it die and resolves the future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._wake is not None:
                self._wake.cancel()
            pending, self._pending = list(self._pending), deque()
            self._waiting.clear()
            slots = list(self._slots)
        for job in pending:
            job.future.set_result(AttemptResult(Outcome.LOST, error="the local executor was closed"))
        for slot in slots:
            slot.shut()
        for slot in slots:
            slot.thread.join(timeout=5)
        self.interpreters.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- admission ---------------------------------------------------------------------------

    def _dispatch(self) -> list[tuple[_Slot, _Job]]:
        """Admit every queued attempt that fits now, oldest first, onto an idle slot of its
        interpreter. Holds ``_lock``; the caller starts what it returns once it is released.

        With no idle slot the attempt waits for the first slot free, and one more slot (a new
        process) is started for its interpreter when the wait looks long (``_worth_a_process``):
        a task process takes ~60 ms to start and a trivial attempt ~0.15 ms, so a burst of small
        attempts is drained by the processes there are, while long attempts grow the pool."""
        starts: list[tuple[_Slot, _Job]] = []
        refused_shapes = set()
        no_slot: set[str] = set()
        index = 0
        while index < len(self._pending):
            if self.max_running is not None and self._running >= self.max_running:
                break
            if len(no_slot) == len(self._waiting) and not any(self._idle.values()):
                break  # nothing can be admitted, and every pool has decided on a new process:
                # the rest of the queue would be walked for nothing (quadratic over a fan-out)
            job = self._pending[index]
            requests = job.request.config.requests
            shape = (requests.cpu, requests.mem, requests.gpu)
            if job.interpreter in no_slot or shape in refused_shapes or not self._ledger.fits(requests):
                refused_shapes.add(shape)
                index += 1
                continue
            idle = self._idle.get(job.interpreter) or self._fresh_for(job.interpreter)
            if not idle:
                # a plain process starting (the warm one) will take the bundle: wait for it
                plain = job.interpreter.partition(_POOL)[0]
                if not self._spawning.get(job.interpreter) and not self._spawning.get(plain):
                    if self._worth_a_process(job):
                        self._new_slot(job.interpreter)
                    else:
                        self._wake_later()
                no_slot.add(job.interpreter)
                index += 1
                continue
            del self._pending[index]
            self._unwait(job)
            job.admitted_at = time.monotonic()
            job.allotment = self._ledger.take(requests)
            job.slot = idle.pop()
            job.slot.busy_since = job.admitted_at
            self._running += 1
            self._batch(job, index)
            starts.append((job.slot, job))
        return starts

    def _batch(self, lead: _Job, index: int) -> None:
        """Give ``lead``'s task process the attempts queued right behind it that are of the same
        node, task and config (a map node's items), when attempts have been short lately: one
        message and one admission for several attempts, each still run, answered, logged and
        ended as its own (``TaskServer.run_each``). A batch holds ``lead``'s allotment, as its
        attempts run one after another. Holds ``_lock``; ``index``: where ``lead`` was queued."""
        size = self._batch_size(lead)
        if size <= 1:
            return
        request, batch = lead.request, [lead]
        while len(batch) < size and index < len(self._pending):
            other = self._pending[index]
            asked = other.request
            if not (
                asked.config is request.config
                and asked.task is request.task
                and asked.node == request.node
                and asked.execution_id == request.execution_id
                and len(asked.calls) == 1
                and other.interpreter == lead.interpreter
                and not other.cancelled
            ):
                break
            del self._pending[index]
            self._unwait(other)
            other.admitted_at, other.slot = lead.admitted_at, lead.slot
            batch.append(other)
        if len(batch) > 1:
            lead.batch = batch
            self.batched += len(batch)

    def _batch_size(self, lead: _Job) -> int:
        """How many attempts ``lead``'s batch may hold: about ``BATCH_SPAN`` of work at the
        recent pace, and no more than its process's share of the queue (itself included), so
        that every task process of the pool gets work. The end of a map is shared out in one
        batch per process: with half a share each (as before) the last items went in ever smaller
        batches, a round trip each (a 500-item map: ~10% less wall in alternating runs). One (no
        batch) for attempts not known to be short, of several calls, asking for GPUs, or for a
        task process that does not understand batches."""
        mean = self._mean_duration.get(lead.interpreter)
        request = lead.request
        if (
            mean is None
            or mean > BATCH_MEAN
            or request.config.requests.gpu
            or len(request.calls) != 1
            or lead.slot is None
            or "each" not in lead.slot.process.features
        ):
            return 1
        slots = sum(1 for slot in self._slots if slot.interpreter == lead.interpreter)
        share = -(-(self._waiting.get(lead.interpreter, 0) + 1) // max(1, slots))  # rounded up
        return max(1, min(BATCH_MAX, int(BATCH_SPAN / max(mean, 1e-5)), share))

    def _unwait(self, job: _Job) -> None:
        self._waiting[job.interpreter] -= 1
        if not self._waiting[job.interpreter]:
            del self._waiting[job.interpreter]

    def _fresh_for(self, key: str) -> list[_Slot] | None:
        """For a bundle's pool key with no idle slot: an idle slot of its interpreter that has
        run no bundle (its module cache holds no user code), moved to the bundle's pool. Holds
        ``_lock``."""
        interpreter, _, bundle = key.partition(_POOL)
        plain = self._idle.get(interpreter)
        if not bundle or not plain:
            return None
        slot = plain.pop()
        slot.interpreter = key
        moved = self._idle.setdefault(key, [])
        moved.append(slot)
        return moved

    def _retire_idle(self, key: str) -> None:
        """Past ``MAX_SLOTS`` processes, end an idle one of another pool (the oldest first): code
        edited between runs in one process must not leave a process per old bundle. Holds ``_lock``."""
        if len(self._slots) < max(MAX_SLOTS, os.cpu_count() or 1):
            return
        for slot in self._slots:
            idle = self._idle.get(slot.interpreter, [])
            if slot.interpreter != key and slot in idle:
                idle.remove(slot)
                self._slots.remove(slot)
                slot.shut()
                return

    def _worth_a_process(self, job: _Job) -> bool:
        """Whether ``job`` (fitting, but with no idle slot) should get a new task process: it has
        waited long already (every slot busy with long attempts), or the queue ahead of it
        looks long, judging by how long attempts took lately."""
        pool = [slot for slot in self._slots if slot.interpreter == job.interpreter]
        slots, now = len(pool), time.monotonic()
        mean = self._mean_duration.get(job.interpreter)
        if (
            (mean is None or mean < SPAWN_WORTH)
            and slots >= _CORES
            and not any(slot.busy_since is not None and now - slot.busy_since > SPAWN_WORTH for slot in pool)
        ):
            # Attempts shorter than a process takes to start keep as many processes busy as
            # there are cores, no more: another would not run them sooner, only take turns (a
            # 500-node fan-out grew the pool to 8 processes on 2 cores, one a run, each run
            # slower than the one before). Long ones (a sleep, a download) still grow the pool,
            # as soon as one of them has run for longer than that. Before any attempt has ended
            # (no mean yet) the same: a core per process until one runs long (the second process
            # of a fan-out's first run was up before the first attempt ended, and a third began).
            return False
        if not slots or mean is None or time.monotonic() - job.queued_at > SPAWN_WORTH:
            return True
        return len(self._pending) * mean / slots > SPAWN_WORTH

    def _wake_later(self) -> None:
        """Look at the queue again in a while, even if no attempt ends meanwhile."""
        if self._wake is None:
            self._wake = threading.Timer(SPAWN_WORTH, self._woken)
            self._wake.daemon = True
            self._wake.start()

    def _woken(self) -> None:
        with self._lock:
            self._wake = None
            starts = [] if self._closed else self._dispatch()
        self._start(starts)

    def _start(self, starts: list[tuple[_Slot, _Job]]) -> None:
        for slot, job in starts:
            slot.hand(job)

    def _new_slot(self, interpreter: str) -> None:
        """Start a slot; it reports to ``_slot_started`` once its process is up (or is not)."""
        self._retire_idle(interpreter)
        slot = _Slot(self, interpreter)
        self._slots.append(slot)
        self._spawning[interpreter] = self._spawning.get(interpreter, 0) + 1
        slot.thread.start()

    def _slot_started(self, slot: _Slot, error: str | None) -> None:
        failed: _Job | None = None
        with self._lock:
            self._spawning[slot.interpreter] -= 1
            if self._closed:
                return
            if error is None:
                self._idle.setdefault(slot.interpreter, []).append(slot)
            else:  # fail the oldest attempt waiting for this interpreter, so none waits forever
                self._slots.remove(slot)
                failed = next((j for j in self._pending if j.interpreter == slot.interpreter), None)
                if failed is not None:
                    self._pending.remove(failed)
                    self._unwait(failed)
                    self._jobs.pop(failed.request.identity, None)
            starts = self._dispatch()
        if failed is not None:
            failed.future.set_result(AttemptResult(Outcome.LOST, error=error, capacity=Capacity.ON_DEMAND))
        self._start(starts)

    def _finished(self, slot: _Slot, job: _Job) -> None:
        with self._lock:
            assert job.allotment is not None
            self._ledger.give_back(job.allotment)
            self._jobs.pop(job.request.identity, None)
            self._running -= 1
            if job.batch is None:  # a batch's attempts were counted one by one (_item_done)
                self._took(slot.interpreter, time.monotonic() - job.admitted_at)
            starts = []
            slot.busy_since = None
            if not self._closed:
                self._idle.setdefault(slot.interpreter, []).append(slot)
                starts = self._dispatch()
        self._start(starts)

    def _took(self, interpreter: str, seconds: float) -> None:
        """An attempt of ``interpreter``'s pool took ``seconds``: the moving average. Holds ``_lock``."""
        mean = self._mean_duration.get(interpreter, seconds)
        self._mean_duration[interpreter] = 0.8 * mean + 0.2 * seconds

    def _item_done(self, job: _Job, seconds: float) -> None:
        """An attempt of a batch ended (the batch's slot stays busy until the batch does, its
        next attempt starting now: ``busy_since`` is when the attempt it runs began, as
        ``_worth_a_process`` reads it, not when the batch did)."""
        with self._lock:
            if job.batch is None:  # the first job's entry goes with the batch (_finished)
                self._jobs.pop(job.request.identity, None)
            self._took(job.interpreter, seconds)
            slot = job.slot
            if slot is not None and slot.busy_since is not None:
                slot.busy_since = time.monotonic()

    def _requeue(self, jobs: list[_Job]) -> None:
        """Attempts of a batch that never ran (it ended early): to the front of the queue, as
        they were; a cancelled one ends ``CANCELLED``, and all of them ``LOST`` once the
        executor is closed. The slot's ``_finished`` admits them again."""
        ended: list[tuple[_Job, AttemptResult]] = []
        with self._lock:
            for job in reversed(jobs):
                job.slot, job.sent, job.started_at = None, None, None
                if job.cancelled or self._closed:
                    self._jobs.pop(job.request.identity, None)
                    error = CANCELLED if job.cancelled else "the local executor was closed"
                    ended.append((job, AttemptResult(Outcome.LOST, error=error, capacity=Capacity.ON_DEMAND)))
                    continue
                self._pending.appendleft(job)
                self._waiting[job.interpreter] += 1
        for job, result in ended:
            job.future.set_result(result)

    # --- one attempt -------------------------------------------------------------------------

    def _send(self, slot: _Slot, job: _Job) -> _Sent:
        request, config, process = job.request, job.request.config, slot.process
        task = request.task
        attempt: dict[str, Any] = {
            "name": task.name,
            "task": (
                task.module,
                task.qualname,
                task.pickled,
                () if task.bundle is None else (str(self.bundles.path(task.bundle)),),
            ),
            "task_type": task.task_type,
            "template": None
            if task.template is None
            else (dict(task.template.definition), task.template.inputs, task.template.outputs),
            "calls": [call if type(call) is dict else dict(call) for call in request.calls]
            if job.batch is None
            else [dict(member.request.calls[0]) for member in job.batch],
            "env": {**config.environment, "RETUNE_CPU": cpu_text(config.requests.cpu), **self._gpu_env(job)},
            "stdout": slot.capture["stdout"],
            "stderr": slot.capture["stderr"],
            "mem_limit": config.limits.mem,
            "context": {
                "execution_id": request.execution_id,
                "node": request.node,
                "attempt": request.attempt,
                "config": self._config_dict(config),
            },
        }
        if job.batch is not None:  # each attempt of the batch has the config's timeout (per call)
            attempt["numbers"] = [member.request.attempt for member in job.batch]
            return _Sent(process.send(attempt, config.timeout, kind="each"), config.timeout)
        timeout = None if config.timeout is None else config.timeout * max(1, len(request.calls))
        return _Sent(process.send(attempt, timeout), timeout)

    def _config_dict(self, config: EffectiveConfig) -> dict[str, Any]:
        """``config.to_dict()`` once per config object (sent to the task process for
        ``rt.current_context().config``; the message is pickled, so sharing it is safe)."""
        known = self._config_dicts.get(id(config))
        if known is None or known[0] is not config:
            if len(self._config_dicts) > _REMEMBERED:
                self._config_dicts.clear()
            known = self._config_dicts[id(config)] = (config, config.to_dict())
        return known[1]

    def _gpu_env(self, job: _Job) -> dict[str, str]:
        """``CUDA_VISIBLE_DEVICES``: the attempt's own GPUs, none for an attempt that asked for
        none; left alone on a machine with no GPU capacity."""
        if not self.capacity.gpu:
            return {}
        assert job.allotment is not None
        return {"CUDA_VISIBLE_DEVICES": ",".join(job.allotment.devices)}

    def _wait(self, slot: _Slot, job: _Job, sent: _Sent) -> AttemptResult:
        config = job.request.config
        reply = slot.process.wait(blobs=self.blobs, deadline=sent.deadline, mem_limit=config.limits.mem)
        logs = self._publish_logs(slot, job.request.logs_at)
        if reply.kind == "crashed":
            reply = Reply(reply.kind, error=reply.error + _tail(slot.capture["stderr"]))
        return _result(reply, config, sent.timeout, logs)

    def _publish_logs(
        self, slot: _Slot, prefix: str, spans: tuple[tuple[int, int], tuple[int, int] | None] | None = None
    ) -> dict[str, str]:
        """Copy what the attempt wrote to its streams into the blob store, before the slot's
        next attempt truncates the capture files. A stream that stayed empty gets no blob:
        most tasks print nothing, and two files per attempt would cost more than the attempt.
        ``spans``: an attempt of a batch, ``((stdout, stderr) offsets where it began, where it
        ended)`` in the capture files (None at the end: to the end of the file)."""
        logs = {}
        for position, (stream, path) in enumerate(slot.capture.items()):
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue
            start, end = 0, size
            if spans is not None:
                start = spans[0][position]
                end = size if spans[1] is None else min(size, spans[1][position])
            if end <= start:
                continue
            key = logs[stream] = f"{prefix}/{stream}"
            local = self.blobs.local_path(key)
            if local is None or spans is not None:
                with open(path, "rb") as captured:
                    captured.seek(start)
                    self.blobs.put(key, captured.read(end - start))
            else:
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, local)
        return logs


def _tail(path: str, size: int = 2000, lines: int = 20) -> str:
    """The end of a crashed attempt's stderr, for its error: what the C library, the interpreter
    or ``faulthandler`` (the Python stack of a segfault) said last. Empty if it said nothing."""
    try:
        with open(path, "rb") as captured:
            captured.seek(max(0, os.fstat(captured.fileno()).st_size - size))
            text = captured.read().decode(errors="replace")
    except OSError:
        return ""
    kept = text.strip().splitlines()[-lines:]
    return "; its stderr ends with:\n" + "\n".join(kept) if kept else ""


def _result(
    reply: Reply,
    config: EffectiveConfig,
    timeout: float | None,
    logs: Mapping[str, str],
    *,
    started_at: float | None = None,
) -> AttemptResult:
    if reply.kind == "done":
        return AttemptResult(
            Outcome.SUCCEEDED,
            outputs=reply.outputs,
            capacity=Capacity.ON_DEMAND,
            logs=logs,
            started_at=started_at,
        )
    if reply.kind == "user":
        outcome, error = Outcome.USER_ERROR, reply.error
    elif reply.kind == "oom":
        limit = format_quantity("mem", config.limits.mem)
        outcome, error = Outcome.OOM, f"memory limit {limit} exceeded: {reply.error}"
    elif reply.kind == "oom_killed":
        used = f"{round(int(reply.error) / 2**20)}Mi"
        limit = format_quantity("mem", config.limits.mem)
        outcome, error = (
            Outcome.OOM,
            f"memory limit {limit} exceeded: the task process used {used} and was killed",
        )
    elif reply.kind == "crashed":
        outcome, error = Outcome.CRASHED, reply.error
    elif reply.kind == "timeout":
        outcome, error = (
            Outcome.TIMEOUT,
            f"timed out after {timeout:g}s (timeout {config.timeout:g}s per call)",
        )
    else:
        outcome, error = Outcome.LOST, reply.error
    return AttemptResult(outcome, error=error, capacity=Capacity.ON_DEMAND, logs=logs, started_at=started_at)


_BATCH_ENDED: Final = Reply("items")
"""No answer for this attempt: the batch ended before it (``_run_batch``)."""


class _Slot:
    """A thread that waits for its jobs one at a time, run in its own task process.

    An attempt handed to a slot whose process is up is sent by the thread that admitted it
    (one thread switch less on the way in); the slot's thread waits for the reply.
    """

    def __init__(self, executor: LocalExecutor, interpreter: str) -> None:
        self.executor = executor
        self.interpreter = interpreter  # the pool key (interpreter, and bundle if any)
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        images = executor.interpreters
        python = interpreter.partition(_POOL)[0]
        command, env = images.command(python), images.environment(python)
        self.process = take_warm(command, env) or TaskProcess(command, env)
        # Where the task process captures the streams of each attempt (truncated at its start).
        self.capture = {s: str(executor._scratch / f"{id(self):x}.{s}") for s in ("stdout", "stderr")}
        self.devices: dict[int, tuple[str, ...]] = {}  # the process (pid) -> the GPUs it ran with
        self.busy_since: float | None = None  # when the attempt it runs began, about (monotonic)
        self.thread = threading.Thread(target=self._loop, name=f"retune-local-{id(self):x}", daemon=True)

    def hand(self, job: _Job) -> None:
        if self.process.alive and not self._needs_fresh_process(job):
            try:
                self._send(job)
            except Exception:
                job.sent = None  # the slot's thread tries again, from the start
        self.jobs.put(job)

    def _loop(self) -> None:
        try:
            if self.process.starting:  # a warm process (take_warm), spawned ahead of the run
                self.process.wait_ready()
            elif not self.process.alive:
                self.process.start()
            error = None
        except StartFailed as exc:
            error = str(exc)
        self.executor._slot_started(self, error)
        if error is not None:
            return
        while True:
            job = self.jobs.get()
            if job is None:
                break
            if job.batch is not None:
                try:
                    self._run_batch(job, job.batch)
                except Exception as exc:  # never leave a future unresolved
                    self.process.kill()
                    self._fail_rest(job.batch, f"the local executor failed: {exc!r}")
                self.executor._finished(self, job)
                continue
            try:
                result = self._run(job)
            except Exception as exc:  # never leave a future unresolved
                self.process.kill()
                result = AttemptResult(Outcome.LOST, error=f"the local executor failed: {exc!r}")
            if job.cancelled and result.outcome is not Outcome.SUCCEEDED:
                result = AttemptResult(Outcome.LOST, error=CANCELLED, capacity=Capacity.ON_DEMAND)
            self.executor._finished(self, job)
            job.future.set_result(result)
        self.process.stop()

    def _run(self, job: _Job) -> AttemptResult:
        if job.sent is None and job.cancelled:
            return AttemptResult(Outcome.LOST, error=CANCELLED, capacity=Capacity.ON_DEMAND)
        if job.sent is None and self.executor._closed:
            return AttemptResult(
                Outcome.LOST, error="the local executor was closed", capacity=Capacity.ON_DEMAND
            )
        if job.sent is None:
            try:
                self._ready_for(job)
            except StartFailed as exc:
                return AttemptResult(Outcome.LOST, error=str(exc), capacity=Capacity.ON_DEMAND)
            self._send(job)
        assert job.sent is not None
        result = self.executor._wait(self, job, job.sent)
        if result.outcome in (Outcome.OOM, Outcome.TIMEOUT):
            self.process.kill()  # its heap may be in any state; the next attempt gets a fresh one
        return replace(result, started_at=job.started_at)

    def _run_batch(self, lead: _Job, batch: list[_Job]) -> None:
        """Run a batch (``LocalExecutor._batch``) and resolve each attempt's future as its answer
        comes. The first attempt that fails, times out or loses its process ends the batch: the
        attempts after it go back to the queue (``_requeue``), having never run."""
        executor, config = self.executor, lead.request.config
        if lead.sent is None:
            if executor._closed or lead.cancelled:
                self._fail_rest(batch, "the local executor was closed")
                return
            try:
                self._ready_for(lead)
            except StartFailed as exc:
                self._fail_rest(batch, str(exc))
                return
            if "each" not in self.process.features:  # another retune answers there: one by one
                lead.batch = None
                executor._requeue(batch[1:])
                self._resolve(lead, self._run(lead))
                lead.batch = batch  # for _finished: its attempts were not counted one by one
                return
            self._send(lead)
        assert lead.sent is not None
        timeout, mem_limit, blobs = config.timeout, config.limits.mem, executor.blobs
        deadline, began = lead.sent.deadline, lead.started_at or time.time()
        answers: deque[tuple[Any, ...]] = deque()
        offsets: tuple[int, int] = (0, 0)
        ran: int | None = None  # how many ran, once the task process said the batch ended
        for position, job in enumerate(batch):
            reply = _BATCH_ENDED
            if not answers and ran is None:
                # Let the answers of short attempts gather (about as long as what is left should
                # take, HOLD at most): one wake-up of this thread for several, not one each.
                pause = min(
                    HOLD, (len(batch) - position) * executor._mean_duration.get(lead.interpreter, 0.0)
                )
                if pause > 0 and not self.process.readable():
                    time.sleep(pause)
                while ran is None:
                    reply = self.process.wait(blobs=blobs, deadline=deadline, mem_limit=mem_limit)
                    if reply.kind != "items":
                        break
                    answers.extend(reply.detail[0])
                    ran = reply.detail[1]
                    if not self.process.readable():
                        break
                # a timeout starts again when an answer is read, which is never before it was sent
                deadline = None if timeout is None else time.monotonic() + timeout
            if answers:
                _, answer, spans, began, ended = answers.popleft()
                reply, offsets = Reply.of(answer), spans[1]
                logs = (
                    {} if spans[0] == spans[1] else executor._publish_logs(self, job.request.logs_at, spans)
                )
            else:  # the process ended mid-attempt: its output runs to the end of the files
                ended = time.time()
                if reply.kind == "items":  # the batch ended before this one: it never ran
                    executor._requeue(batch[position:])
                    return
                logs = executor._publish_logs(self, job.request.logs_at, (offsets, None))
                if reply.kind == "crashed":
                    reply = Reply(reply.kind, error=reply.error + _tail(self.capture["stderr"]))
            job.started_at = began
            result = _result(reply, config, timeout, logs, started_at=began)
            executor._item_done(job, ended - began)
            self._resolve(job, result)
            began = ended
            if reply.kind != "done":
                if result.outcome in (Outcome.OOM, Outcome.TIMEOUT) or not self.process.alive:
                    self.process.kill()  # its heap may be in any state, as after a single attempt
                executor._requeue(batch[position + 1 :])
                return

    def _resolve(self, job: _Job, result: AttemptResult) -> None:
        if job.cancelled and result.outcome is not Outcome.SUCCEEDED:
            result = AttemptResult(Outcome.LOST, error=CANCELLED, capacity=Capacity.ON_DEMAND)
        job.future.set_result(result)

    def _fail_rest(self, batch: list[_Job], error: str) -> None:
        """The attempts of ``batch`` not answered yet end ``LOST`` with ``error``."""
        for job in batch:
            if job.future.done():
                continue
            if job is not batch[0]:  # the first one's entry goes with the batch (_finished)
                self.executor._item_done(job, 0.0)
            self._resolve(job, AttemptResult(Outcome.LOST, error=error, capacity=Capacity.ON_DEMAND))

    def _send(self, job: _Job) -> None:
        assert job.allotment is not None
        self.process.pin(job.allotment.cores)
        self.devices = {self.process.pid: job.allotment.devices}
        job.started_at = time.time()
        job.sent = self.executor._send(self, job)
        if job.cancelled:  # cancelled while it was on its way: cancel may have missed the process
            self.process.interrupt()

    def _ready_for(self, job: _Job) -> None:
        """A live task process fit for ``job`` (``StartFailed`` if none would start): the one
        there, unless it died or needs replacing (``_needs_fresh_process``). Whether it lives is
        asked once: each ask is a system call, and a thread back from one waits for the GIL."""
        alive = self.process.alive
        if alive and self._needs_fresh_process(job):
            self.process.stop()
            alive = False
        if not alive:
            self.process.start()

    def _needs_fresh_process(self, job: _Job) -> bool:
        """Its (live) process's memory is mostly taken already, or it ran with other GPUs: CUDA
        reads ``CUDA_VISIBLE_DEVICES`` once per process, so a process keeps the devices of its
        first attempt, and one of another set of devices needs a process of its own."""
        devices = () if job.allotment is None else job.allotment.devices
        if self.devices.get(self.process.pid, devices) != devices:
            return True
        limit = job.request.config.limits.mem
        return bool(limit) and self.process.rss() > limit * RECYCLE_FRACTION

    def shut(self) -> None:
        """End the slot: its running attempt is lost, its thread exits."""
        self.process.interrupt()
        self.jobs.put(None)
