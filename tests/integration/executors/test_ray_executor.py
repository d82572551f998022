"""The Ray executor on a real three-node Ray cluster on 127.0.0.1 (issue 10): overrides become the
Ray task's resources and environment, an image runs under its interpreter, a killed worker is the
system's failure and the run succeeds on retry, a request no on-demand node can hold is refused
before anything is stored, a user error keeps its traceback, cancel stops the Ray task, an
interruptible node's attempt goes to the interruptible node and its death is a preemption, Ray's
own task record holds the overridden requests, an attempt past its memory limit is an OOM as
locally (the limit gone with it), and an attempt Ray would never start ends after its start timeout.

One cluster for the module (starting one costs ~8 s on two cores); health checks tuned so a dead
node is seen within about a second. The preemption test takes the interruptible node away: it
runs last but one; the last leaves a worker start pending on its node for a minute.
"""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # no `uv run` in workers (executors/ray.py)

import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray_tasks
from local_support import effective, ref, request, resources, support_bundle
from ray.cluster_utils import Cluster

import retune as rt
import retune.executors.ray as ray_executor
from retune.executors.base import CANCELLED, Outcome, Refused
from retune.executors.bundles import bundle_key
from retune.executors.ray import RayExecutor
from retune.model.execution import AttemptKind, Capacity, Phase
from retune.store import open_blobs, open_store
from retune.store.base import BlobStore, Store

pytestmark = pytest.mark.ray  # run in a pytest process of their own (Makefile: test)

GI = 2**30
MI = 2**20

SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 200,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head (1 cpu, 3Gi) and two workers: 2 cpus and 2Gi; 1 cpu, 1Gi, labelled interruptible."""
    started = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "memory": 3 * GI,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "_system_config": SYSTEM_CONFIG,
        },
    )
    try:
        started.add_node(num_cpus=2, memory=2 * GI, node_ip_address="127.0.0.1")
        started.add_node(
            num_cpus=1,
            memory=1 * GI,
            node_ip_address="127.0.0.1",
            resources={"interruptible": 1},
            labels={"retune.io/capacity": "interruptible"},
        )
        yield started
    finally:
        started.shutdown()


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    store = open_blobs(tmp_path_factory.mktemp("ray-blobs"))
    digest, data = support_bundle()
    store.put(bundle_key(digest), data)
    return store


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An "image": a script that execs this Python with a marker in its environment (the Ray
    workers need Ray and retune, so a bare venv would not do)."""
    script = tmp_path_factory.mktemp("image") / "python-wrapped"
    script.write_text(f'#!/bin/sh\nexport RETUNE_IMAGE_MARKER=py-wrapped\nexec {sys.executable} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def executor(cluster: Cluster, blobs: BlobStore, wrapper: Path) -> Iterator[RayExecutor]:
    with RayExecutor(blobs, cluster.address, images={"py-wrapped": str(wrapper)}) as ray_executor:
        yield ray_executor


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/retune.db")
    yield opened
    opened.close()


def _run(executor: RayExecutor, store: Store, blobs: BlobStore, target: Any, **options: Any) -> rt.Execution:
    return rt.run(target, executor=executor, store=store, blobs=blobs, **options)


def test_overridden_cpu_memory_and_environment_reach_the_ray_task(
    executor: RayExecutor, store: Store, blobs: BlobStore
) -> None:
    execution = _run(
        executor,
        store,
        blobs,
        ray_tasks.reporting,
        inputs={"tag": "t1"},
        overrides={
            "probe": rt.runtime_override_config(cpu="500m", mem="300Mi", environment={"GREETING": "hi"})
        },
    )

    seen = execution.outputs
    assert seen["resources"] == {"CPU": 0.5, "memory": float(300 * MI)}
    assert seen["greeting"] == "hi"
    assert seen["retune_cpu"] == "0.5"
    node = execution.node("probe")
    assert node.config.requests.cpu == 0.5
    assert node.attempts[0].phase is Phase.SUCCEEDED
    stdout = node.attempts[0].logs["stdout"]
    assert blobs.get(stdout) == b"reporting t1\n", "the task's stdout is in the blob store"


def test_ray_s_own_task_record_shows_the_overridden_cpu_and_memory(
    executor: RayExecutor, store: Store, blobs: BlobStore
) -> None:
    """Ray's record of the attempt's task, as its GCS keeps it (what ``ray list tasks`` shows
    where the dashboard runs; read here without it, as ``ray[default]`` is not installed)."""
    execution = _run(
        executor,
        store,
        blobs,
        ray_tasks.reporting,
        inputs={"tag": "t-record"},
        overrides={"probe": rt.runtime_override_config(cpu="750m", mem="320Mi")},
    )

    record = _ray_task_record(execution.outputs["task_id"])
    assert dict(record.required_resources) == {"CPU": 0.75, "memory": float(320 * MI)}
    assert record.name.endswith("report"), record.name  # the Ray task is named after the retune task


def test_a_worker_killed_mid_task_is_a_system_failure_and_the_run_succeeds_on_retry(
    executor: RayExecutor, store: Store, blobs: BlobStore, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    outcome: dict[str, Any] = {}
    running = threading.Thread(
        target=lambda: outcome.update(
            run=_run(executor, store, blobs, ray_tasks.holding, inputs={"pid_file": str(pid_file)})
        )
    )
    running.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    running.join(timeout=60)

    execution = outcome["run"]
    assert execution.phase is Phase.SUCCEEDED
    assert execution.outputs == 2
    first, second = execution.node("hold").attempts
    assert (first.phase, first.kind) == (Phase.FAILED, AttemptKind.SYSTEM)
    assert "the Ray worker running the attempt died" in (first.error or "")
    assert second.phase is Phase.SUCCEEDED


def test_a_request_above_every_node_is_refused_before_anything_is_stored(
    executor: RayExecutor, store: Store, blobs: BlobStore
) -> None:
    with pytest.raises(rt.OverrideError) as refused:
        _run(
            executor,
            store,
            blobs,
            ray_tasks.reporting,
            overrides={"probe": rt.runtime_override_config(cpu=3)},
        )

    message = str(refused.value)
    assert "probe" in message
    assert "resources.requests.cpu" in message
    assert "no on-demand node of the Ray cluster has that much (the largest has cpu=2; 2 on-demand" in message
    assert store.list_executions() == []


def test_a_request_whose_parts_fit_only_on_different_nodes_is_refused(executor: RayExecutor) -> None:
    config = effective(requests=resources(cpu=2, mem=2 * GI + 1), limits=resources(cpu=2, mem=2 * GI + 1))

    with pytest.raises(Refused, match="no single on-demand node of the Ray cluster has all of it"):
        executor.check(config, "python")


def test_a_user_error_keeps_its_traceback(executor: RayExecutor, store: Store, blobs: BlobStore) -> None:
    execution = _run(executor, store, blobs, ray_tasks.failing, raise_on_failure=False)

    assert execution.phase is Phase.FAILED
    (attempt,) = execution.nodes[0].attempts
    assert attempt.kind is AttemptKind.USER
    error = attempt.error or ""
    assert error.startswith("ValueError: bad input 3\nTraceback (most recent call last):")
    assert "ray_tasks.py" in error and "in _check" in error
    assert "retune/task_runtime" not in error, "the traceback shows the user's frames only"


def test_cancel_stops_the_ray_task_and_resolves_the_attempt_lost(
    executor: RayExecutor, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    sleeping = request(
        ref(ray_tasks.nap),
        [{"seconds": 60.0}],
        config=effective(environment={"NAP_STARTED": str(started)}),
        node="cancelled",
    )
    future = executor.submit(sleeping)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    pid = int(started.read_text())

    executor.cancel(sleeping)

    result = future.result(timeout=5)
    assert (result.outcome, result.error) == (Outcome.LOST, CANCELLED)
    deadline = time.monotonic() + 10
    while _running(pid):
        assert time.monotonic() < deadline, "the Ray worker of a cancelled attempt still runs"
        time.sleep(0.05)


def test_an_attempt_past_its_timeout_is_a_user_timeout(executor: RayExecutor, tmp_path: Path) -> None:
    started = tmp_path / "started"
    slow = request(
        ref(ray_tasks.nap),
        [{"seconds": 30.0}],
        config=effective(environment={"NAP_STARTED": str(started)}, timeout=1.0),
        node="slow",
    )

    result = executor.submit(slow).result(timeout=30)

    assert (result.outcome, result.error) == (Outcome.TIMEOUT, "timed out after 1s (timeout 1s per call)")


def test_unknown_task_types_and_images_are_refused(executor: RayExecutor) -> None:
    with pytest.raises(Refused, match="Unknown task type 'hive'"):
        executor.check(effective(), "hive")
    with pytest.raises(
        Refused, match=r"container_image: unknown image 'py312' \(the Ray executor knows: 'py-wrapped'\)"
    ):
        executor.check(effective(container_image="py312"), "python")


def test_an_image_runs_under_its_mapped_interpreter(
    executor: RayExecutor, store: Store, blobs: BlobStore
) -> None:
    default = _run(executor, store, blobs, ray_tasks.imaged)
    mapped = _run(
        executor, store, blobs, ray_tasks.imaged, overrides={"image": {"container_image": "py-wrapped"}}
    )

    assert default.outputs["marker"] is None
    assert mapped.outputs == {"executable": sys.executable, "marker": "py-wrapped"}
    assert mapped.node("image").config.container_image == "py-wrapped"


def test_a_map_of_calls_runs_in_one_ray_task(executor: RayExecutor) -> None:
    result = executor.submit(request(ref(ray_tasks.add), [{"a": 1, "b": 2}, {"a": 3, "b": 4}])).result(30)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.outputs == [{"o0": 3}, {"o0": 7}]


def test_an_attempt_past_its_memory_limit_fails_as_locally_and_spends_the_users_retries(
    executor: RayExecutor, store: Store, blobs: BlobStore
) -> None:
    limited = {"alloc": {"resources": {"requests": {"mem": "200Mi"}, "limits": {"mem": "200Mi"}}}}

    failed = _run(
        executor,
        store,
        blobs,
        ray_tasks.allocating,
        inputs={"mb": 1024},
        overrides=limited,
        raise_on_failure=False,
    )
    roomy = _run(executor, store, blobs, ray_tasks.allocating, inputs={"mb": 300})

    attempts = failed.node("alloc").attempts
    assert [(a.phase, a.kind) for a in attempts] == [(Phase.FAILED, AttemptKind.USER)] * 2, (
        "retries=1: both spent"
    )
    for attempt in attempts:
        assert (attempt.error or "").startswith("memory limit 200Mi exceeded: MemoryError"), attempt.error
    assert roomy.outputs == 300 * MI


def test_a_memory_limit_ends_with_its_attempt_and_never_reaches_the_next_task_of_its_worker(
    executor: RayExecutor, tmp_path: Path
) -> None:
    limited = effective(requests=resources(mem=200 * MI), limits=resources(mem=200 * MI))
    unlimited = effective(requests=resources(mem=200 * MI), limits=resources(mem=0))
    pid_file = tmp_path / "pid"

    failed = executor.submit(
        request(ref(ray_tasks.alloc_noting), [{"mb": 1024, "pid_file": str(pid_file)}], config=limited)
    ).result(timeout=60)
    seen = [
        executor.submit(request(ref(ray_tasks.limit_seen), config=unlimited, attempt=n)).result(timeout=60)
        for n in range(2, 6)
    ]

    assert failed.outcome is Outcome.OOM
    assert [result.outcome for result in seen] == [Outcome.SUCCEEDED] * 4
    limits = dict(str(result.outputs[0]["o0"]).split(":") for result in seen)  # type: ignore[index]
    assert pid_file.read_text() in limits, "Ray ran the next tasks in the worker of the limited one"
    assert set(limits.values()) == {"-1"}, "no RLIMIT_DATA left on the worker"


@pytest.fixture
def impatient(cluster: Cluster, blobs: BlobStore, tmp_path: Path) -> Iterator[RayExecutor]:
    """An executor that waits 2 s for Ray to start an attempt, with an image whose interpreter
    exits at once (an executable, so the launch check passes; Ray cannot start a worker with it)."""
    broken = tmp_path / "python-broken"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    with RayExecutor(blobs, cluster.address, images={"broken": str(broken)}, start_timeout=2) as waiting:
        yield waiting


def test_an_attempt_whose_only_node_left_after_the_check_is_the_systems_failure_after_its_start_timeout(
    cluster: Cluster, impatient: RayExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = effective(requests=resources(mem=4 * GI), limits=resources(mem=4 * GI))
    added = cluster.add_node(num_cpus=1, memory=5 * GI, node_ip_address="127.0.0.1")
    _until(lambda: _holds(impatient, big), "the executor sees the added node")
    monkeypatch.setattr(ray_executor, "NODES_FRESH", 600.0)  # submit places it by what check read
    cluster.remove_node(added)
    _until(lambda: not _alive(added.node_id), "Ray sees the node gone")

    began = time.monotonic()
    result = impatient.submit(request(ref(ray_tasks.add), [{"a": 1, "b": 2}], config=big)).result(timeout=60)
    took = time.monotonic() - began

    assert result.outcome is Outcome.LOST
    assert (result.error or "").startswith(
        "the Ray task did not start within 2s: no alive node of the Ray cluster that it may run on can "
        "hold its request (cpu=250m, mem=4Gi, gpu=0; Ray's status: PENDING_NODE_ASSIGNMENT)"
    ), result.error
    assert "Add such a node, lower the request, or raise [executor] ray_start_timeout" in (result.error or "")
    assert took < 15, f"ended {took:.1f}s after it was submitted"


def _holds(executor: RayExecutor, config: Any) -> bool:
    try:
        executor.check(config, "python")
    except Refused:
        return False
    return True


def _alive(node_id: str) -> bool:
    import ray

    return any(node["NodeID"] == node_id and node["Alive"] for node in ray.nodes())


def _until(condition: Any, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within:g}s: {what}"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_an_interruptible_nodes_attempt_is_preempted_with_its_node_and_retried_on_demand(
    cluster: Cluster, executor: RayExecutor, store: Store, blobs: BlobStore, tmp_path: Path
) -> None:
    """Runs last but one: it takes the module cluster's interruptible node away. An attempt still waiting
    for room on that node is preempted too, rather than left pending for a node that is gone."""
    (spot,) = [node for node in cluster.list_all_nodes() if node.node_id in _interruptible_ids()]
    assert executor.interruptible_capacity is True
    marker = tmp_path / "nodes"
    outcome: dict[str, Any] = {}
    running = threading.Thread(
        target=lambda: outcome.update(
            run=_run(executor, store, blobs, ray_tasks.placing, inputs={"marker": str(marker)})
        )
    )
    running.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    first_node = marker.read_text().strip()
    waiting_request = dataclasses.replace(
        request(
            ref(ray_tasks.add),
            [{"a": 1, "b": 2}],
            config=effective(requests=resources(cpu=1)),
            node="waiting",
        ),
        capacity=Capacity.INTERRUPTIBLE,
    )
    waiting = executor.submit(waiting_request)  # 250m of the node's one cpu are taken: it waits

    cluster.remove_node(spot)
    running.join(timeout=60)
    stranded = waiting.result(timeout=30)

    execution = outcome["run"]
    assert first_node == spot.node_id, "the first attempt ran on the interruptible node"
    assert execution.phase is Phase.SUCCEEDED
    assert execution.outputs != spot.node_id, "the next attempt ran elsewhere"
    first, second = execution.node("place").attempts
    assert (first.phase, first.kind, first.capacity) == (
        Phase.FAILED,
        AttemptKind.SYSTEM,
        Capacity.INTERRUPTIBLE,
    )
    assert (first.error or "").startswith("preempted: the interruptible Ray node running the attempt died")
    assert (second.phase, second.kind, second.capacity) == (
        Phase.SUCCEEDED,
        AttemptKind.USER,
        Capacity.ON_DEMAND,
    )
    assert executor.interruptible_capacity is False
    assert (stranded.outcome, stranded.capacity) == (Outcome.PREEMPTED, Capacity.INTERRUPTIBLE), (
        stranded.error
    )
    assert (stranded.error or "").startswith(
        "preempted: every interruptible Ray node the attempt could run on died"
    )


def _ray_task_record(task_id: str, within: float = 10.0) -> Any:
    """The ``TaskInfoEntry`` the GCS keeps of a task (its owner reports it within ~1 s)."""
    from ray._private.state import state
    from ray.core.generated import gcs_pb2

    wanted = bytes.fromhex(task_id)
    deadline = time.monotonic() + within
    while True:
        for raw in state._connect_and_get_accessor().get_task_events():
            event = gcs_pb2.TaskEvents.FromString(raw)  # type: ignore[attr-defined]
            if event.task_id == wanted and event.HasField("task_info"):
                return event.task_info
        assert time.monotonic() < deadline, f"Ray keeps no record of task {task_id}"
        time.sleep(0.2)


def _interruptible_ids() -> set[str]:
    import ray

    return {
        node["NodeID"] for node in ray.nodes() if node["Labels"].get("retune.io/capacity") == "interruptible"
    }


def test_an_attempt_whose_worker_cannot_start_is_the_systems_failure_after_its_start_timeout(
    impatient: RayExecutor,
) -> None:
    """Runs last: Ray then holds that node's worker starts for worker_register_timeout_seconds
    (60 s), waiting for the worker that never registers."""
    unstartable = request(
        ref(ray_tasks.add), [{"a": 1, "b": 2}], config=effective(container_image="broken"), node="unstartable"
    )

    began = time.monotonic()
    result = impatient.submit(unstartable).result(timeout=60)
    took = time.monotonic() - began

    assert result.outcome is Outcome.LOST
    error = result.error or ""
    assert error.startswith("the Ray task did not start within 2s although a node had room for it"), error
    assert "python-broken" in error and "the raylet's logs on that node say why" in error
    assert took < 15, f"ended {took:.1f}s after it was submitted"
