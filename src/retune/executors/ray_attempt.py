"""What a Ray attempt sends to ``retune.task_runtime.on_ray`` and what its reply becomes: the
Ray executor's wire format, as ``executors.wire`` is the local executor's (no Ray import).

1. ``options``: the Ray task's options: ``num_cpus``, ``memory`` and ``num_gpus`` are the
   effective requests; ``runtime_env.env_vars`` the effective environment plus ``RETUNE_CPU``
   and ``RETUNE_BUNDLE`` (the bundle's digest, so that Ray gives each code bundle workers of its
   own); ``runtime_env.py_executable`` the image's interpreter; ``name`` the task's.
2. ``task_part``: what every attempt of one task and config sends alike, pickled once (the
   task, its type and template, the config, the blob store's URL and options): bytes cost Ray
   less to send than the nested dict, and ``on_ray`` unpickles them once per worker process.
3. ``attempt_part``: the rest (the calls, the attempt's identity, its log prefix and timeout).
4. ``Plan`` keeps 1-3 per config and task, ``Job`` an attempt in flight;
5. ``result``: ``on_ray``'s reply -> the attempt's result: ``("done", outputs, logs, began)``,
   or ``("failed", kind, error, logs, began)`` (``began``: its start on the worker) with kind
   ``user`` (the task raised), ``oom`` (its memory limit, as locally) or ``lost`` (the worker
   could not reach the blob store or the bundle).
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from retune.executors.base import AttemptRequest, AttemptResult, Outcome, TaskRef, cpu_text
from retune.executors.ray_placement import RayNode
from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.model.resources import format_quantity

__all__ = [
    "Job",
    "Plan",
    "attempt_part",
    "first_line",
    "lost",
    "options",
    "preempted",
    "resolve",
    "result",
    "task_part",
]


@dataclass(frozen=True, slots=True)
class Plan:
    """How the attempts of one effective config and task go to Ray while the node list is the
    same: what ``RayExecutor.submit`` would otherwise work out again for every item of a map."""

    config: EffectiveConfig
    """The config it was made for, kept so that its ``id`` (the key) is not reused meanwhile."""
    nodes: list[RayNode]
    """The node list it was placed on (``_alive_nodes``: a new list when read again)."""
    capacity: Capacity
    interruptible: frozenset[str]
    task: TaskRef
    """The task it was made for (kept, as ``config``)."""
    remote: Any
    """``_REMOTE`` with the attempt's options bound."""
    pickled: bytes
    """What every attempt of the plan sends alike, pickled once: the task, its type and
    template, the config and the blob store (``on_ray`` unpickles it once per worker). Ray
    serialises bytes faster than the nested dict, and so does the worker deserialise them
    (~0.2 ms less CPU a task, driver and worker together)."""


@dataclass(slots=True)
class Job:
    """An attempt the Ray executor runs: its request, its future, its Ray task (``ref``)."""

    request: AttemptRequest
    future: Future[AttemptResult]
    ref: Any  # ray.ObjectRef
    capacity: Capacity = Capacity.ON_DEMAND
    nodes: frozenset[str] = frozenset()
    """The interruptible nodes an ``INTERRUPTIBLE`` attempt may go to."""
    submitted: float = field(default_factory=time.monotonic)
    started: bool = False
    """Ray's record of the task said a worker took it (``_end_unstarted`` looks no more)."""
    room_since: float | None = None
    """When a look first found a node with room for it while it did not start."""

    def may_use(self, node: RayNode) -> bool:
        """Whether its placement lets it run on ``node``."""
        if self.capacity is Capacity.INTERRUPTIBLE:
            return node.id in self.nodes
        return not node.interruptible


def options(request: AttemptRequest, interpreter: str | None) -> dict[str, Any]:
    """The Ray task options of ``request`` (``interpreter``: its image's, None for the nodes' own)."""
    config, task = request.config, request.task
    env = {**config.environment, "RETUNE_CPU": cpu_text(config.requests.cpu)}
    if task.bundle is not None:
        env["RETUNE_BUNDLE"] = task.bundle
    runtime_env: dict[str, Any] = {"env_vars": env}
    if interpreter is not None:
        runtime_env["py_executable"] = interpreter
    return {
        "num_cpus": config.requests.cpu,
        "memory": config.requests.mem,
        "num_gpus": config.requests.gpu,
        "runtime_env": runtime_env,
        # The task's name, not the attempt's: the executor binds options once per distinct set.
        "name": task.name,
    }


def task_part(task: TaskRef, config: EffectiveConfig, blobs: tuple[str, Mapping[str, Any]]) -> bytes:
    """What every attempt of ``task`` with ``config`` sends alike, pickled: the task (its bundle
    by digest), its type and template, the config, and the blob store's URL and options."""
    template = task.template
    return pickle.dumps(
        {
            "name": task.name,
            "task": (task.module, task.qualname, task.pickled, task.bundle),
            "task_type": task.task_type,
            "template": None
            if template is None
            else (dict(template.definition), template.inputs, template.outputs),
            "config": config.to_dict(),
            "blobs": blobs,
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def attempt_part(request: AttemptRequest) -> dict[str, Any]:
    """The rest of the attempt: its calls, identity, log prefix and timeout (per call, times
    the calls), and its memory limit."""
    config = request.config
    timeout = config.timeout
    return {
        "calls": [dict(call) for call in request.calls],
        "execution_id": request.execution_id,
        "node": request.node,
        "attempt": request.attempt,
        "log_prefix": request.logs_at,
        "timeout": None if timeout is None else timeout * max(1, len(request.calls)),
        "mem_limit": config.limits.mem,
    }


def result(reply: tuple[Any, ...], config: EffectiveConfig) -> AttemptResult:
    """``on_ray``'s reply as the attempt's result (an ``oom`` error reads as locally)."""
    *answer, began = reply
    if answer[0] == "done":
        _, outputs, logs = answer
        return AttemptResult(Outcome.SUCCEEDED, outputs=outputs, logs=logs, started_at=began)
    _, kind, error, logs = answer
    if kind == "oom":
        limit = format_quantity("mem", config.limits.mem)
        return AttemptResult(
            Outcome.OOM, error=f"memory limit {limit} exceeded: {error}", logs=logs, started_at=began
        )
    outcome = Outcome.USER_ERROR if kind == "user" else Outcome.LOST
    return AttemptResult(outcome, error=error, logs=logs, started_at=began)


def lost(error: str) -> AttemptResult:
    return AttemptResult(Outcome.LOST, error=error, capacity=Capacity.ON_DEMAND)


def preempted(error: str) -> AttemptResult:
    return AttemptResult(Outcome.PREEMPTED, error=f"preempted: {error}", capacity=Capacity.INTERRUPTIBLE)


def resolve(future: Future[AttemptResult], result: AttemptResult) -> None:
    with contextlib.suppress(InvalidStateError):  # resolved meanwhile: that result stands
        future.set_result(result)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
