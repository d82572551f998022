"""Why a Ray attempt has not started, and when to stop waiting for it: pure functions over what
``executors.ray`` reads of the cluster (no Ray import).

Ray keeps a task pending for ever when no node can ever run it: a request that no alive node
holds (the node that could left after ``check``; Ray waits for an autoscaler), or a worker
that cannot start under its ``runtime_env`` (an interpreter missing on the node: Ray retries
the worker's start without end). The engine would wait on such an attempt for ever. So an
attempt that Ray has not started ``[executor] ray_start_timeout`` seconds after it was submitted
is looked at (``waiting``), at most every ``look_every(timeout)`` seconds:

1. ``STARTED``: Ray's own record of the task (its task events) says a worker took it: it is
   never looked at again;
2. ``INFEASIBLE``: no alive node it may run on holds its request: it ends at once;
3. ``UNKNOWN``: Ray keeps no record of it (task events off, or dropped): it keeps waiting;
4. ``QUEUED``: no node it may run on has its request free right now: it waits behind other tasks
   (a queue is not a failure, however long);
5. ``ROOM``: a node it may run on has its request free, yet Ray did not start it: it ends when the
   next look finds the same (a moment of room between two tasks is not enough).

An attempt that ends so is the system's failure (``LOST``, ``ended``'s message), its Ray task
cancelled. Known gap: a task whose worker cannot start but that holds the last free resources of
its node (Ray reserves them while it starts the worker) looks ``QUEUED`` for as long as it holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

from retune.executors.ray_placement import RESOURCES, RayNode, wanted
from retune.model import EffectiveConfig
from retune.model.resources import format_quantity

__all__ = ["PENDING", "Waiting", "ended", "latest_statuses", "look_every", "waiting"]

PENDING: Final = frozenset({"NIL", "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT"})
"""Ray's task statuses before a worker took the task; any later one means it started."""


class Waiting(StrEnum):
    STARTED = "started"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"
    QUEUED = "queued"
    ROOM = "room"


def look_every(timeout: float) -> float:
    """Seconds between two looks at the attempts past ``timeout``: reading Ray's task records
    costs what the cluster keeps of them (up to 100,000 tasks), so not every probe."""
    return max(1.0, min(30.0, timeout / 10))


def latest_statuses(
    events: Iterable[bytes], task_ids: set[bytes], parse: Callable[[bytes], Any], name: Callable[[int], str]
) -> dict[bytes, str]:
    """The latest status (by ``name``) of each of ``task_ids`` in Ray's task ``events``
    (serialised ``TaskEvents``, read by ``parse``); a task with none is left out."""
    latest: dict[bytes, tuple[int, int]] = {}
    for raw in events:
        # A TaskEvents message begins with its task_id (field 1, 24 bytes): skip the others unparsed.
        if raw[:2] == b"\n\x18" and raw[2:26] not in task_ids:
            continue
        event = parse(raw)
        if event.task_id not in task_ids:
            continue
        for status, at in event.state_updates.state_ts_ns.items():
            if at >= latest.get(event.task_id, (0, -1))[1]:
                latest[event.task_id] = (status, at)
    return {task: name(status) for task, (status, _) in latest.items()}


def waiting(
    config: EffectiveConfig,
    status: str | None,
    nodes: list[RayNode],
    may_use: Callable[[RayNode], bool],
    free: Callable[[], Mapping[str, Mapping[str, float]]],
) -> Waiting:
    """What keeps an attempt waiting: its Ray ``status`` (None: Ray has no record of it), the
    alive ``nodes``, which of them it ``may_use`` (its placement), and ``free()``, each node's
    free resources by node id (read only when needed)."""
    if status is not None and status not in PENDING:
        return Waiting.STARTED
    asked = wanted(config)
    usable = [node for node in nodes if may_use(node)]
    if not any(node.holds(asked) for node in usable):
        return Waiting.INFEASIBLE
    if status is None:
        return Waiting.UNKNOWN
    available = free()
    for node in usable:
        left = available.get(node.id, {})
        if all(asked[ours] <= left.get(theirs, 0.0) for ours, theirs in RESOURCES):
            return Waiting.ROOM
    return Waiting.QUEUED


def ended(
    why: Waiting,
    config: EffectiveConfig,
    timeout: float,
    status: str | None,
    interpreter: str | None,
) -> str:
    """The error of an attempt ended for not starting (``why``: ``INFEASIBLE`` or ``ROOM``)."""
    asked = ", ".join(f"{ours}={format_quantity(ours, value)}" for ours, value in wanted(config).items())
    ray_says = f"Ray's status: {status}" if status else "Ray keeps no record of it"
    later = "or raise [executor] ray_start_timeout (RETUNE_RAY_START_TIMEOUT)"
    if why is Waiting.INFEASIBLE:
        return (
            f"the Ray task did not start within {timeout:g}s: no alive node of the Ray cluster that it "
            f"may run on can hold its request ({asked}; {ray_says}); the node that could may have left "
            f"the cluster after the launch was checked. Add such a node, lower the request, {later} for "
            "a cluster that adds nodes slowly."
        )
    python = f"the interpreter {interpreter!r}" if interpreter else "the nodes' own Python"
    return (
        f"the Ray task did not start within {timeout:g}s although a node had room for it ({asked}; "
        f"{ray_says}): Ray could not start a worker process for it under {python}; the raylet's logs "
        "on that node say why. Check that it exists on every node and holds the cluster's Ray and "
        f"retune (the [images] table), {later}."
    )
