"""The executor seam: run one attempt of one task node, and say how it went.

Executors run attempts and *report*; they never write to the store (the engine records).
An executor refuses, before anything runs, what it can never honour (``check``), and
admits work against its capacity so concurrent attempts never oversubscribe it.

    launch --check(config, task_type)--> executor       refused: nothing is stored
    engine --submit(AttemptRequest)----> executor --Future[AttemptResult]--> engine
    engine --cancel(AttemptRequest)----> executor       the attempt's future resolves LOST

``executors.factory`` builds the configured executor for ``rt.run``, the CLI and workers.

The engine sends one call per attempt: a map node's items are attempts of their own
(decision 0022), handed over together (``submit_all``: an executor's ``submit_many`` where it
has one). How an executor carries them is its own business: the local executor sends short
ones to a task process in batches, each still run, answered and ended as its own (decision
0028). An attempt of several calls, run in order in one process, is still accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, TypeAlias

from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.plugins.registry import TaskConfigError, get_task_type
from retune.settings import Settings
from retune.settings import load as load_settings


@dataclass(frozen=True, slots=True)
class Template:
    """A task with no Python function: the ``definition`` its type's runner reads, and its
    inputs and outputs as ``(name, type string)`` pairs, by which values are decoded and encoded."""

    definition: Mapping[str, Any]
    inputs: tuple[tuple[str, str], ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TaskRef:
    """How a task process finds the function: by reference, or by value when it cannot be imported.

    ``module``/``qualname`` name the ``@rt.task`` object (its ``.fn`` is called), imported from
    the code ``bundle`` (a digest: ``executors.bundles``; the executor installs it from the blob
    store) or, with no bundle, from the task process's own environment. ``pickled`` holds a
    cloudpickled function for tasks defined in ``__main__``, notebooks or anything not importable.
    ``task_type`` picks the runner (``retune.plugins``): ``submit`` refuses a type the executor
    cannot run, so an execution resumed from the store is refused like a fresh launch. A task
    with no function (a query, a script) has a ``template`` instead, and nothing is imported.
    """

    name: str
    module: str
    qualname: str
    task_type: str = "python"
    pickled: bytes | None = None
    bundle: str | None = None
    """The code bundle the task comes from: attempts of different bundles never share a task
    process, whose module cache would mix two versions of one module."""
    template: Template | None = None


@dataclass(frozen=True, slots=True)
class AttemptRequest:
    execution_id: str
    node: str
    attempt: int
    task: TaskRef
    calls: Sequence[Mapping[str, Any]]
    """Encoded inputs (``retune.model.values``), one mapping per call; one call for a task node."""
    config: EffectiveConfig
    capacity: Capacity = Capacity.ON_DEMAND
    log_prefix: str = ""
    """Blob key prefix for this attempt's ``stdout`` and ``stderr``."""

    @property
    def identity(self) -> tuple[str, str, int]:
        """``(execution, node, attempt)``: what an executor keeps its attempts by, for ``cancel``."""
        return self.execution_id, self.node, self.attempt

    @property
    def logs_at(self) -> str:
        """The blob key prefix of this attempt's logs (``log_prefix``, or one made of its identity)."""
        return self.log_prefix or f"logs/{self.execution_id}/{self.node}/{self.attempt}"


CANCELLED: Final = "cancelled by request: the attempt was stopped before it finished"
"""The error of an attempt ended by ``Executor.cancel``."""


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    USER_ERROR = "user_error"  # the task raised
    TIMEOUT = "timeout"  # ran past config.timeout; a user error
    OOM = "oom"  # exceeded its memory limit; a user error
    CRASHED = "crashed"  # the task process exited or died of a signal its code provoked; a user error
    LOST = "lost"  # the task process was killed from outside or went away; a system error
    PREEMPTED = "preempted"  # interruptible capacity was taken back; a system error


USER_OUTCOMES = frozenset({Outcome.USER_ERROR, Outcome.TIMEOUT, Outcome.OOM, Outcome.CRASHED})
"""Failures the task's own code caused: they consume ``retries`` (DESIGN §8). The others are
the system's, with a budget of their own."""


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: Outcome
    outputs: Sequence[Mapping[str, Any]] | None = None
    """Encoded outputs, one mapping per call, when the attempt succeeded."""
    error: str | None = None
    capacity: Capacity = Capacity.ON_DEMAND
    logs: Mapping[str, str] = field(default_factory=dict)
    """Stream name (``stdout``, ``stderr``) -> blob key."""
    started_at: float | None = None
    """When the attempt began to run (``time.time()``), past the executor's queue and admission;
    None when the executor cannot tell (the engine then keeps the time it submitted it)."""


class Refused(Exception):
    """The executor can never honour this config (unknown image, a request larger than the machine)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}")


def check_task_type(config: EffectiveConfig, task_type: str, settings: Settings | None) -> None:
    """Refuse a task type this process cannot load, or a ``task_config`` its type says this
    deployment cannot run (its ``check``, given ``settings``, read from the working directory
    when ``None``). Every executor runs a type's runner in its task process, so any type that
    loads here can run."""
    try:
        found = get_task_type(task_type)
    except KeyError as exc:
        raise Refused(
            "task_type",
            str(exc.args[0]).rstrip("."),
            "Install the package that declares it where tasks run, or fix the task's task_config.",
        ) from None
    if found.check is None:
        return
    try:
        found.check(config.task_config, settings if settings is not None else load_settings())
    except TaskConfigError as exc:
        raise Refused(exc.field, exc.problem, exc.fix) from None


def cpu_text(cores: float) -> str:
    """A cpu request as a task sees it in ``RETUNE_CPU``: ``2``, ``0.5``."""
    return str(int(cores)) if cores == int(cores) else repr(cores)


class Blobs(Protocol):
    """What executors need of a blob store (``retune.store.base.BlobStore`` is one): the task
    process reads and writes values through it, and attempt logs land in it. Declared here
    so that executors never import the store: they report, the engine records."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None: ...


ConfigCheck: TypeAlias = Callable[[EffectiveConfig, str], None]
"""``Executor.check`` on its own (config, task type): what the control plane and ``rt.run`` ask
before storing a launch; ``executors.factory.config_check`` builds one without an executor."""


class Executor(Protocol):
    """Runs attempts. ``interruptible_capacity`` says whether it has any to offer."""

    name: str

    @property
    def interruptible_capacity(self) -> bool:
        """Whether it has interruptible capacity to offer now (Ray: a labelled node is alive)."""

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        """Raise ``Refused`` if an attempt of a ``task_type`` task with ``config`` could never
        run here (no runner for the type, an unknown image, a request larger than the place)."""

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        """Start the attempt when capacity allows; never blocks the caller. An executor may also
        offer ``submit_many(requests) -> list[Future]``, the same for several at once (see
        ``submit_all``)."""

    def cancel(self, request: AttemptRequest) -> None:
        """Stop the attempt ``request`` started (or drop it if it is still queued): its future
        resolves promptly, ``LOST`` with the error ``CANCELLED``, and its processes are gone.
        An attempt that already finished, or that this executor never saw, is left as it is."""

    def close(self) -> None:
        """Stop accepting work and release task processes; running attempts are ended."""


def submit_all(executor: Executor, requests: Sequence[AttemptRequest]) -> list[Future[AttemptResult]]:
    """``executor.submit`` of each request, through its ``submit_many`` where it has one (the
    local executor: one lock and one admission pass for an engine step's attempts)."""
    many: Callable[[Sequence[AttemptRequest]], list[Future[AttemptResult]]] | None = getattr(
        executor, "submit_many", None
    )
    if many is not None:
        return many(requests)
    return [executor.submit(request) for request in requests]
