"""The executor seam: run one attempt of one task node, and say how it went.

Executors run attempts and *report*; they never write to the store (the engine records).
An executor refuses, before anything runs, what it can never honour (``check``), and
admits work against its capacity so concurrent attempts never oversubscribe it.

    engine --submit(AttemptRequest)--> executor --Future[AttemptResult]--> engine

A map node is one attempt with several *calls* (one per item), so items run and are
recorded in batches; a plain task node is an attempt with one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from retune.model import EffectiveConfig
from retune.model.execution import Capacity


@dataclass(frozen=True, slots=True)
class TaskRef:
    """How a task process finds the function: by reference, or by value when it cannot be imported.

    ``module``/``qualname`` name the ``@rt.task`` object (its ``.fn`` is called). ``pickled`` holds a
    cloudpickled function for tasks defined in ``__main__``, notebooks or anything not importable.
    ``sys_path`` is the launching process's ``sys.path``, so scripts and test modules import.
    """

    name: str
    module: str
    qualname: str
    task_type: str = "python"
    pickled: bytes | None = None
    sys_path: tuple[str, ...] = ()
    bundle: str | None = None
    """The registered code bundle the task comes from (workers): attempts of different bundles
    never share a task process, whose module cache would mix two versions of one module."""


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


class Refused(Exception):
    """The executor can never honour this config (unknown image, a request larger than the machine)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}")


class Executor(Protocol):
    """Runs attempts. ``interruptible_capacity`` says whether it has any to offer."""

    name: str
    interruptible_capacity: bool

    def check(self, config: EffectiveConfig) -> None:
        """Raise ``Refused`` if an attempt with ``config`` could never run here."""

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        """Start the attempt when capacity allows; never blocks the caller."""

    def close(self) -> None:
        """Stop accepting work and release workers; running attempts are ended."""
