"""Doubles of the executor seam: ``InlineExecutor`` (threads of this process) and
``PreemptingExecutor`` (interruptible capacity that is always taken back)."""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from retune.executors.base import CANCELLED, AttemptRequest, AttemptResult, Executor, Outcome
from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.task_runtime.calls import CallFailed, load_task, run_calls, template_task, with_runner


class InlineExecutor:
    """``Executor`` running tasks on threads of this process: no isolation, no limits.

    ``cancel`` resolves the attempt's future at once (``LOST``, ``CANCELLED``) as the local
    executor's does; a thread cannot be killed, so the task body runs on and its result is dropped.
    """

    name = "inline"
    interruptible_capacity = False

    def __init__(self, workers: int = 4) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: dict[tuple[str, str, int], Future[AttemptResult]] = {}

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        pass

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        key = (request.execution_id, request.node, request.attempt)
        future: Future[AttemptResult] = Future()
        self.futures[key] = future

        def settle(ran: Future[AttemptResult]) -> None:
            self.futures.pop(key, None)
            with suppress(InvalidStateError):  # cancelled meanwhile: that result stands
                future.set_result(ran.result())

        self.pool.submit(self._run, request).add_done_callback(settle)
        return future

    def cancel(self, request: AttemptRequest) -> None:
        future = self.futures.pop((request.execution_id, request.node, request.attempt), None)
        if future is not None:
            with suppress(InvalidStateError):  # it finished meanwhile: that result stands
                future.set_result(AttemptResult(Outcome.LOST, error=CANCELLED, capacity=request.capacity))

    def _run(self, request: AttemptRequest) -> AttemptResult:
        # The same loading, decoding and output naming as a task process, minus the process.
        ref = request.task
        try:
            # In this process: a bundled module is the one already imported here.
            template = ref.template
            if template is None:
                task = load_task(ref.name, ref.module, ref.qualname, ref.pickled, ())
            else:
                task = template_task(ref.name, template.inputs, template.outputs)
            workdir = Path(tempfile.gettempdir())
            task = with_runner(
                task,
                ref.task_type,
                definition=None if template is None else template.definition,
                config=request.config.task_config,
                environment=request.config.environment,
                workdir=workdir,
            )
            outputs = run_calls(task, request.calls, blobs=None, workdir=workdir)
        except CallFailed as exc:
            return AttemptResult(Outcome.USER_ERROR, error=str(exc), capacity=request.capacity)
        return AttemptResult(Outcome.SUCCEEDED, outputs=outputs, capacity=request.capacity)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class PreemptingExecutor:
    """Wraps an executor and offers interruptible capacity that is always taken back,
    ``preemptions`` times in all; attempts placed on-demand run on the wrapped executor."""

    name = "preempting"
    interruptible_capacity = True

    def __init__(self, inner: Executor, preemptions: int) -> None:
        self.inner = inner
        self.left = preemptions
        self.placements: list[tuple[str, int, Capacity]] = []

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        self.inner.check(config, task_type)

    def cancel(self, request: AttemptRequest) -> None:
        self.inner.cancel(request)

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        self.placements.append((request.node, request.attempt, request.capacity))
        if request.capacity is Capacity.INTERRUPTIBLE and self.left > 0:
            self.left -= 1
            future: Future[AttemptResult] = Future()
            future.set_result(
                AttemptResult(Outcome.PREEMPTED, error="preempted", capacity=Capacity.INTERRUPTIBLE)
            )
            return future
        placed: Future[AttemptResult] = Future()
        # The wrapped executor runs it, on the capacity this double says it offered.
        self.inner.submit(request).add_done_callback(
            lambda done: placed.set_result(replace(done.result(), capacity=request.capacity))
        )
        return placed

    def close(self) -> None:
        self.inner.close()
