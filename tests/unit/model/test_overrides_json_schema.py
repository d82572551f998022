"""``overrides_json_schema()``: the wire form the API and the web form check before sending.

The schema and ``TaskNodeOverrides.from_dict`` must agree: a form that accepts what the
server refuses (or refuses what the server accepts) is a bug users meet as a 422 or a
greyed-out button.
"""

from typing import Any

import jsonschema
import pytest

from retune.model import FIELD_NAMES, FieldError, QuantityError, TaskNodeOverrides, overrides_json_schema

GOOD: list[dict[str, Any]] = [
    {},
    {"retries": 0},
    {"retries": 100},
    {"cache": False, "cache_version": ""},
    {"cache": True, "cache_serialize": True, "cache_version": "v2"},
    {"interruptible": True},
    {"container_image": "ghcr.io/acme/py311:1.2"},
    {"environment": {"LOG": "debug", "_X1": "007", "lower_case": ""}},
    {"task_config": {"spark_conf": {"spark.executor.memory": "4g"}}},
    {"task_config": {}},
    {"resources": {"requests": {"cpu": "500m", "mem": "512Mi"}}},
    {"resources": {"requests": {"cpu": 0.5, "mem": 2**30}, "limits": {"gpu": 1, "storage": "10Gi"}}},
    {"resources": {"limits": {"mem": "1G", "storage": "1e9"}}},
    {"resources": {}},
]

BAD: list[dict[str, Any]] = [
    {"retires": 1},
    {"cpu": 1},
    {"retries": -1},
    {"retries": 101},
    {"retries": "3"},
    {"retries": 2.5},
    {"retries": True},
    {"cache": "yes"},
    {"cache_version": "x" * 129},
    {"container_image": "two words"},
    {"container_image": ""},
    {"environment": {"1BAD": "x"}},
    {"environment": {"A-B": "x"}},
    {"environment": {"RETUNE_X": "x"}},
    {"environment": {"FLAG": True}},
    {"environment": "LOG=debug"},
    {"task_config": "spark"},
    {"resources": {"request": {"cpu": 1}}},
    {"resources": {"requests": {"memory": "1Gi"}}},
    {"resources": {"requests": {"cpu": -1}}},
    {"resources": {"requests": {"mem": ""}}},
    {"resources": {"requests": 2}},
]

# Inputs on which the two checks may plausibly drift apart; each is a user-visible disagreement.
EDGES: list[dict[str, Any]] = [
    {"resources": {"requests": {"mem": "lots"}}},
    {"resources": {"requests": {"cpu": "-1"}}},
    {"resources": {"requests": {"cpu": "2Gi"}}},
    {"resources": {"requests": {"gpu": 1.5}}},
    {"environment": {"retune_x": "x"}},
    {"environment": {"N": 7}},
    {"cache_version": 2},
    {"cache_version": "a\nb"},
    {"cache": False, "cache_serialize": True},
]


def _schema_accepts(instance: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(overrides_json_schema()).is_valid(instance)


def _from_dict_accepts(instance: dict[str, Any]) -> bool:
    try:
        TaskNodeOverrides.from_dict(instance)
    except (FieldError, QuantityError):
        return False
    return True


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(overrides_json_schema())


def test_the_schema_names_every_field() -> None:
    schema = overrides_json_schema()
    assert schema["additionalProperties"] is False
    assert tuple(schema["properties"]) == FIELD_NAMES


@pytest.mark.parametrize("instance", GOOD, ids=repr)
def test_good_overrides_pass_the_schema(instance: dict[str, Any]) -> None:
    jsonschema.validate(instance, overrides_json_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("instance", BAD, ids=repr)
def test_bad_overrides_fail_the_schema(instance: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance, overrides_json_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("instance", GOOD + BAD + EDGES, ids=repr)
def test_schema_and_from_dict_agree(instance: dict[str, Any]) -> None:
    assert _schema_accepts(instance) == _from_dict_accepts(instance)


def test_the_wire_form_of_any_override_passes_the_schema() -> None:
    overrides = TaskNodeOverrides(
        resources={"requests": {"cpu": "250m"}, "limits": {"mem": "1Gi"}},
        retries=0,
        environment={"A": "1"},
        task_config={"a": {"b": 1}},
    )
    assert _schema_accepts(overrides.to_dict())
