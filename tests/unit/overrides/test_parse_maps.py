"""``parse_overrides`` and ``load_overrides_file``: maps and YAML/JSON files of hook -> fields."""

import json
from pathlib import Path
from typing import Any

import pytest

from retune import OverrideError, TaskNodeOverrides, runtime_override_config
from retune.overrides import load_overrides_file, parse_overrides

GI = 2**30


def test_maps_become_checked_overrides_per_hook() -> None:
    parsed = parse_overrides(
        {"train": {"retries": 0, "resources": {"requests": {"mem": "1Gi"}}}, "score": {"cache": False}},
        origin="overrides",
    )
    assert parsed == {
        "train": TaskNodeOverrides(retries=0, resources={"requests": {"mem": GI}}),
        "score": TaskNodeOverrides(cache=False),
    }


def test_override_objects_are_taken_as_they_are() -> None:
    given = runtime_override_config(gpu=1)
    assert parse_overrides({"train": given}, origin="overrides")["train"] is given


def test_none_means_no_overrides() -> None:
    assert parse_overrides(None, origin="overrides") == {}


def test_an_empty_field_map_is_an_empty_override() -> None:
    assert parse_overrides({"train": {}}, origin="overrides") == {"train": TaskNodeOverrides()}


def test_overrides_that_are_not_a_map_are_refused() -> None:
    with pytest.raises(OverrideError) as caught:
        parse_overrides([("train", {})], origin="api")  # type: ignore[arg-type]
    error = caught.value
    assert (error.hook, error.field, error.origin) == (None, None, "api")
    assert "not list" in error.problem
    assert "Write {HOOK: {FIELD: VALUE}}" in error.fix


def test_fields_that_are_not_a_map_are_refused_without_a_made_up_field() -> None:
    # OverrideError documents `field` as None when the problem is not about one field.
    with pytest.raises(OverrideError) as caught:
        parse_overrides({"train": 3}, origin="api")
    error = caught.value
    assert error.hook == "train"
    assert error.field is None
    assert "Give a map such as {retries: 3}" in error.fix


@pytest.mark.parametrize(
    ("fields", "field", "fix"),
    [
        ({"retires": 3}, "retires", "Did you mean 'retries'?"),
        ({"cpu": 2}, "cpu", "'cpu' is a CLI shorthand; in a map write 'resources'"),
        ({"env": {"A": "1"}}, "env", "in a map write 'environment'"),
        ({"image": "py311"}, "image", "in a map write 'container_image'"),
        ({"resources": {"requests": {"mem": "lots"}}}, "resources.requests.mem", "such as 512Mi, 1Gi"),
        ({"resources": {"requests": {"mem": "1GB"}}}, "resources.requests.mem", "Use Ki, Mi, Gi, Ti"),
        ({"resources": {"limits": {"mem": "2000Ti"}}}, "resources.limits.mem", "Check the unit"),
        ({"resources": {"limits": {"cpu": "5000"}}}, "resources.limits.cpu", "Check the unit"),
        (
            {"resources": {"requests": {"memory": "1Gi"}}},
            "resources.requests.memory",
            "cpu, mem, gpu, storage",
        ),
        ({"retries": -1}, "retries", "Use 0 for no retries"),
        ({"retries": "three"}, "retries", "Write retries=3"),
        ({"retries": 1.5}, "retries", "Write retries=3"),
        ({"environment": {"1BAD": "x"}}, "environment.1BAD", "not starting with a digit"),
        ({"environment": {"A-B": "x"}}, "environment.A-B", "letters, digits and underscores"),
        ({"environment": {"RETUNE_TOKEN": "x"}}, "environment.RETUNE_TOKEN", "Pick another name"),
        (
            {"cache": True, "cache_serialize": True, "interruptible": "no"},
            "interruptible",
            "interruptible=true",
        ),
        ({"cache": False, "cache_serialize": True}, "cache_serialize", "set cache=true too"),
    ],
)
def test_bad_fields_name_hook_field_and_fix(fields: dict[str, Any], field: str, fix: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_overrides({"train": fields}, origin="launch plan 'nightly'")
    error = caught.value
    assert error.hook == "train"
    assert error.field == field
    assert error.origin == "launch plan 'nightly'"
    assert fix in error.fix
    assert str(error).startswith(f"Override for hook 'train', field {field!r}: ")
    assert "(given in launch plan 'nightly')" in str(error)


def test_override_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="is negative"):
        parse_overrides({"train": {"retries": -1}}, origin="overrides")


@pytest.mark.parametrize("hook", ["train.cpu", "bad name", "", "-train", "x" * 64, 3])
def test_invalid_hook_names_are_refused_with_the_rule(hook: Any) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_overrides({hook: {"retries": 1}}, origin="overrides")
    error = caught.value
    # An invalid name is not a hook: the error quotes it instead of naming it as one.
    assert error.hook is None
    assert error.field is None
    assert f"{hook!r} is not a valid hook name" in error.problem
    assert "Hook names are 1-63 letters, digits, '-' or '_'" in error.fix
    assert "no dots" in error.fix


@pytest.mark.parametrize("hook", ["t", "train", "task-yee", "Train_2", "0day", "x" * 63])
def test_valid_hook_names_are_accepted(hook: str) -> None:
    assert list(parse_overrides({hook: {}}, origin="overrides")) == [hook]


# --- files --------------------------------------------------------------------------------


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "train:\n"
        "  retries: 0\n"
        "  cache: false\n"
        "  resources:\n"
        "    requests: {cpu: 500m, mem: 1Gi}\n"
        "    limits: {mem: 2Gi}\n"
        "  environment:\n"
        "    LOG: debug\n"
        "score:\n"
        "  task_config: {spark_conf: {spark.executor.memory: 4g}}\n",
        encoding="utf-8",
    )
    assert load_overrides_file(path) == {
        "train": TaskNodeOverrides(
            retries=0,
            cache=False,
            resources={"requests": {"cpu": 0.5, "mem": GI}, "limits": {"mem": 2 * GI}},
            environment={"LOG": "debug"},
        ),
        "score": TaskNodeOverrides(task_config={"spark_conf": {"spark.executor.memory": "4g"}}),
    }


def test_json_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"train": {"retries": 2, "container_image": "py311"}}), encoding="utf-8")
    assert load_overrides_file(str(path)) == {"train": TaskNodeOverrides(retries=2, container_image="py311")}


def test_empty_file_means_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_overrides_file(path) == {}


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(OverrideError) as caught:
        load_overrides_file(path)
    error = caught.value
    assert error.origin == str(path)
    assert str(path) in str(error)
    assert "cannot read overrides file" in error.problem
    assert "Check the path" in error.fix


def test_bad_yaml_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  retries: 3\n  env: [a\n", encoding="utf-8")
    with pytest.raises(OverrideError) as caught:
        load_overrides_file(path)
    error = caught.value
    assert error.origin == str(path)
    assert str(path) in str(error)
    assert "not valid YAML or JSON at line" in error.problem
    assert "Fix the syntax" in error.fix


def test_a_file_that_is_not_a_map_is_named(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- train\n- score\n", encoding="utf-8")
    with pytest.raises(OverrideError) as caught:
        load_overrides_file(path)
    assert caught.value.origin == str(path)
    assert "Write {HOOK: {FIELD: VALUE}}" in caught.value.fix


def test_field_errors_in_a_file_name_the_file_hook_and_field(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("train:\n  resources:\n    limits: {mem: lots}\n", encoding="utf-8")
    with pytest.raises(OverrideError) as caught:
        load_overrides_file(path)
    error = caught.value
    assert (error.hook, error.field, error.origin) == ("train", "resources.limits.mem", str(path))
    assert "such as 512Mi" in error.fix


def test_quoted_yaml_values_keep_their_text(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("train:\n  cache_version: '1.10'\n  environment: {N: '007'}\n", encoding="utf-8")
    parsed = load_overrides_file(path)["train"]
    assert (parsed.cache_version, parsed.environment) == ("1.10", {"N": "007"})
