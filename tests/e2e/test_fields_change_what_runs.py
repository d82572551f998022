"""Each override field changes what actually runs, through rt.run (DESIGN §4, local executor)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import retune as rt
from retune import settings
from retune.model.execution import AttemptKind, CacheStatus, Phase
from retune.store import open_store

from . import flows_fields as flows
from . import flows_image


def executions_in_store() -> int:
    store = open_store()
    try:
        return len(store.list_executions(limit=1000))
    finally:
        store.close()


def test_environment_is_seen_by_the_task() -> None:
    plain = rt.run(flows.env_flow)
    overridden = rt.run(flows.env_flow, overrides={"env": {"environment": {"GREETING": "hello"}}})

    assert (plain.outputs, overridden.outputs) == ("<unset>", "hello")
    assert overridden.node("env").provenance["environment.GREETING"].layer is rt.Layer.EXECUTION


def test_attempts_are_counted_against_retries(tmp_path: Path) -> None:
    counter = str(tmp_path / "calls")
    record = rt.run(flows.retry_flow, {"counter": counter, "failures": 2}, {"flaky": {"retries": 2}})

    assert record.outputs == 3
    assert [(a.phase, a.kind) for a in record.node("flaky").attempts] == [
        (Phase.FAILED, AttemptKind.USER),
        (Phase.FAILED, AttemptKind.USER),
        (Phase.SUCCEEDED, AttemptKind.USER),
    ]
    assert "failing on purpose, call 1" in (record.node("flaky").attempts[0].error or "")


def test_retries_zero_fails_after_one_attempt(tmp_path: Path) -> None:
    with pytest.raises(rt.ExecutionFailed) as caught:
        rt.run(
            flows.retry_flow, {"counter": str(tmp_path / "calls"), "failures": 1}, {"flaky": {"retries": 0}}
        )

    record = caught.value.execution
    assert record.phase is Phase.FAILED
    assert len(record.node("flaky").attempts) == 1


def test_a_cache_hit_then_a_miss_after_a_cache_version_override(tmp_path: Path) -> None:
    counter = tmp_path / "ran"
    inputs = {"counter": str(counter)}

    first = rt.run(flows.cache_flow, inputs)
    second = rt.run(flows.cache_flow, inputs)
    bumped = rt.run(flows.cache_flow, inputs, {"cached": {"cache_version": "2"}})
    disabled = rt.run(flows.cache_flow, inputs, {"cached": {"cache": False}})

    assert [r.node("cached").cache for r in (first, second, bumped, disabled)] == [
        CacheStatus.MISS,
        CacheStatus.HIT,
        CacheStatus.MISS,
        CacheStatus.DISABLED,
    ]
    assert second.outputs == 42
    assert counter.read_text().count("ran") == 3


def test_a_low_memory_limit_fails_with_oom_and_raising_it_succeeds() -> None:
    failed = rt.run(flows.memory_flow, {"mb": 200}, raise_on_failure=False)
    raised = rt.run(flows.memory_flow, {"mb": 200}, {"alloc": {"resources": {"limits": {"mem": "1Gi"}}}})

    assert failed.phase is Phase.FAILED
    assert "memory limit 128Mi exceeded" in (failed.node("alloc").attempts[-1].error or "")
    assert raised.outputs == 200
    assert raised.node("alloc").config.limits.mem == 2**30


def test_admission_refuses_an_impossible_cpu_request_before_anything_is_stored() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.run(flows.cpu_flow, overrides={"cpu": {"resources": {"requests": {"cpu": 512}}}})

    assert (caught.value.hook, caught.value.field) == ("cpu", "resources.requests.cpu")
    assert executions_in_store() == 0


def test_the_cpu_count_is_exposed_to_the_task() -> None:
    record = rt.run(flows.cpu_flow, overrides={"cpu": {"resources": {"requests": {"cpu": 1}}}})

    assert record.outputs == 1


def test_an_image_runs_under_its_mapped_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    interpreter = str(venv / "bin" / "python")
    monkeypatch.setenv("RETUNE_IMAGES", f"py-venv={interpreter}")
    settings.load.cache_clear()

    default = rt.run(flows_image.image_flow)
    mapped = rt.run(flows_image.image_flow, overrides={"image": {"container_image": "py-venv"}})

    assert mapped.outputs == interpreter
    assert default.outputs != interpreter


def test_an_unknown_image_is_refused_at_launch() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.run(flows_image.image_flow, overrides={"image": {"container_image": "no-such-image"}})

    assert (caught.value.hook, caught.value.field) == ("image", "container_image")
    assert executions_in_store() == 0


def test_task_config_reaches_the_task_type() -> None:
    record = rt.run(
        flows.spark_flow,
        overrides={"spark": {"task_config": {"spark_conf": {"spark.executor.memory": "4g"}}}},
    )

    assert record.outputs == {"spark.executor.instances": "2", "spark.executor.memory": "4g"}


def test_interruptible_attempts_are_placed_by_the_engine_and_preemptions_spare_user_retries() -> None:
    from retune.executors.local import LocalExecutor
    from retune.store import open_blobs
    from retune.testing import PreemptingExecutor

    blobs = open_blobs()
    executor = PreemptingExecutor(LocalExecutor(blobs), preemptions=2)
    try:
        record = rt.run(
            flows.env_flow,
            overrides={"env": {"interruptible": True, "retries": 1}},
            executor=executor,
            blobs=blobs,
        )
    finally:
        executor.close()

    attempts = record.node("env").attempts
    assert [(a.kind, a.capacity.value) for a in attempts] == [
        (AttemptKind.SYSTEM, "interruptible"),
        (AttemptKind.SYSTEM, "interruptible"),
        (AttemptKind.USER, "interruptible"),
    ]
    assert record.phase is Phase.SUCCEEDED
