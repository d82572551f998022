"""Each override field changes what runs on Ray, through ``rt.run(executor="ray")`` against the
cluster at ``RETUNE_RAY_ADDRESS`` (issue 10): the Ray twin of test_fields_change_what_runs.py.

Left out, as it does not apply on Ray (docs/decisions/0020-ray-executor.md): the cpu count as
CPU affinity (Ray does not pin a task to cores: the task sees its cpu request in Ray's assigned
resources and ``RETUNE_CPU``). The memory limit is the task's own on Ray too (``on_ray`` applies
it as a local task process does), counted beyond what its Ray worker held before.

One two-node cluster for the module: a head with one cpu, and a worker with one cpu labelled
interruptible. Each test has its own RETUNE_HOME, so ``rt.run`` joins the cluster afresh (~1 s).
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, before Ray loads
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # no `uv run` in workers (executors/ray.py)

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

import retune as rt
from retune import settings
from retune.model.execution import AttemptKind, CacheStatus, Capacity, Phase
from retune.store import open_store

from . import flows_fields as flows
from . import flows_ray

pytestmark = pytest.mark.ray  # run in a pytest process of their own (Makefile: test)

GI = 2**30
MI = 2**20


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    started = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "memory": 2 * GI,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
        },
    )
    try:
        started.add_node(
            num_cpus=1,
            memory=1 * GI,
            node_ip_address="127.0.0.1",
            labels={"retune.io/capacity": "interruptible"},
        )
        yield started
    finally:
        from retune.api import wiring

        wiring._close_shared()  # leave the cluster before it stops, not when the watchdog notices
        started.shutdown()


@pytest.fixture(autouse=True)
def on_ray(ray_cluster: Cluster, retune_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETUNE_RAY_ADDRESS", ray_cluster.address)
    settings.load.cache_clear()


def executions_in_store() -> int:
    store = open_store()
    try:
        return len(store.list_executions(limit=1000))
    finally:
        store.close()


def test_environment_is_seen_by_the_task() -> None:
    plain = rt.run(flows.env_flow, executor="ray")
    overridden = rt.run(
        flows.env_flow, overrides={"env": {"environment": {"GREETING": "hello"}}}, executor="ray"
    )

    assert (plain.outputs, overridden.outputs) == ("<unset>", "hello")
    assert overridden.node("env").attempts[0].executor == "ray"


def test_attempts_are_counted_against_retries(tmp_path: Path) -> None:
    counter = str(tmp_path / "calls")
    record = rt.run(
        flows.retry_flow, {"counter": counter, "failures": 2}, {"flaky": {"retries": 2}}, executor="ray"
    )

    assert record.outputs == 3
    assert [(a.phase, a.kind) for a in record.node("flaky").attempts] == [
        (Phase.FAILED, AttemptKind.USER),
        (Phase.FAILED, AttemptKind.USER),
        (Phase.SUCCEEDED, AttemptKind.USER),
    ]
    assert "failing on purpose, call 1" in (record.node("flaky").attempts[0].error or "")


def test_retries_zero_fails_after_one_attempt(tmp_path: Path) -> None:
    record = rt.run(
        flows.retry_flow,
        {"counter": str(tmp_path / "calls"), "failures": 1},
        {"flaky": {"retries": 0}},
        executor="ray",
        raise_on_failure=False,
    )

    assert record.phase is Phase.FAILED
    assert len(record.node("flaky").attempts) == 1


def test_a_cache_hit_then_a_miss_after_a_cache_version_override(tmp_path: Path) -> None:
    counter = tmp_path / "ran"
    inputs = {"counter": str(counter)}

    runs = [
        rt.run(flows.cache_flow, inputs, overrides, executor="ray")
        for overrides in (None, None, {"cached": {"cache_version": "2"}}, {"cached": {"cache": False}})
    ]

    assert [r.node("cached").cache for r in runs] == [
        CacheStatus.MISS,
        CacheStatus.HIT,
        CacheStatus.MISS,
        CacheStatus.DISABLED,
    ]
    assert runs[1].outputs == 42
    assert counter.read_text().count("ran") == 3


def test_cpu_and_memory_requests_are_the_ray_tasks_resources() -> None:
    record = rt.run(
        flows_ray.resources_flow,
        overrides={"res": {"resources": {"requests": {"cpu": "500m", "mem": "256Mi"}}}},
        executor="ray",
    )

    assert record.outputs == {"assigned": {"CPU": 0.5, "memory": float(256 * MI)}, "retune_cpu": "0.5"}


def test_a_low_memory_limit_fails_with_oom_and_raising_it_succeeds() -> None:
    failed = rt.run(flows.memory_flow, {"mb": 200}, executor="ray", raise_on_failure=False)
    raised = rt.run(
        flows.memory_flow, {"mb": 200}, {"alloc": {"resources": {"limits": {"mem": "1Gi"}}}}, executor="ray"
    )

    assert failed.phase is Phase.FAILED
    last = failed.node("alloc").attempts[-1]
    assert last.kind is AttemptKind.USER
    assert (last.error or "").startswith("memory limit 128Mi exceeded: MemoryError")
    assert raised.outputs == 200


def test_a_request_above_every_node_is_refused_before_anything_is_stored() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.run(flows.cpu_flow, overrides={"cpu": {"resources": {"requests": {"cpu": 512}}}}, executor="ray")

    assert (caught.value.hook, caught.value.field) == ("cpu", "resources.requests.cpu")
    assert executions_in_store() == 0


def test_an_image_runs_under_its_mapped_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = tmp_path / "python-wrapped"
    wrapper.write_text(f'#!/bin/sh\nexport RETUNE_IMAGE_MARKER=py-wrapped\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("RETUNE_IMAGES", f"py-wrapped={wrapper}")
    settings.load.cache_clear()

    default = rt.run(flows_ray.image_flow, executor="ray")
    mapped = rt.run(
        flows_ray.image_flow, overrides={"image": {"container_image": "py-wrapped"}}, executor="ray"
    )

    assert default.outputs == {"executable": sys.executable, "marker": None}
    assert mapped.outputs == {"executable": sys.executable, "marker": "py-wrapped"}


def test_an_unknown_image_is_refused_at_launch() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.run(
            flows_ray.image_flow, overrides={"image": {"container_image": "no-such-image"}}, executor="ray"
        )

    assert (caught.value.hook, caught.value.field) == ("image", "container_image")
    assert "unknown image 'no-such-image' (the Ray executor knows: none)" in str(caught.value)
    assert executions_in_store() == 0


def test_task_config_reaches_the_task_type() -> None:
    record = rt.run(
        flows.spark_flow,
        overrides={"spark": {"task_config": {"spark_conf": {"spark.executor.memory": "4g"}}}},
        executor="ray",
    )

    assert record.outputs == {"spark.executor.instances": "2", "spark.executor.memory": "4g"}


def test_a_task_past_its_timeout_fails_as_the_users() -> None:
    record = rt.run(flows_ray.timeout_flow, executor="ray", raise_on_failure=False)

    assert record.phase is Phase.FAILED
    (attempt,) = record.node("sleepy").attempts
    assert (attempt.kind, attempt.error) == (AttemptKind.USER, "timed out after 1s (timeout 1s per call)")


def test_an_interruptible_node_runs_on_the_interruptible_ray_node_but_its_last_attempt() -> None:
    spot = rt.run(flows.env_flow, overrides={"env": {"interruptible": True, "retries": 1}}, executor="ray")
    last = rt.run(flows.env_flow, overrides={"env": {"interruptible": True, "retries": 0}}, executor="ray")

    assert [a.capacity for a in spot.node("env").attempts] == [Capacity.INTERRUPTIBLE]
    assert [a.capacity for a in last.node("env").attempts] == [Capacity.ON_DEMAND]
