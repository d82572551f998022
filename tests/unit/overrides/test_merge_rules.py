"""The merge rules (replace, per_key, deep) and the provenance each one records."""

from typing import Any

import pytest

from retune.model import Layer, Source, TaskNodeOverrides, runtime_override_config
from retune.overrides.merge import Draft, MergeConflict, apply, combine

TASK = Source(Layer.TASK, "flows.train")
WORKFLOW = Source(Layer.WORKFLOW, "flows.wf", "train")
PLAN = Source(Layer.LAUNCH_PLAN, "nightly", "train")
RUN = Source(Layer.EXECUTION, "run-1", "train")


def drafted(*layers: tuple[dict[str, Any], Source]) -> Draft:
    draft = Draft.empty()
    for fields, source in layers:
        apply(draft, TaskNodeOverrides.from_dict(fields), source)
    return draft


def test_replace_takes_the_later_value_and_its_source() -> None:
    draft = drafted(({"retries": 3, "cache": True}, TASK), ({"retries": 0}, RUN))
    assert (draft.values["retries"], draft.values["cache"]) == (0, True)
    assert draft.provenance == {"retries": RUN, "cache": TASK}


def test_per_key_sets_keys_one_by_one() -> None:
    draft = drafted(
        ({"environment": {"A": "1", "B": "1"}}, TASK), ({"environment": {"B": "2", "C": "2"}}, RUN)
    )
    assert draft.values["environment"] == {"A": "1", "B": "2", "C": "2"}
    assert draft.provenance == {"environment.A": TASK, "environment.B": RUN, "environment.C": RUN}


def test_an_empty_environment_changes_nothing() -> None:
    draft = drafted(({"environment": {"A": "1"}}, TASK), ({"environment": {}}, RUN))
    assert draft.values["environment"] == {"A": "1"}
    assert draft.provenance == {"environment.A": TASK}


def test_resources_merge_per_name_within_requests_and_limits() -> None:
    draft = drafted(
        ({"resources": {"requests": {"cpu": 1, "mem": "1Gi"}}}, TASK),
        (runtime_override_config(mem="2Gi").to_dict(), WORKFLOW),
        ({"resources": {"limits": {"cpu": 4}}}, RUN),
    )
    assert draft.values["requests"] == {"cpu": 1.0, "mem": 2 * 2**30}
    assert draft.values["limits"] == {"mem": 2 * 2**30, "cpu": 4.0}
    assert draft.provenance == {
        "requests.cpu": TASK,
        "requests.mem": WORKFLOW,
        "limits.mem": WORKFLOW,
        "limits.cpu": RUN,
    }


def test_task_config_merges_deeply_with_a_source_per_leaf() -> None:
    draft = drafted(
        ({"task_config": {"spark_conf": {"a": "1"}, "threads": 2}}, TASK),
        ({"task_config": {"spark_conf": {"b": "2"}}}, WORKFLOW),
        ({"task_config": {"spark_conf": {"a": "3"}}}, RUN),
    )
    assert draft.values["task_config"] == {"spark_conf": {"a": "3", "b": "2"}, "threads": 2}
    assert draft.provenance == {
        "task_config.spark_conf.a": RUN,
        "task_config.spark_conf.b": WORKFLOW,
        "task_config.threads": TASK,
    }


def test_a_map_meeting_a_single_value_is_a_conflict_naming_both_layers() -> None:
    # Deep merge cannot half-replace a subtree and stay associative (decision 0005).
    for first, second in (({"engine": "duckdb"}, {"engine": {"name": "spark"}}), ({"a": {"x": 1}}, {"a": 0})):
        with pytest.raises(MergeConflict) as caught:
            drafted(({"task_config": first}, TASK), ({"task_config": second}, PLAN))
        assert caught.value.path == f"task_config.{next(iter(first))}"
        assert (caught.value.before, caught.value.after) == (TASK, PLAN)


def test_an_empty_map_merges_nothing() -> None:
    draft = drafted(
        ({"task_config": {"spark_conf": {"a": "1"}}}, TASK),
        ({"task_config": {"spark_conf": {}}}, PLAN),
    )
    assert draft.values["task_config"] == {"spark_conf": {"a": "1"}}
    assert draft.provenance == {"task_config.spark_conf.a": TASK}


def test_an_unset_layer_changes_nothing() -> None:
    draft = drafted(({"retries": 1, "environment": {"A": "1"}, "task_config": {"a": {"b": 1}}}, TASK))
    values, provenance = dict(draft.values), dict(draft.provenance)
    apply(draft, TaskNodeOverrides(), RUN)
    assert (draft.values, draft.provenance) == (values, provenance)


def test_merging_onto_a_copy_leaves_the_original_alone() -> None:
    original = drafted(({"environment": {"A": "1"}, "task_config": {"a": {"b": 1}}, "retries": 1}, TASK))
    copy = original.copy()
    apply(copy, TaskNodeOverrides.from_dict({"environment": {"A": "2"}, "task_config": {"a": {"b": 2}}}), RUN)
    assert original.values["environment"] == {"A": "1"}
    assert original.values["task_config"] == {"a": {"b": 1}}
    assert original.provenance == {"environment.A": TASK, "task_config.a.b": TASK, "retries": TASK}


def test_layers_do_not_see_later_changes_to_the_draft() -> None:
    layer = TaskNodeOverrides(environment={"A": "1"}, task_config={"a": {"b": 1}})
    draft = Draft.empty()
    apply(draft, layer, TASK)
    apply(draft, TaskNodeOverrides(environment={"A": "2"}, task_config={"a": {"b": 2}}), RUN)
    assert layer.environment == {"A": "1"}
    assert layer.task_config == {"a": {"b": 1}}


def test_combine_is_later_wins_by_the_same_rules() -> None:
    combined = combine(
        TaskNodeOverrides(retries=3, environment={"A": "1"}, resources={"requests": {"cpu": 1}}),
        TaskNodeOverrides(retries=0, environment={"B": "2"}, resources={"limits": {"cpu": 2}}),
    )
    assert combined == TaskNodeOverrides(
        retries=0,
        environment={"A": "1", "B": "2"},
        resources={"requests": {"cpu": 1}, "limits": {"cpu": 2}},
    )


def test_combine_of_nothing_is_an_empty_override() -> None:
    assert combine() == TaskNodeOverrides()
    assert combine(TaskNodeOverrides(), TaskNodeOverrides()) == TaskNodeOverrides()


def test_combine_keeps_zero_and_false() -> None:
    combined = combine(TaskNodeOverrides(retries=2, cache=True), TaskNodeOverrides(retries=0, cache=False))
    assert combined.to_dict() == {"cache": False, "retries": 0}


def test_combining_valid_layers_never_raises_even_when_caching_is_turned_off_later() -> None:
    # An inner hook default cache_serialize=true and an outer one cache=false are each valid, and a
    # launch plan may still turn cache back on; rt.compile(wf).hooks[...].default combines them.
    combined = combine(TaskNodeOverrides(cache_serialize=True), TaskNodeOverrides(cache=False))
    assert combined.cache is False


def test_a_combined_layer_acts_like_its_parts_even_with_an_empty_map() -> None:
    # An empty map merges nothing, so combining it with the next layer loses nothing either.
    base = {"task_config": {"spark_conf": {"a": "task"}}}
    clear = TaskNodeOverrides(task_config={"spark_conf": {}})
    add = TaskNodeOverrides(task_config={"spark_conf": {"b": "later"}})
    one_by_one = drafted((base, TASK))
    apply(one_by_one, clear, WORKFLOW)
    apply(one_by_one, add, WORKFLOW)
    combined = drafted((base, TASK))
    apply(combined, combine(clear, add), WORKFLOW)
    assert combined.values["task_config"] == one_by_one.values["task_config"]
