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
from collections.abc import Mapping
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
        self._scratch = Path(tempfile.mkdtemp(prefix="retune-local-"))
        self.bundles = InstalledBundles(blobs, bundles or self._scratch / "bundles")
        with self._lock:  # a warm task process for the first attempt
            self._new_slot(self.interpreters.default)

    # --- the Executor protocol ---------------------------------------------------------------

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        self._check(config, task_type)

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        future: Future[AttemptResult] = Future()
        refused = self._refusal(request.config, request.task.task_type)
        if refused is not None:
            future.set_result(AttemptResult(Outcome.USER_ERROR, error=f"refused: {refused}"))
            return future
        interpreter = self.interpreters.interpreter(request.config.container_image)
        bundle = request.task.bundle
        job = _Job(request, future, interpreter if bundle is None else f"{interpreter}{_POOL}{bundle}")
        job.queued_at = time.monotonic()
        with self._lock:
            if self._closed:
                future.set_result(AttemptResult(Outcome.LOST, error="the local executor is closed"))
                return future
            self._pending.append(job)
            self._waiting[job.interpreter] += 1
            self._jobs[request.identity] = job
            starts = self._dispatch()
        self._start(starts)
        return future

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
            self._running += 1
            starts.append((job.slot, job))
        return starts

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
        slots = sum(1 for slot in self._slots if slot.interpreter == job.interpreter)
        mean = self._mean_duration.get(job.interpreter)
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
            took = time.monotonic() - job.admitted_at
            mean = self._mean_duration.get(slot.interpreter, took)
            self._mean_duration[slot.interpreter] = 0.8 * mean + 0.2 * took
            starts = []
            if not self._closed:
                self._idle.setdefault(slot.interpreter, []).append(slot)
                starts = self._dispatch()
        self._start(starts)

    # --- one attempt -------------------------------------------------------------------------

    def _send(self, slot: _Slot, job: _Job) -> _Sent:
        request, config, process = job.request, job.request.config, slot.process
        task = request.task
        attempt = {
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
            "calls": [call if type(call) is dict else dict(call) for call in request.calls],
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

    def _publish_logs(self, slot: _Slot, prefix: str) -> dict[str, str]:
        """Copy what the attempt wrote to its streams into the blob store, before the slot's
        next attempt truncates the capture files. A stream that stayed empty gets no blob:
        most tasks print nothing, and two files per attempt would cost more than the attempt."""
        logs = {}
        for stream, path in slot.capture.items():
            try:
                if os.stat(path).st_size == 0:
                    continue
            except FileNotFoundError:
                continue
            key = logs[stream] = f"{prefix}/{stream}"
            local = self.blobs.local_path(key)
            if local is None:
                with open(path, "rb") as captured:
                    self.blobs.put(key, captured.read())
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
    reply: Reply, config: EffectiveConfig, timeout: float | None, logs: Mapping[str, str]
) -> AttemptResult:
    limit = format_quantity("mem", config.limits.mem)
    if reply.kind == "done":
        return AttemptResult(Outcome.SUCCEEDED, outputs=reply.outputs, capacity=Capacity.ON_DEMAND, logs=logs)
    if reply.kind == "user":
        outcome, error = Outcome.USER_ERROR, reply.error
    elif reply.kind == "oom":
        outcome, error = Outcome.OOM, f"memory limit {limit} exceeded: {reply.error}"
    elif reply.kind == "oom_killed":
        used = f"{round(int(reply.error) / 2**20)}Mi"
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
    return AttemptResult(outcome, error=error, capacity=Capacity.ON_DEMAND, logs=logs)


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
            if self._needs_fresh_process(job):
                self.process.stop()
            if not self.process.alive:
                try:
                    self.process.start()
                except StartFailed as exc:
                    return AttemptResult(Outcome.LOST, error=str(exc), capacity=Capacity.ON_DEMAND)
            self._send(job)
        assert job.sent is not None
        result = self.executor._wait(self, job, job.sent)
        if result.outcome in (Outcome.OOM, Outcome.TIMEOUT):
            self.process.kill()  # its heap may be in any state; the next attempt gets a fresh one
        return replace(result, started_at=job.started_at)

    def _send(self, job: _Job) -> None:
        assert job.allotment is not None
        self.process.pin(job.allotment.cores)
        self.devices = {self.process.pid: job.allotment.devices}
        job.started_at = time.time()
        job.sent = self.executor._send(self, job)
        if job.cancelled:  # cancelled while it was on its way: cancel may have missed the process
            self.process.interrupt()

    def _needs_fresh_process(self, job: _Job) -> bool:
        """Its memory is mostly taken already, or it ran with other GPUs: CUDA reads
        ``CUDA_VISIBLE_DEVICES`` once per process, so a process keeps the devices of its first
        attempt, and one of another set of devices needs a process of its own."""
        if not self.process.alive:
            return False
        devices = () if job.allotment is None else job.allotment.devices
        if self.devices.get(self.process.pid, devices) != devices:
            return True
        limit = job.request.config.limits.mem
        return bool(limit) and self.process.rss() > limit * RECYCLE_FRACTION

    def shut(self) -> None:
        """End the slot: its running attempt is lost, its thread exits."""
        self.process.interrupt()
        self.jobs.put(None)
