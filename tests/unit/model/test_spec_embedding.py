"""``TaskNodeOverrides`` inside the pydantic specs: stored and sent as JSON, read back the same."""

import pytest
from pydantic import ValidationError

from retune.model import TaskNodeOverrides, overrides_json_schema, runtime_override_config
from retune.model.spec import HookDefault, LaunchPlanSpec, TaskSpec


def _plan(**runtime_override: object) -> LaunchPlanSpec:
    return LaunchPlanSpec(name="nightly", workflow="flows.wf", runtime_override=runtime_override)


def test_launch_plan_spec_round_trips_through_json() -> None:
    plan = _plan(
        train=runtime_override_config(cpu="500m", mem="1Gi", retries=0, cache=False),
        score=TaskNodeOverrides(environment={"N": "007"}, task_config={"a": {"b": [1, 2]}}),
    )
    again = LaunchPlanSpec.model_validate_json(plan.model_dump_json())
    assert again == plan
    assert again.runtime_override["train"].retries == 0
    assert again.runtime_override["train"].cache is False
    assert again.runtime_override["score"].environment == {"N": "007"}


def test_json_form_of_an_override_is_its_to_dict() -> None:
    overrides = TaskNodeOverrides(retries=0, resources={"limits": {"mem": "1Gi"}})
    dumped = _plan(train=overrides).model_dump(mode="json")
    assert dumped["runtime_override"]["train"] == {"resources": {"limits": {"mem": 2**30}}, "retries": 0}


def test_specs_accept_the_map_form_and_check_it() -> None:
    plan = _plan(train={"retries": 5, "resources": {"requests": {"cpu": "250m"}}})
    assert plan.runtime_override["train"] == TaskNodeOverrides(
        retries=5, resources={"requests": {"cpu": 0.25}}
    )


def test_specs_refuse_a_bad_override_with_its_fix() -> None:
    with pytest.raises(ValidationError, match="Did you mean 'retries'"):
        _plan(train={"retires": 5})
    with pytest.raises(ValidationError, match="Use 0 for no retries"):
        LaunchPlanSpec.model_validate_json(
            '{"name": "n", "workflow": "w", "runtime_override": {"train": {"retries": -1}}}'
        )


def test_unset_fields_stay_unset_after_a_round_trip() -> None:
    plan = _plan(train=TaskNodeOverrides(cache=False))
    again = LaunchPlanSpec.model_validate_json(plan.model_dump_json())
    assert again.runtime_override["train"].set_fields() == ["cache"]


def test_task_spec_config_defaults_to_an_empty_override() -> None:
    spec = TaskSpec.model_validate({"name": "m.t", "interface": {}, "module": "m", "qualname": "t"})
    assert spec.config == TaskNodeOverrides()
    assert TaskSpec.model_validate_json(spec.model_dump_json()) == spec


def test_hook_default_round_trips() -> None:
    default = HookDefault(workflow="m.wf", overrides=runtime_override_config(gpu=1), location="f.py:3")
    assert HookDefault.model_validate_json(default.model_dump_json()) == default


def test_json_schema_of_a_spec_embeds_the_overrides_schema() -> None:
    embedded = LaunchPlanSpec.model_json_schema()["properties"]["runtime_override"]["additionalProperties"]
    expected = overrides_json_schema()
    assert embedded["properties"] == expected["properties"]
    assert embedded["additionalProperties"] is False
