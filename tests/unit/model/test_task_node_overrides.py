"""``TaskNodeOverrides``: every field optional, unset is not zero, checked when built."""

import json
from typing import Any

import pytest

import retune as rt
from retune.model import (
    FIELD_NAMES,
    UNSET,
    FieldError,
    Resources,
    ResourceSpec,
    TaskNodeConfigOverride,
    TaskNodeOverrides,
    runtime_override_config,
)

GI = 2**30

FULL = TaskNodeOverrides(
    resources={"requests": {"cpu": "500m", "mem": "1Gi"}, "limits": {"mem": "2Gi", "gpu": 1}},
    cache=True,
    cache_serialize=True,
    cache_version="v2",
    retries=3,
    interruptible=True,
    container_image="py311",
    environment={"LOG": "debug", "N": "007"},
    task_config={"spark_conf": {"spark.executor.memory": "4g"}, "threads": 4},
)


def test_every_field_is_unset_by_default() -> None:
    overrides = TaskNodeOverrides()
    assert all(getattr(overrides, name) is UNSET for name in FIELD_NAMES)
    assert overrides.set_fields() == []
    assert not overrides
    assert overrides.to_dict() == {}
    assert repr(overrides) == "TaskNodeOverrides()"


def test_unset_is_falsy_but_not_none_zero_or_false() -> None:
    assert not UNSET
    assert UNSET is not None
    assert UNSET != 0
    assert UNSET != False  # noqa: E712 - the point is that it is not False
    assert repr(UNSET) == "UNSET"


def test_zero_false_and_empty_text_are_values() -> None:
    overrides = TaskNodeOverrides(retries=0, cache=False, interruptible=False, cache_version="")
    assert overrides.set_fields() == ["cache", "cache_version", "retries", "interruptible"]
    assert overrides
    assert overrides.to_dict() == {"cache": False, "cache_version": "", "retries": 0, "interruptible": False}


def test_empty_maps_are_values_too() -> None:
    overrides = TaskNodeOverrides(environment={}, task_config={})
    assert overrides.set_fields() == ["environment", "task_config"]


def test_set_fields_are_in_canonical_order() -> None:
    assert FULL.set_fields() == list(FIELD_NAMES)


def test_repr_shows_only_what_is_set() -> None:
    assert repr(TaskNodeOverrides(retries=0, cache=False)) == "TaskNodeOverrides(cache=False, retries=0)"


def test_values_are_normalised_when_built() -> None:
    assert FULL.resources == ResourceSpec(
        requests=Resources(cpu=0.5, mem=GI), limits=Resources(mem=2 * GI, gpu=1)
    )
    assert TaskNodeOverrides(cache_version=2).cache_version == "2"


def test_environment_values_must_already_be_text() -> None:
    # YAML would turn an unquoted 007 into 7: refuse rather than guess (decision 0004).
    with pytest.raises(FieldError, match=r"quote it \('7'\)") as caught:
        TaskNodeOverrides(environment={"N": 7})
    assert caught.value.field == "environment.N"


def test_to_dict_survives_a_json_round_trip() -> None:
    wire = json.loads(json.dumps(FULL.to_dict()))
    assert TaskNodeOverrides.from_dict(wire) == FULL
    assert wire["resources"] == {"requests": {"cpu": 0.5, "mem": GI}, "limits": {"mem": 2 * GI, "gpu": 1}}


def test_round_trip_keeps_zero_and_false() -> None:
    overrides = TaskNodeOverrides(retries=0, cache=False, cache_version="")
    assert TaskNodeOverrides.from_dict(json.loads(json.dumps(overrides.to_dict()))) == overrides


def test_from_dict_passes_an_overrides_object_through() -> None:
    assert TaskNodeOverrides.from_dict(FULL) is FULL


def test_later_changes_to_the_given_maps_do_not_reach_the_override() -> None:
    environment = {"LOG": "debug"}
    task_config: dict[str, Any] = {"spark_conf": {"a": "1"}}
    overrides = TaskNodeOverrides(environment=environment, task_config=task_config)
    environment["LOG"] = "trace"
    task_config["spark_conf"]["a"] = "2"
    assert overrides.environment == {"LOG": "debug"}
    assert overrides.task_config == {"spark_conf": {"a": "1"}}


def test_rfc_alias_is_the_same_type() -> None:
    assert TaskNodeConfigOverride is TaskNodeOverrides
    assert rt.TaskNodeConfigOverride is rt.TaskNodeOverrides


@pytest.mark.parametrize(
    ("key", "near"),
    [
        ("retires", "retries"),
        ("cahce", "cache"),
        ("enviroment", "environment"),
        ("taskconfig", "task_config"),
    ],
)
def test_unknown_field_suggests_the_nearest(key: str, near: str) -> None:
    with pytest.raises(FieldError) as caught:
        TaskNodeOverrides.from_dict({key: 1})
    assert caught.value.field == key
    assert f"Did you mean {near!r}?" in caught.value.fix
    assert "Fields are cache, cache_serialize, cache_version, container_image" in caught.value.fix


def test_unknown_field_with_nothing_near_lists_the_fields() -> None:
    with pytest.raises(FieldError) as caught:
        TaskNodeOverrides.from_dict({"zzz": 1})
    assert "Did you mean" not in caught.value.fix
    assert "Fields are cache, cache_serialize" in caught.value.fix


@pytest.mark.parametrize(
    ("key", "target"),
    [("cpu", "resources"), ("mem", "resources"), ("env", "environment"), ("image", "container_image")],
)
def test_cli_shorthand_in_a_map_points_to_the_full_field(key: str, target: str) -> None:
    with pytest.raises(FieldError) as caught:
        TaskNodeOverrides.from_dict({key: "x"})
    assert caught.value.field == key
    assert f"{key!r} is a CLI shorthand; in a map write {target!r}" in caught.value.fix


def test_from_dict_refuses_something_that_is_not_a_map() -> None:
    with pytest.raises(FieldError, match="is not a map of fields") as caught:
        TaskNodeOverrides.from_dict([("retries", 3)])  # type: ignore[arg-type]
    assert "Give a map such as {retries: 3}" in caught.value.fix


@pytest.mark.parametrize(
    ("fields", "path", "fix"),
    [
        ({"retries": -1}, "retries", "Use 0 for no retries"),
        ({"retries": "3"}, "retries", "Write retries=3"),
        ({"retries": 2.5}, "retries", "Write retries=3"),
        ({"retries": True}, "retries", "Write retries=3"),
        ({"retries": 101}, "retries", "Retry fewer times"),
        ({"cache": "yes"}, "cache", "Write cache=true or cache=false"),
        ({"interruptible": 1}, "interruptible", "Write interruptible=true"),
        ({"cache_serialize": None}, "cache_serialize", "Write cache_serialize=true"),
        ({"cache_version": True}, "cache_version", "such as '2'"),
        ({"cache_version": "a\nb"}, "cache_version", "Use a short tag"),
        ({"cache_version": "x" * 129}, "cache_version", "Use a short tag"),
        ({"container_image": "two words"}, "container_image", "image registry"),
        ({"container_image": ""}, "container_image", "image registry"),
        ({"environment": ["A=1"]}, "environment", "Write {NAME: value}"),
        ({"environment": {"1BAD": "x"}}, "environment.1BAD", "not starting with a digit"),
        ({"environment": {"A-B": "x"}}, "environment.A-B", "letters, digits and underscores"),
        ({"environment": {"RETUNE_HOME": "x"}}, "environment.RETUNE_HOME", "Pick another name"),
        ({"environment": {"retune_home": "x"}}, "environment.retune_home", "Pick another name"),
        ({"environment": {"FLAG": True}}, "environment.FLAG", "quote it"),
        ({"environment": {"LIST": [1]}}, "environment.LIST", "quote it"),
        ({"task_config": "spark"}, "task_config", "Write {key: value}"),
        ({"resources": "2Gi"}, "resources", "Write {requests: {...}, limits: {...}}"),
        ({"resources": {"request": {"cpu": 1}}}, "resources.request", "Write {requests: {...}"),
        ({"resources": {"requests": 2}}, "resources.requests", "Write e.g. {cpu: 2, mem: 1Gi}"),
        (
            {"resources": {"requests": {"memory": "1Gi"}}},
            "resources.requests.memory",
            "cpu, mem, gpu, storage",
        ),
        ({"resources": {"limits": {"mem": "lots"}}}, "resources.limits.mem", "such as 512Mi"),
        ({"resources": {"limits": {"mem": "2Pi"}}}, "resources.limits.mem", "Check the unit"),
        ({"resources": {"requests": {"cpu": -1}}}, "resources.requests.cpu", "zero or more"),
        ({"resources": {"requests": {"gpu": 0.5}}}, "resources.requests.gpu", "whole GPUs"),
        ({"cache": False, "cache_serialize": True}, "cache_serialize", "set cache=true too"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(fields: dict[str, Any], path: str, fix: str) -> None:
    with pytest.raises(FieldError) as caught:
        TaskNodeOverrides.from_dict(fields)
    assert caught.value.field == path
    assert fix in caught.value.fix
    assert str(caught.value).startswith(f"{path}: ")


def test_a_single_resources_is_refused_because_requests_and_limits_differ() -> None:
    with pytest.raises(FieldError) as caught:
        TaskNodeOverrides(resources=Resources(cpu=1))  # type: ignore[arg-type]
    assert caught.value.field == "resources"
    assert "runtime_override_config(cpu=..., mem=...)" in caught.value.fix


def test_resources_accept_resources_objects_per_kind() -> None:
    overrides = TaskNodeOverrides(resources={"limits": Resources(mem="1Gi")})
    assert overrides.to_dict() == {"resources": {"limits": {"mem": GI}}}


def test_cache_serialize_alone_is_allowed_in_one_layer() -> None:
    # Whether caching is on is only known once layered; resolution checks it then.
    assert TaskNodeOverrides(cache_serialize=True).to_dict() == {"cache_serialize": True}


def test_runtime_override_config_sets_request_and_limit() -> None:
    overrides = runtime_override_config(cpu=1, mem="1Gi", gpu=1, storage="10Gi")
    both = Resources(cpu=1, mem="1Gi", gpu=1, storage="10Gi")
    assert overrides.resources == ResourceSpec(requests=both, limits=both)
    assert overrides.set_fields() == ["resources"]


def test_runtime_override_config_without_resources_leaves_them_unset() -> None:
    overrides = runtime_override_config(retries=0, cache=False, environment={"A": "1"})
    assert overrides.resources is UNSET
    assert overrides.to_dict() == {"cache": False, "retries": 0, "environment": {"A": "1"}}


def test_runtime_override_config_takes_every_field() -> None:
    overrides = runtime_override_config(
        cpu="500m",
        mem="1Gi",
        retries=3,
        cache=True,
        cache_version="v2",
        cache_serialize=True,
        interruptible=True,
        container_image="py311",
        environment={"LOG": "debug", "N": "007"},
        task_config={"spark_conf": {"spark.executor.memory": "4g"}, "threads": 4},
    )
    assert overrides.set_fields() == list(FIELD_NAMES)


def test_runtime_override_config_refuses_bad_quantities_with_the_path() -> None:
    with pytest.raises(FieldError) as caught:
        runtime_override_config(mem="lots")
    assert caught.value.field == "resources.mem"
    assert "such as 512Mi" in caught.value.fix


def test_rt_exports_the_shorthand() -> None:
    assert rt.runtime_override_config(gpu=1) == runtime_override_config(gpu=1)
