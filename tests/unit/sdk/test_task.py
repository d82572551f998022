"""@rt.task: the function still runs as Python, and its config is layer 1 of every node."""

from __future__ import annotations

import pytest

import retune as rt
from retune import Layer, Source

from . import flows_sdk as flows

GiB = 2**30


def test_calling_a_task_outside_a_workflow_runs_the_function() -> None:
    assert flows.prep(x=1) == 2
    assert flows.add(1) == 3
    assert flows.split(x=4) == (4, "4")
    assert flows.stats(xs=[1, 2, 3]) == flows.Stats(mean=2.0, count=3)


def test_task_is_named_by_module_and_qualified_name() -> None:
    assert flows.work.name == f"{flows.__name__}.work"


def test_task_definition_is_the_first_layer_of_its_nodes() -> None:
    node = rt.resolve(flows.planned)["n1"]
    config, task = node.config, Source(Layer.TASK, flows.work.name)

    assert (config.requests.cpu, config.requests.mem) == (1.0, GiB)
    assert (config.limits.cpu, config.limits.mem) == (2.0, 2 * GiB)
    assert (config.cache, config.cache_version, config.retries) == (True, "1", 1)
    assert dict(config.environment) == {"A": "task", "B": "task"}
    assert config.timeout == 60.0
    for field in (
        "requests.cpu",
        "limits.mem",
        "cache",
        "cache_version",
        "retries",
        "environment.B",
        "timeout",
    ):
        assert node.provenance[field] == task, field


def test_task_without_config_resolves_to_the_built_in_defaults() -> None:
    node = rt.resolve(flows.with_default)["n0"]

    assert (node.config.cache, node.config.retries, node.config.interruptible) == (False, 0, False)
    assert node.config.container_image is None
    assert node.config.timeout is None
    assert node.provenance["retries"] == Source(Layer.TASK, flows.prep.name)


def test_task_config_object_gives_the_task_its_type_and_config() -> None:
    node = rt.resolve(flows.sql_override)["n0"]

    assert node.config.task_config["cluster"] == "small"
    assert node.provenance["task_config.cluster"] == Source(Layer.TASK, flows.query.name)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"retries": -1}, "retries"),
        ({"cache_serialize": True}, "cache_serialize"),
        ({"environment": {"RETUNE_HOME": "/x"}}, "environment.RETUNE_HOME"),
    ],
    ids=["negative-retries", "serialize-without-cache", "reserved-env"],
)
def test_invalid_task_config_is_refused_when_decorating(settings: dict[str, object], field: str) -> None:
    with pytest.raises(rt.RetuneError) as caught:
        rt.task(**settings)(flows.not_yet_a_task)

    assert field in str(caught.value)
    assert "not_yet_a_task" in str(caught.value)


@pytest.mark.parametrize(
    "cache_env", [["MODEL DIR"], ["RETUNE_HOME"], "MODEL_DIR"], ids=["space", "reserved", "str"]
)
def test_invalid_cache_env_is_refused_when_decorating(cache_env: object) -> None:
    with pytest.raises(rt.CompileError, match=r"not_yet_a_task .*cache_env"):
        rt.task(cache=True, cache_env=cache_env)(flows.not_yet_a_task)  # type: ignore[arg-type]


def test_cache_env_is_kept_in_the_spec_and_left_out_of_its_json_when_empty() -> None:
    from retune.model.spec import TaskSpec

    keyed = rt.task(cache=True, cache_env=["B", "A", "B"])(flows.not_yet_a_task).spec
    plain = rt.task(cache=True)(flows.not_yet_a_task).spec

    assert keyed.cache_env == ("A", "B")
    assert TaskSpec.model_validate(keyed.model_dump(mode="json")) == keyed
    assert "cache_env" not in plain.model_dump(mode="json")
    assert "cache_env" not in plain.model_dump_json()


def test_task_config_of_an_unknown_kind_is_refused_when_decorating() -> None:
    with pytest.raises(rt.CompileError, match=r"task_config=\{'threads': 4\}"):
        rt.task(task_config={"threads": 4})(flows.not_yet_a_task)


def test_calling_a_task_with_an_input_it_does_not_take_is_a_compile_error() -> None:
    with pytest.raises(rt.CompileError, match="unexpected keyword argument 'y'"):
        rt.compile(flows.unknown_input)
