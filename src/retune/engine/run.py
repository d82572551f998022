"""The durable execution state machine.

Each loop iteration:

1. collects what happened (finished attempts, cache hits, skipped nodes) as store changes;
2. adds the starts it decided on (node RUNNING, attempt RUNNING) to the same batch;
3. writes the batch in one transaction (``Store.apply``);
4. only then acts: submits the started attempts to the executor.

So a change is committed before it is acted on, and a restarted engine resumes from the
store: a node whose success was committed never runs again, and an attempt that was running
when the engine died is recorded as lost (a system failure) and retried.

A map node's items are attempts of their own (DESIGN §8, docs/decisions/0022-map-items.md):
all submitted when the node starts, so the executor runs them in parallel within its capacity,
each retried alone on the node's budgets, each one's outputs stored with its attempt, so a
resumed execution runs only the items not done. An item that spends its budget fails the node
at once and the node's other items are cancelled (Flyte's ``min_success_ratio=1``).
"""

from __future__ import annotations

import contextlib
import queue
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from typing import Any, Final

from retune.engine.bindings import upstream, value_of
from retune.engine.budget import may_retry, placement
from retune.engine.cache import CacheKey, Parts, cache_key, explain_miss
from retune.executors.base import (
    USER_OUTCOMES,
    AttemptRequest,
    AttemptResult,
    Executor,
    Outcome,
    TaskRef,
    submit_all,
)
from retune.model import EffectiveConfig, NodeConfig
from retune.model.execution import Attempt, AttemptKind, CacheStatus, Execution, NodeExecution, Phase
from retune.model.spec import NodeSpec, WorkflowSpec
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    ExecutionChange,
    NewExecution,
    NewNode,
    NodeChange,
    Store,
)

RESERVATION_TTL: Final = 30.0
LOST_ON_RESTART: Final = "the engine stopped while this attempt ran; its result was lost"

Progress = Callable[[Sequence[Change]], None]
Stop = Callable[[], str | None]
"""Asked between steps: None to go on, ``"abort"`` to abort the execution (nodes not finished
become ``ABORTED``), ``"lost"`` to stop at once writing nothing (another owner took over)."""

GATHER: Final = 0.005
GATHER_IN_FLIGHT: Final = 8
"""With at least ``GATHER_IN_FLIGHT`` attempts still running, the engine waits up to ``GATHER``
seconds after the first that ended for others to end, and records them in one transaction."""

STOP_POLL: Final = 0.25
ABORTED_BY_REQUEST: Final = "aborted by request"
CANCELLED_ITEM: Final = "cancelled: item {item} failed, so the node failed"
CANCEL_WAIT: Final = 10.0
"""Seconds an abort waits for the attempts it cancelled to end (the local executor's end within
milliseconds of the kill), so that none of their processes outlives the abort."""


def new_execution_id() -> str:
    return "ex-" + uuid.uuid4().hex[:12]


@dataclass(eq=False)
class _Node:
    spec: NodeSpec
    record: NodeExecution
    deps: frozenset[str]
    attempts: list[Attempt] = field(default_factory=list)
    outputs: Mapping[str, Any] | None = None
    key: CacheKey | None = None  # when caching
    reason: str | None = None  # why it missed the cache, once looked up
    reserved: bool = False
    calls: list[dict[str, Any]] | None = None  # a started map node: each item's inputs
    done: dict[int, Mapping[str, Any]] = field(default_factory=dict)  # a map node: item -> outputs
    numbers: dict[int | None, list[int]] = field(default_factory=dict)  # item -> its attempts' numbers

    def __post_init__(self) -> None:
        for attempt in self.attempts:
            self.numbers.setdefault(attempt.item, []).append(attempt.number)

    @property
    def config(self) -> EffectiveConfig:
        return self.record.config

    @property
    def phase(self) -> Phase:
        return self.record.phase


class Engine:
    """Drives executions to a terminal phase over a ``Store`` and an ``Executor``."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        clock: Callable[[], float] = time.time,
        poll: float = 0.05,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.clock = clock
        self.poll = poll
        self.progress = progress
        self.owner = "engine-" + uuid.uuid4().hex[:8]

    def launch(self, new: NewExecution) -> str:
        """Create the execution ``QUEUED`` (one transaction); its workflow is registered already."""
        self.store.create_execution(new)
        return new.id

    def run(
        self,
        execution_id: str,
        spec: WorkflowSpec,
        tasks: Mapping[str, TaskRef],
        *,
        stop: Stop | None = None,
        created: Execution | None = None,
        worker: str | None = None,
    ) -> Execution:
        """Run (or resume) an execution until it is terminal, or ``stop`` says otherwise;
        returns the stored record. ``created``: the record of an execution this process has just
        created (``NewExecution.record()``), which saves reading it back (~25 us a node).
        ``worker``: the name the store holds as the execution's worker (the lease ``drive``
        took), if any.

        The record of a run that went to its end (or was aborted) is the one it started from
        with every change it wrote applied, built here rather than read back (a 500-item map's
        record took ~3 ms to read); one stopped because another owner took over is read."""
        run = _Run(self, execution_id, spec, tasks, stop, created)
        run.drive()
        if run.lost:
            return self.store.get_execution(execution_id)
        return run.final(worker)


class _Run:
    def __init__(
        self,
        engine: Engine,
        execution_id: str,
        spec: WorkflowSpec,
        tasks: Mapping[str, TaskRef],
        stop: Stop | None = None,
        created: Execution | None = None,
    ) -> None:
        self.engine = engine
        self.stop = stop
        self.store = engine.store
        self.id = execution_id
        self.spec = spec
        self.tasks = tasks
        self.record = created if created is not None else self.store.get_execution(execution_id)
        records = {n.path: n for n in self.record.nodes}
        self.nodes: dict[str, _Node] = {}
        for node_spec in spec.nodes:
            record = records[node_spec.path]
            deps = frozenset(d for b in node_spec.inputs.values() for d in upstream(b))
            node = _Node(node_spec, record, deps, list(record.attempts), record.outputs)
            self.nodes[node_spec.path] = node
        self.dependents: dict[str, list[_Node]] = {path: [] for path in self.nodes}
        self.unmet: dict[str, int] = {}
        for node in self.nodes.values():
            for dep in node.deps:
                self.dependents[dep].append(node)
            self.unmet[node.spec.path] = sum(
                1 for d in node.deps if self.nodes[d].phase is not Phase.SUCCEEDED
            )
        # QUEUED nodes whose upstream all succeeded, in graph order; found again by counting
        # down ``unmet`` as nodes finish, so scheduling costs O(edges), not O(nodes) per step.
        self.ready: deque[_Node] = deque(
            n for n in self.nodes.values() if n.phase is Phase.QUEUED and self.unmet[n.spec.path] == 0
        )
        self.running: dict[Future[AttemptResult], _Node] = {}
        self.requests: dict[Future[AttemptResult], AttemptRequest] = {}  # what to cancel on abort
        self.finished: queue.SimpleQueue[Future[AttemptResult]] = queue.SimpleQueue()
        self.holding: list[_Node] = []  # nodes holding a cache_serialize reservation
        # Per task, the parts of its latest cache entry: read from the store once per run, then
        # the entries this run writes (a 200-node chain of one task asked the store 200 times).
        self.latest: dict[str, Parts | None] = {}
        self.waiting: list[_Node] = []  # on another run's cache reservation
        self.looked_up: dict[str, Mapping[str, Any] | None] = {}  # cache key -> entry, read ahead
        self.changes: list[Change] = []
        self.to_submit: list[tuple[_Node, AttemptRequest]] = []
        self.to_cancel: list[AttemptRequest] = []  # a failed map node's other items
        self.heartbeat_at = 0.0
        self.lost = False  # stopped because another owner took over: what it holds is unknown here

    # -- the loop ---------------------------------------------------------------------------

    def drive(self) -> None:
        """Drive to the end; whatever stops it early (Ctrl-C, a worker giving up, another owner
        taking over) cancels the attempts still running: none outlives its driver."""
        try:
            self._drive()
        except BaseException:
            self.cancel_running()
            raise

    def _drive(self) -> None:
        if self.record.phase.terminal:
            return
        if self.record.phase is Phase.QUEUED or self.record.error:
            # Started, or resumed after an interruption: RUNNING again, the note cleared.
            self.execution_change(Phase.RUNNING)
        self.recover_lost_attempts()
        for node in self.nodes.values():  # a resumed run may find failures not yet propagated
            if node.phase.terminal and node.phase is not Phase.SUCCEEDED:
                self.settle_dependents(node)
        while True:
            signal = self.stop() if self.stop is not None else None
            if signal == "lost":
                self.lost = True
                self.cancel_running()
                return
            if signal == "abort":
                self.abort()
                self.commit()
                return
            self.schedule()
            if not self.running and not self.to_submit and not self.waiting:
                break  # the last step's changes go in one transaction with the execution's end
            self.commit()
            timeout = self.engine.poll if self.waiting or self.holding else None
            if self.stop is not None:
                timeout = min(timeout or STOP_POLL, STOP_POLL)
            if not self.running:  # only waiting on another run's reservation
                time.sleep(self.engine.poll)
                continue
            for future in self.finished_futures(timeout):
                request = self.requests.pop(future)
                self.finish(self.running.pop(future), request.attempt, future.result())
            self.heartbeat()
        self.complete()
        self.commit()

    def commit(self) -> None:
        """Write the batch, then act on it."""
        if self.changes:
            batch, self.changes = self.changes, []
            self.store.apply(batch)
            if self.engine.progress is not None:
                self.engine.progress(batch)
        for node in [n for n in self.holding if n.phase.terminal]:
            self.store.cache_release(node.key.key if node.key else "", self.engine.owner)
            node.reserved = False
            self.holding.remove(node)
        cancels, self.to_cancel = self.to_cancel, []
        for request in cancels:  # their futures stay in ``running``: waited for, results dropped
            with contextlib.suppress(Exception):
                self.engine.executor.cancel(request)
        submissions, self.to_submit = self.to_submit, []
        if not submissions:
            return
        futures = submit_all(self.engine.executor, [request for _, request in submissions])
        for (node, request), future in zip(submissions, futures, strict=True):
            self.running[future] = node
            self.requests[future] = request
            future.add_done_callback(self.finished.put)

    def finished_futures(self, timeout: float | None) -> Iterator[Future[AttemptResult]]:
        """The attempts that end from now on, as they end, waiting up to ``timeout`` for the
        first: a queue their futures feed, so a wake-up costs what ended, not what runs
        (``concurrent.futures.wait`` registers with every future in flight, each time). The
        caller records each one (and takes it out of ``running``) before the next is asked for.

        With many attempts still in flight (``GATHER_IN_FLIGHT``), ending one by one (Ray answers
        each on its own; a map's items come from their task processes one after another), those
        that end within ``GATHER`` of the first come too, so that one transaction records
        several: a 500-node fan-out on Ray wrote ~290 transactions, one or two results each.
        Each is recorded as it comes, not after the window: the engine would otherwise sit idle
        in it, then record them all while the next ones wait."""
        try:
            future = self.finished.get(timeout=timeout)
        except queue.Empty:
            return
        until = time.monotonic() + GATHER
        while True:
            if future in self.running:  # not one dropped by an abort
                yield future
            try:
                future = self.finished.get_nowait()
                continue
            except queue.Empty:
                pass
            left = until - time.monotonic()
            if len(self.running) < GATHER_IN_FLIGHT or left <= 0:
                return
            try:
                future = self.finished.get(timeout=left)
            except queue.Empty:
                return

    def latest_parts(self, task: str) -> Parts | None:
        if task not in self.latest:
            self.latest[task] = self.store.cache_latest(task)
        return self.latest[task]

    def now(self) -> float:
        return self.engine.clock()

    # -- deciding ---------------------------------------------------------------------------

    def recover_lost_attempts(self) -> None:
        """Resuming: attempts that were running are lost (system failures), retried on budget;
        a map node's items that succeeded keep their stored outputs and do not run again."""
        for node in self.nodes.values():
            if node.phase is not Phase.RUNNING:
                continue
            lost = self.record_lost(node)
            if node.spec.kind == "map":
                self.resume_items(node, lost)
            elif lost:
                self.retry_or_fail(node, LOST_ON_RESTART, None)

    def record_lost(self, node: _Node) -> set[int | None]:
        """Record the node's running attempts as lost; the items they ran (None: a task node's)."""
        lost: set[int | None] = set()
        for index, attempt in enumerate(node.attempts):
            if attempt.phase is Phase.RUNNING:
                ended = replace(
                    attempt,
                    phase=Phase.FAILED,
                    kind=AttemptKind.SYSTEM,
                    error=LOST_ON_RESTART,
                    finished_at=self.now(),
                )
                node.attempts[index] = ended
                self.changes.append(AttemptChange(self.id, node.spec.path, ended))
                lost.add(attempt.item)
        return lost

    def resume_items(self, node: _Node, lost: set[int | None]) -> None:
        if node.record.items is None:  # started before revision 0006, as one attempt: start over
            self.start_items(node, self.inputs_of(node))
            return
        node.calls = self.calls_of(node, self.inputs_of(node)) or []
        node.done = self.store.item_outputs(self.id, node.spec.path)
        for item in range(len(node.calls)):
            if node.phase.terminal:
                return
            if item in node.done:
                continue
            if item in lost:
                self.retry_or_fail(node, LOST_ON_RESTART, item)
            else:  # never submitted (or its end was not recorded): run it
                self.submit_attempt(node, node.calls[item], item)
        if len(node.done) == len(node.calls):
            self.node_done(node, self.map_outputs(node))

    def schedule(self) -> None:
        waiting, self.waiting = self.waiting, []
        for node in waiting:
            self.start(node)
        if len(self.ready) > 1:
            self.look_up_cache([node for node in self.ready if node.phase is Phase.QUEUED])
        while self.ready:
            node = self.ready.popleft()
            if node.phase is Phase.QUEUED:
                self.start(node)
        self.looked_up.clear()  # read for this step only: another run may write entries meanwhile

    def settle_dependents(self, node: _Node) -> None:
        """A node reached a terminal phase: its dependents may be ready, or must be skipped."""
        stack = [node]
        while stack:
            done = stack.pop()
            for dependent in self.dependents[done.spec.path]:
                if dependent.phase is not Phase.QUEUED:
                    continue
                if done.phase is Phase.SUCCEEDED:
                    self.unmet[dependent.spec.path] -= 1
                    if self.unmet[dependent.spec.path] == 0:
                        self.ready.append(dependent)
                else:
                    self.record_phase(dependent, Phase.SKIPPED, error="an upstream node failed")
                    stack.append(dependent)

    def look_up_cache(self, nodes: list[_Node]) -> None:
        """The cache entries of the caching ``nodes`` about to start, read in one go
        (``start`` takes them from ``looked_up``)."""
        keys = [self.key_of(node).key for node in nodes if node.config.cache]
        if keys:
            found = self.store.cache_get_many(keys)
            self.looked_up = {key: found.get(key) for key in keys}

    def key_of(self, node: _Node, inputs: dict[str, Any] | None = None) -> CacheKey:
        """The node's cache key, made once (from ``inputs``, if given, else its own)."""
        if node.key is None:
            task = self.spec.tasks[node.spec.task]
            given = self.inputs_of(node) if inputs is None else inputs
            node.key = cache_key(task, node.config, given, mapped=node.spec.kind == "map")
        return node.key

    def start(self, node: _Node) -> None:
        inputs = self.inputs_of(node)
        if node.config.cache:
            key = self.key_of(node, inputs)
            read = key.key in self.looked_up
            hit = self.looked_up.pop(key.key) if read else self.store.cache_get(key.key)
            if hit is not None:
                self.succeed(node, hit, CacheStatus.HIT)
                return
            if node.config.cache_serialize and not node.reserved:
                if not self.store.cache_reserve(key.key, self.engine.owner, RESERVATION_TTL):
                    self.waiting.append(node)
                    return
                node.reserved = True
                self.holding.append(node)
                # The previous holder may have written the outputs between our read and our
                # reservation: read again, or the body would run twice.
                hit = self.store.cache_get(key.key)
                if hit is not None:
                    self.succeed(node, hit, CacheStatus.HIT)
                    return
            # Before this run writes its own entry: what changed since the task's latest one.
            node.reason = explain_miss(key.parts, self.latest_parts(key.task))
        if node.spec.kind == "map":
            self.start_items(node, inputs)
        else:
            self.submit_attempt(node, inputs, None)

    def start_items(self, node: _Node, inputs: dict[str, Any]) -> None:
        """Every item of a map node at once; an empty map succeeds with empty lists."""
        calls = self.calls_of(node, inputs)
        if calls is None:
            return
        node.calls, node.done = calls, {}
        self.set_phase(node, Phase.RUNNING, items=len(calls))
        for item, call in enumerate(calls):
            self.submit_attempt(node, call, item)
        if not calls:
            self.node_done(node, self.map_outputs(node))

    def submit_attempt(self, node: _Node, call: dict[str, Any], item: int | None) -> None:
        """One attempt of a task node (``item`` None) or of one item of a map node."""
        config = node.config
        # An interruptible node's attempts decide where the next runs; no other's are looked at.
        offered = config.interruptible and self.engine.executor.interruptible_capacity
        capacity = placement(attempts_of(node, item) if offered else (), config, offered=offered)
        attempt = Attempt(
            number=len(node.attempts) + 1,
            phase=Phase.RUNNING,
            kind=AttemptKind.USER,
            capacity=capacity,
            executor=self.engine.executor.name,
            started_at=self.now(),
            item=item,
        )
        node.attempts.append(attempt)
        node.numbers.setdefault(item, []).append(attempt.number)
        if node.phase is not Phase.RUNNING:
            self.set_phase(node, Phase.RUNNING)
        self.changes.append(AttemptChange(self.id, node.spec.path, attempt))
        request = AttemptRequest(
            execution_id=self.id,
            node=node.spec.path,
            attempt=attempt.number,
            task=self.tasks[node.spec.task],
            calls=[call],
            config=node.config,
            capacity=capacity,
            log_prefix=f"logs/{self.id}/{node.spec.path}/{attempt.number}",
        )
        self.to_submit.append((node, request))

    def inputs_of(self, node: _Node) -> dict[str, Any]:
        outputs = {path: self.nodes[path].outputs or {} for path in node.deps}
        return {name: value_of(b, self.record.inputs, outputs) for name, b in node.spec.inputs.items()}

    def calls_of(self, node: _Node, inputs: dict[str, Any]) -> list[dict[str, Any]] | None:
        if node.spec.kind != "map":
            return [inputs]
        lengths = {name: len(value) for name, value in inputs.items()}
        if len(set(lengths.values())) > 1:
            self.set_phase(node, Phase.FAILED, error=f"map_task inputs have different lengths: {lengths}")
            return None
        count = next(iter(lengths.values()), 0)
        return [{name: value[i] for name, value in inputs.items()} for i in range(count)]

    # -- results ----------------------------------------------------------------------------

    def finish(self, node: _Node, number: int, result: AttemptResult) -> None:
        index = index_of(node, number)
        if node.attempts[index].phase is not Phase.RUNNING:  # a cancelled item: recorded already
            return
        succeeded = result.outcome is Outcome.SUCCEEDED
        kind = AttemptKind.USER if succeeded or result.outcome in USER_OUTCOMES else AttemptKind.SYSTEM
        attempt = ended(node.attempts[index], succeeded, kind, result, self.now())
        node.attempts[index] = attempt
        item = attempt.item
        if not succeeded:
            self.changes.append(AttemptChange(self.id, node.spec.path, attempt))
            self.retry_or_fail(node, result.error or result.outcome.value, item)
            return
        outputs = dict(next(iter(result.outputs or ()), {}))
        self.changes.append(
            AttemptChange(self.id, node.spec.path, attempt, None if item is None else outputs)
        )
        if item is None:
            self.node_done(node, outputs)
            return
        node.done[item] = outputs
        if len(node.done) == len(node.calls or ()):
            self.node_done(node, self.map_outputs(node))

    def map_outputs(self, node: _Node) -> dict[str, list[Any]]:
        """A map node's outputs: one list per output of its task, in item order."""
        names = [p.name for p in self.spec.tasks[node.spec.task].interface.outputs]
        items = range(len(node.calls or ()))
        return {name: [node.done[i][name] for i in items] for name in names}

    def node_done(self, node: _Node, outputs: Mapping[str, Any]) -> None:
        if node.key is not None:
            key = node.key
            self.changes.append(CachePut(key.key, outputs, self.id, node.spec.path, key.task, key.parts))
            self.latest[key.task] = key.parts
        self.succeed(node, outputs, CacheStatus.MISS if node.config.cache else CacheStatus.DISABLED)

    def retry_or_fail(self, node: _Node, error: str, item: int | None) -> None:
        """After a failed attempt of a task node or of one item: another, or the node fails."""
        mine = attempts_of(node, item)
        if may_retry(mine, node.config):
            call = self.inputs_of(node) if item is None else (node.calls or [])[item]
            self.submit_attempt(node, call, item)
            return
        tries = f"after {len(mine)} attempt{'s' * (len(mine) > 1)}: {error}"
        if item is None:
            self.set_phase(node, Phase.FAILED, error=f"failed {tries}")
            return
        self.cancel_items(node, item)
        count = len(node.calls or ())
        self.set_phase(node, Phase.FAILED, error=f"item {item} of {count} failed {tries}")

    def cancel_items(self, node: _Node, failed: int) -> None:
        """A map node failed because of one item: its other running items are recorded
        ``ABORTED`` and cancelled once that is written (``commit``)."""
        pending = [request for owner, request in self.to_submit if owner is node]  # not sent yet
        self.to_submit = [(owner, request) for owner, request in self.to_submit if owner is not node]
        sent = [self.requests[future] for future, owner in self.running.items() if owner is node]
        for request in pending + sent:
            index = index_of(node, request.attempt)
            if node.attempts[index].phase is not Phase.RUNNING:
                continue
            ended = replace(
                node.attempts[index],
                phase=Phase.ABORTED,
                error=CANCELLED_ITEM.format(item=failed),
                finished_at=self.now(),
            )
            node.attempts[index] = ended
            self.changes.append(AttemptChange(self.id, node.spec.path, ended))
        self.to_cancel.extend(sent)

    def succeed(self, node: _Node, outputs: Mapping[str, Any], cache: CacheStatus) -> None:
        node.outputs = outputs
        reason = node.reason if cache is CacheStatus.MISS else None
        self.set_phase(node, Phase.SUCCEEDED, cache=cache, outputs=outputs, cache_reason=reason)

    def set_phase(
        self,
        node: _Node,
        phase: Phase,
        *,
        cache: CacheStatus | None = None,
        outputs: Mapping[str, Any] | None = None,
        error: str | None = None,
        cache_reason: str | None = None,
        items: int | None = None,
    ) -> None:
        self.record_phase(
            node, phase, cache=cache, outputs=outputs, error=error, cache_reason=cache_reason, items=items
        )
        if phase.terminal:
            self.settle_dependents(node)

    def record_phase(
        self,
        node: _Node,
        phase: Phase,
        *,
        cache: CacheStatus | None = None,
        outputs: Mapping[str, Any] | None = None,
        error: str | None = None,
        cache_reason: str | None = None,
        items: int | None = None,
    ) -> None:
        node.record = with_phase(node.record, phase, cache, error, cache_reason, items)
        self.changes.append(
            NodeChange(self.id, node.spec.path, phase, cache, outputs, error, self.now(), cache_reason, items)
        )

    def heartbeat(self) -> None:
        if self.now() < self.heartbeat_at:
            return
        self.heartbeat_at = self.now() + RESERVATION_TTL / 3
        for node in self.running.values():
            if node.reserved and node.key:
                self.store.cache_reserve(node.key.key, self.engine.owner, RESERVATION_TTL)

    def abort(self) -> None:
        """Every node not finished becomes ``ABORTED``, then the execution. Attempts still
        running are cancelled (``Executor.cancel``: the local executor kills their processes)
        and waited for a while; their results are not recorded."""
        self.cancel_running()
        for node in self.nodes.values():
            if node.phase.terminal:
                continue
            for index, attempt in enumerate(node.attempts):  # a map node's items: every one
                if attempt.phase is Phase.RUNNING:
                    ended = replace(attempt, phase=Phase.ABORTED, finished_at=self.now())
                    node.attempts[index] = ended
                    self.changes.append(AttemptChange(self.id, node.spec.path, ended))
            self.record_phase(node, Phase.ABORTED, error=ABORTED_BY_REQUEST)
        self.running.clear()
        self.execution_change(Phase.ABORTED, error=ABORTED_BY_REQUEST)

    def cancel_running(self) -> None:
        """Cancel the attempts still running (the local executor kills their processes) and
        wait for them a while; their results are not recorded."""
        requests, self.requests = list(self.requests.items()), {}
        for _, request in requests:
            with contextlib.suppress(Exception):  # a closed executor has nothing left to stop
                self.engine.executor.cancel(request)
        wait([future for future, _ in requests], timeout=CANCEL_WAIT)

    def complete(self) -> None:
        failed = [n for n in self.nodes.values() if n.phase is Phase.FAILED]
        if failed:
            first = failed[0]
            hook = f" (hook {first.spec.hook!r})" if first.spec.hook else ""
            error = f"node {first.spec.path}{hook} {first.record.error}"
            self.execution_change(Phase.FAILED, error=error)
            return
        outputs = {path: n.outputs or {} for path, n in self.nodes.items()}
        result = {name: value_of(b, self.record.inputs, outputs) for name, b in self.spec.outputs.items()}
        self.execution_change(Phase.SUCCEEDED, outputs=returned(self.spec, result))

    def execution_change(self, phase: Phase, *, error: str | None = None, outputs: Any = None) -> None:
        """The execution's next phase, recorded as the store writes it (its error replaced, its
        outputs and end kept unless given): ``final`` builds the stored record from it."""
        at = self.now()
        self.changes.append(ExecutionChange(self.id, phase, outputs=outputs, error=error, at=at))
        was = self.record
        self.record = replace(
            was,
            phase=phase,
            error=error,
            outputs=was.outputs if outputs is None else outputs,
            finished_at=at if phase.terminal else was.finished_at,
        )

    def final(self, worker: str | None) -> Execution:
        """The record the store holds once every change of this run is committed (its drive
        returned, not ``lost``): the record it started from, each node's latest record with its
        attempts and outputs. tests/unit/engine/test_final_record.py compares it with the
        store's in every ending."""
        nodes = self.nodes
        return replace(
            self.record,
            nodes=tuple(
                final_node(nodes[record.path]) if record.path in nodes else record
                for record in self.record.nodes
            ),
            worker=worker or self.record.worker,
        )


def with_phase(
    was: NodeExecution,
    phase: Phase,
    cache: CacheStatus | None,
    error: str | None,
    cache_reason: str | None,
    items: int | None,
) -> NodeExecution:
    """``was`` in ``phase`` (``record_phase``): built by hand, as ``dataclasses.replace`` would,
    which costs ~8 us, twice per node (tests/unit/engine/test_records.py keeps every field)."""
    return NodeExecution(
        path=was.path,
        hook=was.hook,
        task=was.task,
        phase=phase,
        cache=cache or was.cache,
        config=was.config,
        provenance=was.provenance,
        attempts=was.attempts,
        outputs=was.outputs,
        error=error,
        cache_reason=cache_reason or was.cache_reason,
        items=was.items if items is None else items,
    )


def final_node(node: _Node) -> NodeExecution:
    """A node's record as stored: its latest record (``with_phase``), every attempt, its outputs."""
    was = node.record
    return NodeExecution(
        path=was.path,
        hook=was.hook,
        task=was.task,
        phase=was.phase,
        cache=was.cache,
        config=was.config,
        provenance=was.provenance,
        attempts=tuple(node.attempts),
        outputs=node.outputs,
        error=was.error,
        cache_reason=was.cache_reason,
        items=was.items,
    )


def ended(was: Attempt, succeeded: bool, kind: AttemptKind, result: AttemptResult, now: float) -> Attempt:
    """The running attempt ``was`` ended with ``result`` (by hand, as ``with_phase``)."""
    return Attempt(
        number=was.number,
        phase=Phase.SUCCEEDED if succeeded else Phase.FAILED,
        kind=kind,
        error=result.error,
        capacity=result.capacity,
        executor=was.executor,
        # When it began to run, if the executor knows (past its queue): else when submitted.
        started_at=was.started_at if result.started_at is None else result.started_at,
        finished_at=now,
        logs=dict(result.logs),
        item=was.item,
    )


def attempts_of(node: _Node, item: int | None) -> list[Attempt]:
    """The attempts of one item of a map node, or of a task node (``item`` None): what its
    budgets and placement count. Found by number (``_Node.numbers``): scanning every attempt of
    the node made a map's start quadratic in its items."""
    return [node.attempts[index_of(node, number)] for number in node.numbers.get(item, ())]


def index_of(node: _Node, number: int) -> int:
    """Where attempt ``number`` is in ``node.attempts`` (numbered 1, 2, ... in order)."""
    if 0 < number <= len(node.attempts) and node.attempts[number - 1].number == number:
        return number - 1
    return next(i for i, a in enumerate(node.attempts) if a.number == number)


def returned(spec: WorkflowSpec, outputs: Mapping[str, Any]) -> Any:
    """The workflow's return value, as every record shows it (DESIGN §6): a single output as
    itself, several (a tuple) as a list, none as None."""
    names = [p.name for p in spec.interface.outputs]
    if not names:
        return None
    if len(names) == 1:
        return outputs[names[0]]
    return [outputs[name] for name in names]


def new_nodes(resolved: Mapping[str, NodeConfig]) -> list[NewNode]:
    return [NewNode(path, config) for path, config in resolved.items()]
