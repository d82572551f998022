"""``parse_cli_overrides``: ``-o HOOK.FIELD=VALUE`` items, with the shorthands users type."""

import pytest

from retune import OverrideError, Resources, TaskNodeOverrides
from retune.model import UNSET, ResourceSpec
from retune.overrides import parse_cli_overrides

GI = 2**30


def _one(*items: str) -> TaskNodeOverrides:
    parsed = parse_cli_overrides(items)
    assert list(parsed) == ["train"]
    return parsed["train"]


@pytest.mark.parametrize(
    ("item", "both"),
    [
        ("train.cpu=2", Resources(cpu=2)),
        ("train.cpu=500m", Resources(cpu="500m")),
        ("train.mem=1Gi", Resources(mem=GI)),
        ("train.gpu=1", Resources(gpu=1)),
        ("train.storage=10Gi", Resources(storage=10 * GI)),
    ],
)
def test_resource_shorthands_set_request_and_limit(item: str, both: Resources) -> None:
    assert _one(item).resources == ResourceSpec(requests=both, limits=both)


def test_requests_and_limits_can_be_set_apart() -> None:
    overrides = _one("train.requests.mem=1Gi", "train.limits.mem=2Gi", "train.resources.limits.cpu=4")
    assert overrides.resources == ResourceSpec(
        requests=Resources(mem=GI), limits=Resources(mem=2 * GI, cpu=4)
    )


def test_image_shorthand_sets_container_image() -> None:
    assert _one("train.image=py311").container_image == "py311"
    assert _one("train.container_image=ghcr.io/acme/py:3.11").container_image == "ghcr.io/acme/py:3.11"


@pytest.mark.parametrize(
    ("item", "name", "value"),
    [
        ("train.env.LOG=debug", "LOG", "debug"),
        ("train.env.N=007", "N", "007"),
        ("train.env.FLAG=true", "FLAG", "true"),
        ("train.env.EMPTY=", "EMPTY", ""),
        ("train.env.OPTS=-Xmx=2g", "OPTS", "-Xmx=2g"),
        ("train.environment.PI=3.10", "PI", "3.10"),
    ],
)
def test_environment_values_are_taken_verbatim(item: str, name: str, value: str) -> None:
    assert _one(item).environment == {name: value}


@pytest.mark.parametrize(("raw", "version"), [("2", "2"), ("1.10", "1.10"), ("true", "true"), ("v2", "v2")])
def test_cache_version_is_taken_verbatim(raw: str, version: str) -> None:
    assert _one(f"train.cache_version={raw}").cache_version == version


def test_scalars_are_read_as_yaml() -> None:
    overrides = _one("train.retries=0", "train.cache=false", "train.interruptible=true")
    assert (overrides.retries, overrides.cache, overrides.interruptible) == (0, False, True)


def test_task_config_paths_nest_on_dots() -> None:
    overrides = _one("train.task_config.threads=4", "train.task_config.spark_conf.executor_memory=4g")
    assert overrides.task_config == {"threads": 4, "spark_conf": {"executor_memory": "4g"}}


def test_unquoted_dots_in_task_config_paths_always_nest() -> None:
    overrides = _one("train.task_config.spark_conf.spark.executor.memory=4g")
    assert overrides.task_config == {"spark_conf": {"spark": {"executor": {"memory": "4g"}}}}


@pytest.mark.parametrize(
    "item",
    [
        "train.task_config.spark_conf[spark.executor.memory]=4g",
        'train.task_config.spark_conf."spark.executor.memory"=4g',
    ],
)
def test_bracketed_or_quoted_task_config_keys_keep_their_dots(item: str) -> None:
    assert _one(item).task_config == {"spark_conf": {"spark.executor.memory": "4g"}}


@pytest.mark.parametrize(
    ("item", "fix"),
    [
        ("train.task_config.spark_conf[spark.executor.memory=4g", "Close the quote or bracket"),
        ("train.task_config.a..b=1", "Write task_config.a.b=VALUE"),
    ],
)
def test_malformed_task_config_paths_name_hook_and_field(item: str, fix: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert fix in error.fix
    assert error.origin == f"-o {item}"
    assert error.hook == "train"
    assert error.field is not None
    assert error.field.startswith("task_config.")


def test_later_item_wins() -> None:
    overrides = _one("train.retries=1", "train.cpu=1", "train.retries=2", "train.limits.cpu=2")
    assert overrides.retries == 2
    assert overrides.resources == ResourceSpec(requests=Resources(cpu=1), limits=Resources(cpu=2))


def test_items_for_several_hooks_are_grouped_by_hook() -> None:
    parsed = parse_cli_overrides(["train.retries=1", "task-yee.gpu=1", "train.env.A=1"])
    assert parsed == {
        "train": TaskNodeOverrides(retries=1, environment={"A": "1"}),
        "task-yee": TaskNodeOverrides(resources={"requests": {"gpu": 1}, "limits": {"gpu": 1}}),
    }


def test_fields_not_given_stay_unset() -> None:
    overrides = _one("train.retries=0")
    assert overrides.set_fields() == ["retries"]
    assert overrides.cache is UNSET


def test_no_items_no_overrides() -> None:
    assert parse_cli_overrides([]) == {}


@pytest.mark.parametrize("item", ["train", "train=3", "train.=3", "=3", "train.cpu"])
def test_items_without_hook_field_and_value_are_refused(item: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert (error.hook, error.field, error.origin) == (None, None, "-o")
    assert f"{item!r} is not HOOK.FIELD=VALUE" in error.problem
    assert "Write -o HOOK.FIELD=VALUE, e.g. -o train.mem=2Gi" in error.fix


@pytest.mark.parametrize(
    ("item", "hook"), [(".cpu=1", ""), ("bad name.cpu=1", "bad name"), ("a/b.cpu=1", "a/b")]
)
def test_invalid_hook_names_on_the_command_line_are_refused(item: str, hook: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert (error.hook, error.field) == (None, None)
    assert f"{hook!r} is not a valid hook name" in error.problem
    assert error.origin == f"-o {item}"
    assert "Hook names are 1-63 letters" in error.fix


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("train.memory=1Gi", "memory"),
        ("train.cpu.max=1", "cpu.max"),
        ("train.retries.max=1", "retries.max"),
        ("train.memroy=1Gi", "memroy"),
    ],
)
def test_unknown_cli_fields_list_the_known_ones(item: str, field: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert (error.hook, error.field) == ("train", field)
    assert error.origin == f"-o {item}"
    assert "cpu, mem, gpu, storage, requests.R, limits.R, image, env.NAME, task_config.a.b" in error.fix


@pytest.mark.parametrize(
    ("item", "field", "fix"),
    [
        ("train.mem=lots", "resources.requests.mem", "such as 512Mi, 1Gi"),
        ("train.mem=1GB", "resources.requests.mem", "Use Ki, Mi, Gi, Ti"),
        ("train.mem=2000Ti", "resources.requests.mem", "Check the unit"),
        ("train.cpu=-1", "resources.requests.cpu", "zero or more"),
        ("train.gpu=0.5", "resources.requests.gpu", "whole GPUs"),
        ("train.limits.mem=lots", "resources.limits.mem", "such as 512Mi"),
        ("train.requests.memory=1Gi", "resources.requests.memory", "cpu, mem, gpu, storage"),
        ("train.retries=-1", "retries", "Use 0 for no retries"),
        ("train.retries=lots", "retries", "Write retries=3"),
        ("train.retries=1.5", "retries", "Write retries=3"),
        ("train.cache=maybe", "cache", "Write cache=true or cache=false"),
        ("train.env.1BAD=x", "environment.1BAD", "not starting with a digit"),
        ("train.env.A-B=x", "environment.A-B", "letters, digits and underscores"),
        ("train.env.RETUNE_HOME=/tmp", "environment.RETUNE_HOME", "Pick another name"),
        ("train.image=", "container_image", "image registry"),
    ],
)
def test_bad_cli_values_name_hook_field_and_fix(item: str, field: str, fix: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert (error.hook, error.field) == ("train", field)
    assert fix in error.fix


def test_cache_serialize_without_cache_in_one_cli_layer_is_refused() -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides(["train.cache=false", "train.cache_serialize=true"])
    error = caught.value
    assert (error.hook, error.field) == ("train", "cache_serialize")
    assert "set cache=true too" in error.fix


@pytest.mark.parametrize(
    ("item", "field", "fix"),
    [
        ("train.env=LOG", "env", "Write train.env.NAME=VALUE."),
        ("train.environment=LOG", "environment", "Write train.env.NAME=VALUE."),
        ("train.task_config=x", "task_config", "Write train.task_config.KEY=VALUE."),
        ("train.resources=2", "resources", "Write train.mem=VALUE."),
    ],
)
def test_map_fields_without_a_key_say_that_a_key_is_needed(item: str, field: str, fix: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides([item])
    error = caught.value
    assert (error.hook, error.field) == ("train", field)
    assert "needs a key" in error.problem
    assert error.fix == fix


def test_a_misspelt_cli_field_gets_the_nearest_name() -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides(["train.retires=3"])
    assert "Did you mean 'retries'?" in caught.value.fix


def test_a_key_inside_a_value_set_earlier_is_refused() -> None:
    with pytest.raises(OverrideError) as caught:
        parse_cli_overrides(["train.task_config.a=1", "train.task_config.a.b=2"])
    assert (caught.value.hook, caught.value.field) == ("train", "task_config.a.b")
