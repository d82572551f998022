"""The Ray executor: one Ray task per attempt, on a Ray cluster (``pip install 'retune[ray]'``).

Ray is a placement layer here; the engine stays the only retry authority (DESIGN §8).

1. ``check`` refuses what can never run on the cluster (``executors.ray_check``), and a request
   no alive on-demand node can hold (``ray.nodes()``, read at most every ``NODES_FRESH`` s).
2. ``submit`` starts one Ray task, ``max_retries=0``, with the effective requests and
   environment (``executors.ray_attempt``: options and arguments are made once per config and
   task), placed by a ``label_selector`` on ``ray.io/node-id`` (``executors.ray_placement``). Its
   body is ``retune.task_runtime.on_ray`` on the worker: it opens the blob store from its URL,
   installs the bundle from it, runs the calls as a local task process does (their memory limit
   included) and writes outputs and logs to the blob store, so an execution survives the loss of
   its cluster.
3. The reply, or Ray's exception, becomes the attempt's outcome:

   | how the Ray task ended | outcome | kind |
   | --- | --- | --- |
   | the task raised (its traceback, as ``task_runtime.calls.describe`` writes it) | ``USER_ERROR`` | user |
   | the worker died after writing the timeout mark (``on_ray``) | ``TIMEOUT`` | user |
   | past its memory limit (as locally), or Ray's memory monitor killed it | ``OOM`` | user |
   | its interruptible node died (or every interruptible node it could go to, before it started) | ``PREEMPTED`` | system |
   | the worker died (killed from outside, a crash), its node died, the owner or the object was lost, the ``runtime_env`` could not be set up, the blob store failed | ``LOST`` | system |
   | ``cancel`` (``ray.cancel(force=True)``) | ``LOST``, ``CANCELLED`` | system |
   | the cluster's GCS did not answer for ``LOST_AFTER`` seconds | ``LOST`` | system |
   | Ray did not start it, and would not (``executors.ray_start``) | ``LOST`` | system |

4. A watchdog thread probes the GCS every ``PROBE_EVERY`` seconds while connected. A cluster
   that went away fails them ``LOST`` within ``LOST_AFTER`` seconds (never a hang), and the
   executor disconnects from it: Ray would otherwise end this very process once its GCS stayed
   away for ``gcs_rpc_server_reconnect_timeout_s``. The next ``submit`` connects again. It also
   ends the attempts that Ray keeps waiting for ever (``_end_unstarted``).

Numbers and what is left: docs/decisions/0020-ray-executor.md.
"""

from __future__ import annotations

import os

# Before Ray is imported: Ray then takes the loopback address for this node instead of the
# machine's external one (set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1 for a driver on a multi-machine cluster).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# And off: Ray's own `uv run` propagation. A driver started by `uv run` (as `make test` runs
# pytest) would otherwise give every worker a runtime_env that runs `uv run` again, and the
# attempt's Ray task never started (seen: the engine waited on it forever). retune already says
# what runs where: the code bundle, and [images] for the interpreter.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import contextlib
import importlib
import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Final

import ray
import ray.exceptions

from retune.executors.base import (
    CANCELLED,
    AttemptRequest,
    AttemptResult,
    Blobs,
    Outcome,
    Refused,
)
from retune.executors.ray_attempt import (
    Job,
    Plan,
    attempt_part,
    first_line,
    lost,
    options,
    preempted,
    resolve,
    task_part,
)
from retune.executors.ray_attempt import result as ray_result
from retune.executors.ray_check import RayConfigCheck
from retune.executors.ray_check import start_timeout as read_start_timeout
from retune.executors.ray_placement import RayNode, check_fits, place
from retune.executors.ray_start import Waiting, ended, latest_statuses, look_every, waiting
from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.model.resources import format_quantity
from retune.settings import Settings

__all__ = ["ENTRYPOINT", "RayConfigCheck", "RayExecutor"]

ENTRYPOINT: Final = "retune.task_runtime.on_ray"
"""The module a Ray task runs (its ``run``), imported by name on the worker."""

TIMED_OUT: Final = "timed_out"
"""The blob ``on_ray`` writes under the attempt's log prefix before ending a timed-out worker."""

PROBE_EVERY: Final = 0.5
"""Seconds between two probes of the GCS while attempts run."""

LOST_AFTER: Final = 3.0
"""Seconds the GCS may stay unreachable before every running attempt is lost."""

CONNECT_TIMEOUT: Final = 2.0
"""Seconds a cluster's address may take to accept a connection before it is called away."""

BOUND_KEPT: Final = 256
"""Distinct sets of Ray task options kept bound (``RayExecutor._remote``), and plans kept
(``RayExecutor._plan``)."""

NODES_FRESH: Final = 2.0
"""Seconds ``check`` reuses what it read of the cluster's nodes (``rt.run`` checks every node)."""

STRANDED: Final = "every interruptible Ray node the attempt could run on died"
"""The error of an interruptible attempt that was waiting for a node that died."""

log: Final = logging.getLogger("retune.executors.ray")
log.addHandler(logging.NullHandler())


def _attempt(task: bytes, attempt: dict[str, Any]) -> tuple[Any, ...]:
    """The body of every Ray task: ``ENTRYPOINT.run``, imported on the worker by name (the
    executors layer never imports the task runtime)."""
    reply: tuple[Any, ...] = importlib.import_module(ENTRYPOINT).run(task, attempt)
    return reply


_REMOTE: Final[Any] = ray.remote(max_retries=0, retry_exceptions=False)(_attempt)


class RayExecutor:
    """``Executor`` running each attempt as one Ray task.

    ``address``: the cluster (``"127.0.0.1:6379"``, ``"ray://..."`` is not supported); ``None``
    connects to the Ray this process already joined, else starts a local instance.
    ``blob_url``/``blob_options``: how the Ray workers open the blob store ``blobs`` (default:
    ``blobs.url``); every worker must reach it (a shared directory, an object store).
    ``start_timeout``: seconds an attempt may wait for Ray to start it (``executors.ray_start``;
    ``0``: no bound; default: ``[executor] ray_start_timeout`` of ``settings``, else 300).
    """

    name = "ray"

    def __init__(
        self,
        blobs: Blobs,
        address: str | None = None,
        *,
        blob_url: str | None = None,
        blob_options: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
        images: Mapping[str, str] | None = None,
        start_timeout: float | None = None,
    ) -> None:
        url = blob_url if blob_url is not None else getattr(blobs, "url", None)
        if not isinstance(url, str) or not url:
            raise ValueError(
                f"The Ray executor needs the URL of the blob store {blobs!r} to open it on the Ray "
                "workers; pass blob_url= (a directory every node sees, or an object store URL)."
            )
        self.blobs = blobs
        self.address = address
        self.settings = settings
        self._static = RayConfigCheck(settings, images)
        self._start_timeout = read_start_timeout(settings) if start_timeout is None else start_timeout or None
        self._next_look = 0.0
        self._store = (url, dict(blob_options or {}))
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, int], Job] = {}
        self._bound: dict[str, Any] = {}
        self._plans: dict[tuple[Any, ...], Plan] = {}
        self._checked: dict[tuple[int, str], EffectiveConfig] = {}
        self._owned = False  # whether this executor called ray.init (and so ray.shutdown)
        self._connected = False
        self._gcs: tuple[str, int] | None = None
        self._nodes: tuple[float, list[RayNode]] | None = None
        self._closed = False
        self._wake = threading.Event()
        self._connect()
        self._watchdog = threading.Thread(target=self._watch, name="retune-ray-watchdog", daemon=True)
        self._watchdog.start()

    # --- the Executor protocol ---------------------------------------------------------------

    @property
    def interruptible_capacity(self) -> bool:
        """Whether an alive node of the cluster is interruptible (what the engine's placement asks)."""
        try:
            return any(node.interruptible for node in self._alive_nodes())
        except Exception:  # the cluster cannot be reached: nothing to offer; submit says the rest
            return False

    def check(self, config: EffectiveConfig, task_type: str) -> None:
        self._static(config, task_type)
        check_fits(self._alive_nodes(), config)

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        future: Future[AttemptResult] = Future()
        try:
            self._check_static(request)
        except Refused as exc:
            future.set_result(AttemptResult(Outcome.USER_ERROR, error=f"refused: {exc}"))
            return future
        try:
            plan = self._plan(request, self._alive_nodes())
        except Refused as exc:  # it fitted at launch: the cluster lost nodes since, not the task's fault
            future.set_result(lost(f"refused: {exc}"))
            return future
        except Exception as exc:  # the cluster cannot be reached to check
            future.set_result(lost(f"the Ray cluster cannot be reached: {first_line(exc)}"))
            return future
        # Ray's .remote() runs outside the lock: ``_settle`` takes it on Ray's own thread, which
        # must not wait for a submission (measured: ~0.15 ms an attempt waiting for the lock).
        with self._lock:
            if self._closed:
                future.set_result(lost("the Ray executor is closed"))
                return future
            try:
                self._connect()  # never .remote() unconnected: Ray would start a cluster of its own
            except Exception as exc:
                future.set_result(lost(f"the Ray cluster refused the attempt: {first_line(exc)}"))
                return future
        try:
            ref = plan.remote.remote(plan.pickled, attempt_part(request))
        except Exception as exc:
            future.set_result(lost(f"the Ray cluster refused the attempt: {first_line(exc)}"))
            return future
        job = Job(request, future, ref, plan.capacity, plan.interruptible)
        with self._lock:
            closed = self._closed
            if not closed:
                self._jobs[request.identity] = job
        if closed:  # closed while it was submitted: close() did not see it
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            future.set_result(lost("the Ray executor was closed"))
            return future
        ref.future().add_done_callback(lambda done: self._settle(job, done))
        return future

    def cancel(self, request: AttemptRequest) -> None:
        with self._lock:
            job = self._jobs.pop(request.identity, None)
        if job is None:
            return
        with contextlib.suppress(Exception):  # finished or gone meanwhile: nothing left to stop
            ray.cancel(job.ref, force=True)
        resolve(job.future, replace(lost(CANCELLED), capacity=job.capacity))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            jobs, self._jobs = list(self._jobs.values()), {}
        self._wake.set()
        for job in jobs:
            with contextlib.suppress(Exception):
                ray.cancel(job.ref, force=True)
            resolve(job.future, replace(lost("the Ray executor was closed"), capacity=job.capacity))
        self._watchdog.join(timeout=5)
        self._disconnect()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the cluster -------------------------------------------------------------------------

    def _connect(self) -> None:
        """Join the cluster at ``address`` (or the one this process already joined, or a new
        local instance). An address that does not answer raises ``ConnectionError`` at once:
        ``ray.init`` would wait minutes for it."""
        if self._connected and ray.is_initialized():
            return
        if ray.is_initialized():
            joined = str(ray.get_runtime_context().gcs_address)
            if self.address not in (None, "auto", joined):
                raise ValueError(
                    f"This process already joined the Ray cluster at {joined}, not {self.address!r}; "
                    "Ray allows one cluster per process. Give that address, or none."
                )
        else:
            where = _host_port(self.address)
            if where is not None and not _answers(where, CONNECT_TIMEOUT):
                raise ConnectionError(f"the Ray cluster at {self.address} does not answer")
            ray.init(
                # None starts a local instance, as documented: Ray's own None would join any
                # cluster this machine last started (/tmp/ray/ray_current_cluster), another user's too.
                address=self.address or "local",
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=False,
            )
            self._owned = True
        self._gcs = _host_port(str(ray.get_runtime_context().gcs_address))
        self._nodes = None
        self._connected = True

    def _disconnect(self) -> None:
        self._connected = False
        self._nodes = None
        if self._owned:
            self._owned = False
            with contextlib.suppress(Exception):
                ray.shutdown()

    def _alive_nodes(self) -> list[RayNode]:
        now = time.monotonic()
        if self._nodes is not None and now - self._nodes[0] < NODES_FRESH:
            return self._nodes[1]
        self._connect()
        if not self._gcs_answers():
            raise ConnectionError(f"the Ray cluster's GCS at {self._gcs_text()} does not answer")
        # ray.nodes() waits for a GCS that went away meanwhile until Ray gives up on it (and ends
        # this process): ask on a thread, and wait for it a bounded time.
        answer: list[list[RayNode]] = []

        def ask() -> None:
            answer.append([RayNode.of(node) for node in ray.nodes() if node.get("Alive")])  # type: ignore[no-untyped-call]

        asking = threading.Thread(target=ask, name="retune-ray-nodes", daemon=True)
        asking.start()
        asking.join(LOST_AFTER)
        if not answer:
            raise ConnectionError(f"the Ray cluster's GCS at {self._gcs_text()} did not list its nodes")
        self._nodes = (now, answer[0])
        return answer[0]

    def _watch(self) -> None:
        """While connected, probe the GCS; when it stayed away ``LOST_AFTER`` seconds, fail the
        running attempts ``LOST`` and disconnect (Ray ends a process whose GCS stays away for
        ``gcs_rpc_server_reconnect_timeout_s``, 60 s by default, unless it disconnected)."""
        away_since: float | None = None
        while not self._closed:
            self._wake.wait(PROBE_EVERY)
            self._wake.clear()
            if not self._connected or self._closed:
                away_since = None
                continue
            if self._gcs_answers():
                away_since = None
                self._preempt_stranded()
                try:
                    self._end_unstarted()
                except Exception:  # never the watchdog's end: it must go on probing
                    log.warning("could not look at the attempts Ray has not started", exc_info=True)
                continue
            now = time.monotonic()
            away_since = away_since or now
            if now - away_since >= LOST_AFTER:
                self._lose_all(
                    f"the Ray cluster's GCS at {self._gcs_text()} did not answer for {LOST_AFTER:g}s"
                )
                away_since = None

    def _preempt_stranded(self) -> None:
        """End ``PREEMPTED`` the interruptible attempts whose every node died before they
        started, should Ray keep them pending (it fails one whose single selected node died,
        ``TaskUnschedulableError``, but says nothing of a selector of several nodes); one that
        ran on its node hears ``NodeDiedError`` from Ray itself."""
        with self._lock:
            placed = [job for job in self._jobs.values() if job.capacity is Capacity.INTERRUPTIBLE]
        if not placed:
            return
        try:
            alive = {node.id for node in self._alive_nodes()}
        except Exception:
            return  # the GCS went away meanwhile: the next probes say so
        for job in placed:
            if job.nodes & alive:
                continue
            with self._lock:
                if self._jobs.get(job.request.identity) is not job:
                    continue
                del self._jobs[job.request.identity]
            with contextlib.suppress(Exception):
                ray.cancel(job.ref, force=True)
            resolve(job.future, preempted(STRANDED))

    def _end_unstarted(self) -> None:
        """End ``LOST`` the attempts that Ray has not started ``start_timeout`` seconds after
        their submission and never will, as far as can be told (``executors.ray_start``), at most
        every ``look_every(start_timeout)`` seconds; their Ray tasks are cancelled."""
        timeout, now = self._start_timeout, time.monotonic()
        if timeout is None or now < self._next_look:
            return
        with self._lock:
            due = [job for job in self._jobs.values() if not job.started and now - job.submitted >= timeout]
        if not due:
            return
        self._next_look = now + look_every(timeout)
        try:
            self._nodes = None  # a fresh list: a node may have left since
            nodes = self._alive_nodes()
        except Exception:
            return  # the GCS went away meanwhile: the next probes say so
        statuses = _task_statuses({job.ref.task_id().binary() for job in due})
        free: list[dict[str, dict[str, float]]] = []

        def available() -> dict[str, dict[str, float]]:
            if not free:
                free.append(_free_resources())
            return free[0]

        for job in due:
            status = statuses.get(job.ref.task_id().binary())
            why = waiting(job.request.config, status, nodes, job.may_use, available)
            if why is Waiting.STARTED:
                job.started = True
            elif why is Waiting.ROOM and job.room_since is None:
                job.room_since = now  # room now: ended if the next look finds the same
            elif why in (Waiting.INFEASIBLE, Waiting.ROOM):
                config = job.request.config
                interpreter = self._static.interpreter(config.container_image)
                self._end(job, lost(ended(why, config, timeout, status, interpreter)))
            else:
                job.room_since = None

    def _end(self, job: Job, result: AttemptResult) -> None:
        """End a job still running with ``result``, its Ray task cancelled."""
        with self._lock:
            if self._jobs.get(job.request.identity) is not job:
                return
            del self._jobs[job.request.identity]
        with contextlib.suppress(Exception):
            ray.cancel(job.ref, force=True)
        resolve(job.future, replace(result, capacity=job.capacity))

    def _gcs_answers(self) -> bool:
        return self._gcs is not None and _answers(self._gcs, PROBE_EVERY)

    def _gcs_text(self) -> str:
        return "?" if self._gcs is None else f"{self._gcs[0]}:{self._gcs[1]}"

    def _lose_all(self, why: str) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        log.warning("%s; %d running attempts are lost", why, len(jobs))
        for job in jobs:
            resolve(job.future, replace(lost(why), capacity=job.capacity))
        self._disconnect()

    # --- one attempt -------------------------------------------------------------------------

    def _check_static(self, request: AttemptRequest) -> None:
        """``RayConfigCheck`` of the attempt's config, once per config object and task type (a
        map's items share one)."""
        config, task_type = request.config, request.task.task_type
        key = (id(config), task_type)
        if self._checked.get(key) is config:
            return
        self._static(config, task_type)
        if len(self._checked) >= BOUND_KEPT:
            self._checked.clear()
        self._checked[key] = config

    def _plan(self, request: AttemptRequest, nodes: list[RayNode]) -> Plan:
        """Where the attempt goes, its bound Ray task options and what it sends, reused for the
        attempts of the same config and task objects and capacity while the node list is the same
        one (the engine hands every attempt of a node, and every item of a map, the same two)."""
        config, task = request.config, request.task
        key = (id(config), id(task), request.capacity)
        plan = self._plans.get(key)
        if plan is not None and plan.config is config and plan.task is task and plan.nodes is nodes:
            return plan
        check_fits(nodes, config)
        capacity, interruptible, selector = place(nodes, request.capacity, config)
        bound = options(request, self._static.interpreter(config.container_image))
        if selector:
            bound["label_selector"] = selector
        pickled = task_part(task, config, self._store)
        plan = Plan(config, nodes, capacity, interruptible, task, self._remote(bound), pickled)
        if len(self._plans) >= BOUND_KEPT:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _remote(self, options: dict[str, Any]) -> Any:
        """``_REMOTE`` with ``options`` bound, reused for the same options: Ray's ``.options()``
        validates them and builds a wrapper each call, half of what submitting costs (~0.5 ms)."""
        key = json.dumps(options, sort_keys=True)
        bound = self._bound.get(key)
        if bound is None:
            if len(self._bound) >= BOUND_KEPT:
                self._bound.clear()
            bound = self._bound[key] = _REMOTE.options(**options)
        return bound

    def _settle(self, job: Job, done: Future[Any]) -> None:
        with self._lock:
            if self._jobs.get(job.request.identity) is not job:
                return  # cancelled, closed or lost meanwhile: that result stands
            del self._jobs[job.request.identity]
        try:
            reply = done.result()
        except BaseException as exc:
            result = self._failure(job, exc)
        else:
            result = ray_result(reply, job.request.config)
        resolve(job.future, replace(result, capacity=job.capacity))

    def _failure(self, job: Job, exc: BaseException) -> AttemptResult:
        """Ray's exception for a task that did not reply (see the table in the module docstring)."""
        errors = ray.exceptions
        config = job.request.config
        if isinstance(exc, errors.OutOfMemoryError):
            return AttemptResult(
                Outcome.OOM,
                error=f"out of memory: Ray's memory monitor killed the task (memory request "
                f"{format_quantity('mem', config.requests.mem)}, limit {format_quantity('mem', config.limits.mem)}; "
                f"its node ran low on memory): {first_line(exc)}",
            )
        if isinstance(exc, errors.WorkerCrashedError) and self._timed_out(job.request):
            timeout = config.timeout or 0.0
            total = timeout * max(1, len(job.request.calls))
            return AttemptResult(
                Outcome.TIMEOUT,
                error=f"timed out after {total:g}s (timeout {timeout:g}s per call)",
            )
        if isinstance(exc, errors.TaskCancelledError):
            return lost(CANCELLED)
        if isinstance(exc, errors.NodeDiedError):
            self._nodes = None  # read the nodes again before placing the next attempt
            if job.capacity is Capacity.INTERRUPTIBLE:
                return preempted(f"the interruptible Ray node running the attempt died: {first_line(exc)}")
        if isinstance(exc, errors.TaskUnschedulableError) and job.capacity is Capacity.INTERRUPTIBLE:
            # Ray's own answer for a waiting attempt whose one selected node died.
            self._nodes = None
            return preempted(f"{STRANDED}: {first_line(exc)}")
        what = {
            errors.WorkerCrashedError: "the Ray worker running the attempt died (killed from outside, or crashed)",
            errors.NodeDiedError: "the Ray node running the attempt died",
            errors.LocalRayletDiedError: "the Ray node of this process died",
            errors.OwnerDiedError: "the owner of the attempt's result died",
            errors.ObjectLostError: "the attempt's result was lost",
            errors.RuntimeEnvSetupError: "Ray could not set up the attempt's runtime_env",
            errors.TaskUnschedulableError: "Ray cannot schedule the attempt",
            errors.RayTaskError: "the Ray task failed outside the task's code",
        }
        for kind, text in what.items():
            if isinstance(exc, kind):
                return lost(f"{text}: {first_line(exc)}")
        return lost(f"Ray failed the attempt: {type(exc).__name__}: {first_line(exc)}")

    def _timed_out(self, request: AttemptRequest) -> bool:
        try:
            return self.blobs.exists(f"{request.logs_at}/{TIMED_OUT}")
        except Exception:
            return False


def _task_statuses(task_ids: set[bytes]) -> dict[bytes, str]:
    """Ray's latest status (``TaskStatus`` name) of each of ``task_ids`` it keeps a record of,
    from the task events the GCS keeps. Ray has no public API for them without the dashboard
    (``ray.util.state``), so this reads ``ray._private.state``; any failure: no records."""
    try:
        from ray._private.state import state
        from ray.core.generated import common_pb2, gcs_pb2

        events = state._connect_and_get_accessor().get_task_events()
        parse, names = gcs_pb2.TaskEvents.FromString, common_pb2.TaskStatus  # type: ignore[attr-defined]
        return latest_statuses(events, task_ids, parse, names.Name)
    except Exception:
        log.warning("could not read Ray's task records", exc_info=True)
        return {}


def _free_resources() -> dict[str, dict[str, float]]:
    """Each alive node's free resources, by node id (Ray's ``available_resources_per_node``)."""
    from ray._private.state import available_resources_per_node

    free: dict[str, dict[str, float]] = available_resources_per_node()  # type: ignore[no-untyped-call]
    return free


def _host_port(address: str | None) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` address; None for none, ``auto`` or a ``ray://`` URL."""
    if address is None or "://" in address:
        return None
    host, _, port = address.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _answers(where: tuple[str, int], timeout: float) -> bool:
    try:
        with socket.create_connection(where, timeout=timeout):
            return True
    except OSError:
        return False
