"""The cache key: what enters it and what does not, and why a node missed (DESIGN §9)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import retune as rt
from retune.engine.cache import CacheKey, cache_key, explain_miss
from retune.model.spec import TaskSpec

from . import flows_cache as flows


def key_of(workflow: Any, hook: str, overrides: dict[str, Any] | None = None, inputs: Any = None) -> CacheKey:
    node = next(n for n in rt.resolve(workflow, overrides={hook: overrides or {}}).values())
    task: TaskSpec = rt.compile(workflow).spec.tasks[node.task]
    return cache_key(task, node.config, inputs or {"x": 1})


def test_the_sql_cluster_changes_the_key_and_threads_do_not() -> None:
    base = key_of(flows.query_flow, "query")
    other_cluster = key_of(flows.query_flow, "query", {"task_config": {"cluster": "lake"}})
    more_threads = key_of(flows.query_flow, "query", {"task_config": {"threads": 8, "memory_limit": "2GB"}})

    assert base.parts["task_config.cluster"] == "warehouse"
    assert other_cluster.key != base.key
    assert more_threads.key == base.key
    assert not any(name.startswith("task_config.threads") for name in base.parts)
    assert explain_miss(other_cluster.parts, base.parts) == (
        "cache miss: task_config.cluster changed ('warehouse' -> 'lake')"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"resources": {"requests": {"cpu": 2, "mem": "1Gi"}, "limits": {"cpu": 4, "mem": "2Gi"}}},
        {"retries": 4},
        {"interruptible": True},
        {"cache_serialize": True},
        {"environment": {"LOG_LEVEL": "debug"}},
    ],
    ids=["resources", "retries", "interruptible", "cache_serialize", "env-not-in-cache_env"],
)
def test_fields_that_change_how_a_task_runs_keep_the_key(overrides: dict[str, Any]) -> None:
    assert key_of(flows.predict_flow, "predict", overrides).key == key_of(flows.predict_flow, "predict").key


@pytest.mark.parametrize(
    ("overrides", "inputs", "reason"),
    [
        ({"cache_version": "2"}, None, "cache_version changed ('' -> '2')"),
        ({"container_image": "py312"}, None, "container_image changed (None -> 'py312')"),
        ({"environment": {"MODEL_DIR": "/models/b"}}, None, "environment.MODEL_DIR changed"),
        ({}, {"x": 2}, "inputs changed"),
    ],
    ids=["cache_version", "image", "cache_env", "inputs"],
)
def test_fields_that_change_results_change_the_key_and_name_themselves(
    overrides: dict[str, Any], inputs: dict[str, Any] | None, reason: str
) -> None:
    base = key_of(flows.predict_flow, "predict")
    changed = key_of(flows.predict_flow, "predict", overrides, inputs)

    assert changed.key != base.key
    assert explain_miss(changed.parts, base.parts) == f"cache miss: {reason}"


def test_environment_values_are_stored_hashed() -> None:
    parts = key_of(flows.predict_flow, "predict", {"environment": {"MODEL_DIR": "s3cr3t"}}).parts

    assert "s3cr3t" not in repr(parts)
    assert str(parts["environment.MODEL_DIR"]).startswith("sha256:")


def test_a_cache_env_key_that_is_unset_differs_from_an_empty_value() -> None:
    spec = rt.compile(flows.predict_flow).spec.tasks[flows.predict.name]
    config = next(iter(rt.resolve(flows.predict_flow).values())).config
    unset = cache_key(spec, replace(config, environment={}), {"x": 1})
    empty = key_of(flows.predict_flow, "predict", {"environment": {"MODEL_DIR": ""}})

    assert unset.parts["environment.MODEL_DIR"] is None
    assert unset.key != empty.key


def test_a_first_run_says_so() -> None:
    assert (
        explain_miss({"inputs": "sha256:1"}, None)
        == "cache miss: first run of this task (no earlier cache entry)"
    )
