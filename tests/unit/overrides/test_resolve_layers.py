"""Layering, field by field: each of the 9 fields at each of the 5 layers, later wins, with provenance.

Every layer below sets every field, each to its own value (``LEVELS`` is the order in which
they apply, inner entries of layers 2 and 3 included). A case resolves a target in which the
layers up to and including one layer are present, and checks that the field has that layer's
value and names that layer as its source.
"""

from typing import Any

import pytest

import retune as rt
from retune import Layer, NodeConfig, Resources, Source, TaskNodeOverrides
from retune.overrides import LAYERS
from retune.settings import DEFAULT_LIMITS, DEFAULT_REQUESTS

GI = 2**30
RUN = "run-1"  # what provenance calls the execution layer (rt.resolve(..., name=RUN))
PLATFORM = Source(Layer.TASK, "retune defaults")
LEVELS = ("task", "node-inner", "node", "workflow-inner", "workflow", "launch_plan", "execution")
FIELDS = (
    "resources",
    "cache",
    "cache_serialize",
    "cache_version",
    "retries",
    "interruptible",
    "container_image",
    "environment",
    "task_config",
)


def fields_at(level: int) -> dict[str, Any]:
    """What the layer at ``LEVELS[level]`` says: a distinct value for every field."""
    name = LEVELS[level]
    on = level % 2 == 0  # alternates, so each layer changes the flags of the one before it
    return {
        "resources": {"requests": {"cpu": level + 1}, "limits": {"cpu": 2 * (level + 1)}},
        "cache": on,
        "cache_serialize": on,
        "cache_version": name,
        "retries": level + 1,
        "interruptible": not on,
        "container_image": f"img-{name}",
        "environment": {"LEVEL": name},
        "task_config": {"spark_conf": {"level": name}},
    }


def node_kwargs(level: int) -> dict[str, Any]:
    """``fields_at(level)`` in the keyword form of ``with_overrides``."""
    fields = fields_at(level)
    return {
        "requests": Resources(**fields["resources"]["requests"]),
        "limits": Resources(**fields["resources"]["limits"]),
        "task_config": rt.plugins.Spark(**fields["task_config"]),
        **{k: v for k, v in fields.items() if k not in ("resources", "task_config")},
    }


def hook_default(level: int) -> TaskNodeOverrides:
    return TaskNodeOverrides.from_dict(fields_at(level))


@rt.task(**node_kwargs(0))
def spark_job(x: int) -> int:
    return x


# layer 1 only: the hook has no default and nothing overrides the node
@rt.workflow
def sub_plain(x: int) -> int:
    return spark_job(x=x).with_runtime_override("h")


@rt.workflow
def at_task(x: int = 1) -> int:
    return sub_plain(x=x)


# layers 1-2: with_overrides inside the sub-workflow (inner) and on the sub-workflow node (outer)
@rt.workflow
def sub_node(x: int) -> int:
    return spark_job(x=x).with_overrides(**node_kwargs(1)).with_runtime_override("h")


@rt.workflow
def at_node(x: int = 1) -> int:
    return sub_node(x=x).with_overrides(**node_kwargs(2))


@rt.workflow
def at_node_inner(x: int = 1) -> int:
    return sub_node(x=x)


# layers 1-3: hook defaults inside the sub-workflow (inner) and on the sub-workflow node (outer)
@rt.workflow
def sub_hooked(x: int) -> int:
    return spark_job(x=x).with_overrides(**node_kwargs(1)).with_runtime_override("h", hook_default(3))


@rt.workflow
def at_workflow(x: int = 1) -> int:
    return sub_hooked(x=x).with_overrides(**node_kwargs(2)).with_runtime_override("h", hook_default(4))


@rt.workflow
def at_workflow_inner(x: int = 1) -> int:
    return sub_hooked(x=x).with_overrides(**node_kwargs(2))


# layers 1-4, and with overrides at resolve time, 1-5
at_launch_plan = rt.LaunchPlan.get_or_create(
    workflow=at_workflow,
    name="resolve-layers-at-launch-plan",
    runtime_override={"h": fields_at(5)},
)

CASES: dict[str, tuple[Any, dict[str, Any] | None, int, Source]] = {
    "task": (at_task, None, 0, Source(Layer.TASK, spark_job.name)),
    "node": (at_node, None, 2, Source(Layer.NODE, at_node.name)),
    "workflow": (at_workflow, None, 4, Source(Layer.WORKFLOW, at_workflow.name, "h")),
    "launch_plan": (
        at_launch_plan,
        None,
        5,
        Source(Layer.LAUNCH_PLAN, "resolve-layers-at-launch-plan", "h"),
    ),
    "execution": (at_launch_plan, {"h": fields_at(6)}, 6, Source(Layer.EXECUTION, RUN, "h")),
}

PATHS = {
    "resources": ("requests.cpu", "limits.cpu"),
    "environment": ("environment.LEVEL",),
    "task_config": ("task_config.spark_conf.level",),
}


def resolve_one(target: Any, overrides: dict[str, Any] | None = None) -> NodeConfig:
    (node,) = rt.resolve(target, overrides=overrides, name=RUN).values()
    return node


def effective(field: str, node: NodeConfig) -> Any:
    """The field's effective value, in the shape ``fields_at`` gives it."""
    config = node.config
    if field == "resources":
        return {"requests": {"cpu": config.requests.cpu}, "limits": {"cpu": config.limits.cpu}}
    if field == "environment":
        return dict(config.environment)
    if field == "task_config":
        return {"spark_conf": dict(config.task_config["spark_conf"])}
    return getattr(config, field)


@pytest.mark.parametrize("layer", list(CASES))
@pytest.mark.parametrize("field", FIELDS)
def test_the_latest_layer_that_sets_a_field_wins_and_is_named(field: str, layer: str) -> None:
    target, overrides, level, source = CASES[layer]
    node = resolve_one(target, overrides)
    assert effective(field, node) == fields_at(level)[field]
    for path in PATHS.get(field, (field,)):
        assert node.provenance[path] == source


def test_layers_are_walked_in_the_documented_order() -> None:
    assert LAYERS == (Layer.TASK, Layer.NODE, Layer.WORKFLOW, Layer.LAUNCH_PLAN, Layer.EXECUTION)
    assert tuple(CASES) == tuple(layer.value for layer in LAYERS)


@pytest.mark.parametrize("field", FIELDS)
def test_node_overrides_inside_a_sub_workflow_apply_when_the_outer_call_sets_nothing(field: str) -> None:
    node = resolve_one(at_node_inner)
    assert effective(field, node) == fields_at(1)[field]
    for path in PATHS.get(field, (field,)):
        assert node.provenance[path] == Source(Layer.NODE, sub_node.name)


@pytest.mark.parametrize("field", FIELDS)
def test_inner_hook_defaults_beat_every_node_override(field: str) -> None:
    node = resolve_one(at_workflow_inner)
    assert effective(field, node) == fields_at(3)[field]
    for path in PATHS.get(field, (field,)):
        assert node.provenance[path] == Source(Layer.WORKFLOW, sub_hooked.name, "h")


# --- unset never overrides; 0 and False are values ----------------------------------------


@rt.task(retries=3, cache=True, cache_version="1", interruptible=True, environment={"LOG": "info"})
def flaky(x: int) -> int:
    return x


@rt.workflow
def flaky_wf(x: int = 1) -> int:
    return flaky(x=x).with_runtime_override("flaky", rt.runtime_override_config(retries=5))


def test_zero_false_and_empty_text_at_a_later_layer_override_earlier_values() -> None:
    overrides = {
        "flaky": {
            "retries": 0,
            "cache": False,
            "interruptible": False,
            "cache_version": "",
            "environment": {"LOG": ""},
        }
    }
    node = resolve_one(flaky_wf, overrides)
    config = node.config
    assert (config.retries, config.cache, config.interruptible, config.cache_version) == (0, False, False, "")
    assert dict(config.environment) == {"LOG": ""}
    execution = Source(Layer.EXECUTION, RUN, "flaky")
    for path in ("retries", "cache", "interruptible", "cache_version", "environment.LOG"):
        assert node.provenance[path] == execution


def test_a_layer_that_sets_only_retries_leaves_everything_else_alone() -> None:
    before = resolve_one(at_launch_plan)
    after = resolve_one(at_launch_plan, {"h": {"retries": 0}})
    assert after.config.retries == 0
    assert after.provenance["retries"] == Source(Layer.EXECUTION, RUN, "h")
    assert {k: v for k, v in after.config.to_dict().items() if k != "retries"} == {
        k: v for k, v in before.config.to_dict().items() if k != "retries"
    }
    assert {k: v for k, v in after.provenance.items() if k != "retries"} == {
        k: v for k, v in before.provenance.items() if k != "retries"
    }


def test_an_empty_override_changes_nothing() -> None:
    assert resolve_one(at_launch_plan, {"h": {}}) == resolve_one(at_launch_plan)


# --- per-key merge: environment and resources ---------------------------------------------


@rt.task(requests=Resources(mem="1Gi"), environment={"A": "task", "B": "task"})
def plain(x: int) -> int:
    return x


@rt.workflow
def per_key_wf(x: int = 1) -> int:
    first = plain(x=x)
    hooked = plain(x=first).with_runtime_override(
        "p", rt.runtime_override_config(cpu=2, environment={"B": "workflow", "C": "workflow"})
    )
    return plain(x=hooked)


PER_KEY = {
    "p": {"environment": {"C": "execution", "D": "execution"}, "resources": {"limits": {"mem": "2Gi"}}}
}


def test_environment_merges_key_by_key_with_provenance_per_key() -> None:
    node = rt.resolve(per_key_wf, overrides=PER_KEY, name=RUN)["n1"]
    assert dict(node.config.environment) == {"A": "task", "B": "workflow", "C": "execution", "D": "execution"}
    assert node.provenance["environment.A"] == Source(Layer.TASK, plain.name)
    assert node.provenance["environment.B"] == Source(Layer.WORKFLOW, per_key_wf.name, "p")
    assert node.provenance["environment.C"] == Source(Layer.EXECUTION, RUN, "p")
    assert node.provenance["environment.D"] == Source(Layer.EXECUTION, RUN, "p")


def test_resources_merge_name_by_name_across_layers() -> None:
    node = rt.resolve(per_key_wf, overrides=PER_KEY, name=RUN)["n1"]
    requests, limits = node.config.requests, node.config.limits
    assert (requests.mem, limits.mem) == (GI, 2 * GI)
    assert (requests.cpu, limits.cpu) == (2.0, 2.0)
    assert node.provenance["requests.mem"] == Source(Layer.TASK, plain.name)
    assert node.provenance["limits.mem"] == Source(Layer.EXECUTION, RUN, "p")
    assert node.provenance["requests.cpu"] == Source(Layer.WORKFLOW, per_key_wf.name, "p")
    assert node.provenance["limits.cpu"] == Source(Layer.WORKFLOW, per_key_wf.name, "p")


def test_nodes_without_the_hook_keep_the_task_config() -> None:
    resolved = rt.resolve(per_key_wf, overrides=PER_KEY, name=RUN)
    plain_nodes = [resolved["n0"], resolved["n2"]]
    assert resolved == {**rt.resolve(per_key_wf), "n1": resolved["n1"]}
    for node in plain_nodes:
        assert node.hook is None
        assert dict(node.config.environment) == {"A": "task", "B": "task"}
        assert all(source.layer is Layer.TASK for source in node.provenance.values())


# --- deep merge: task_config --------------------------------------------------------------


@rt.task(task_config=rt.plugins.Spark(spark_conf={"a": "task", "keep": "task"}, hadoop_conf={"h": "task"}))
def spark_small(x: int) -> int:
    return x


@rt.workflow
def deep_wf(x: int = 1) -> int:
    return spark_small(x=x).with_runtime_override(
        "s", TaskNodeOverrides(task_config={"spark_conf": {"b": "workflow", "a": "workflow"}})
    )


def test_task_config_merges_deeply_with_provenance_per_leaf() -> None:
    overrides = {"s": {"task_config": {"spark_conf": {"a": "execution"}, "executor_path": "/opt/spark"}}}
    node = resolve_one(deep_wf, overrides)
    assert dict(node.config.task_config) == {
        "spark_conf": {"a": "execution", "b": "workflow", "keep": "task"},
        "hadoop_conf": {"h": "task"},
        "executor_path": "/opt/spark",
    }
    execution = Source(Layer.EXECUTION, RUN, "s")
    assert node.provenance["task_config.spark_conf.a"] == execution
    assert node.provenance["task_config.spark_conf.b"] == Source(Layer.WORKFLOW, deep_wf.name, "s")
    assert node.provenance["task_config.spark_conf.keep"] == Source(Layer.TASK, spark_small.name)
    assert node.provenance["task_config.hadoop_conf.h"] == Source(Layer.TASK, spark_small.name)
    assert node.provenance["task_config.executor_path"] == execution


def test_a_task_declares_its_whole_task_config_defaults_included() -> None:
    node = resolve_one(deep_wf)
    assert node.config.task_config["executor_path"] is None
    assert node.provenance["task_config.executor_path"] == Source(Layer.TASK, spark_small.name)


# --- Kubernetes' rule and platform defaults ----------------------------------------------


@rt.task(requests=Resources(cpu="500m"), limits=Resources(mem="2Gi"))
def half_set(x: int) -> int:
    return x


@rt.workflow
def k8s_wf(x: int = 1) -> int:
    return half_set(x=x).with_runtime_override("k")


@rt.task
def unset_task(x: int) -> int:
    return x


@rt.workflow
def defaults_wf(x: int = 1) -> int:
    return unset_task(x=x)


def test_a_limit_nobody_set_equals_the_request_and_vice_versa() -> None:
    node = resolve_one(k8s_wf)
    task = Source(Layer.TASK, half_set.name)
    assert (node.config.requests.cpu, node.config.limits.cpu) == (0.5, 0.5)
    assert (node.config.requests.mem, node.config.limits.mem) == (2 * GI, 2 * GI)
    for path in ("requests.cpu", "limits.cpu", "requests.mem", "limits.mem"):
        assert node.provenance[path] == task


def test_the_rule_applies_after_every_layer_is_merged() -> None:
    node = resolve_one(k8s_wf, {"k": {"resources": {"limits": {"cpu": 4}, "requests": {"mem": "1Gi"}}}})
    execution = Source(Layer.EXECUTION, RUN, "k")
    assert (node.config.requests.cpu, node.config.limits.cpu) == (0.5, 4.0)
    assert (node.config.requests.mem, node.config.limits.mem) == (GI, 2 * GI)
    assert node.provenance["requests.cpu"] == Source(Layer.TASK, half_set.name)
    assert node.provenance["limits.cpu"] == execution
    assert node.provenance["requests.mem"] == execution


def test_a_request_above_the_default_limit_raises_the_limit_with_it() -> None:
    node = resolve_one(k8s_wf, {"k": {"resources": {"requests": {"gpu": 2, "storage": "5Gi"}}}})
    assert (node.config.requests.gpu, node.config.limits.gpu) == (2, 2)
    assert (node.config.requests.storage, node.config.limits.storage) == (5 * GI, 5 * GI)
    assert node.provenance["limits.gpu"] == Source(Layer.EXECUTION, RUN, "k")


def test_resources_nobody_set_take_the_platform_defaults() -> None:
    node = resolve_one(defaults_wf)
    assert node.config.requests.to_dict() == DEFAULT_REQUESTS
    assert node.config.limits.to_dict() == DEFAULT_LIMITS
    for name in ("cpu", "mem", "gpu", "storage"):
        assert node.provenance[f"requests.{name}"] == PLATFORM
        assert node.provenance[f"limits.{name}"] == PLATFORM
    assert PLATFORM.name == "retune defaults"


def test_fields_nobody_set_take_built_in_defaults_from_the_task() -> None:
    config = resolve_one(defaults_wf).config
    assert (config.cache, config.cache_serialize, config.cache_version) == (False, False, "")
    assert (config.retries, config.interruptible, config.container_image) == (0, False, None)
    assert (dict(config.environment), dict(config.task_config), config.timeout) == ({}, {}, None)


def test_resolution_returns_fresh_values_and_leaves_specs_alone() -> None:
    first = resolve_one(at_launch_plan, {"h": {"environment": {"X": "1"}}})
    second = resolve_one(at_launch_plan)
    assert "X" not in second.config.environment
    assert "X" in first.config.environment
    assert at_launch_plan.spec.runtime_override["h"] == hook_default(5)


# --- the same workflow resolved again -------------------------------------------------------
# What the workflow alone decides is worked out once per compiled spec (overrides.resolve's
# static part); each resolve merges only layers 4-5, onto a copy.


@rt.task(environment={"BASE": "task"}, requests=Resources(mem="1Gi"))
def tuned(x: int) -> int:
    return x


@rt.workflow
def twice(x: int = 1) -> int:
    plain = tuned(x=x).with_overrides(environment={"NODE": "1"})
    return tuned(x=plain).with_runtime_override("t", TaskNodeOverrides(retries=1))


def test_each_resolve_of_one_workflow_answers_its_own_overrides_and_changes_no_earlier_answer() -> None:
    first = rt.resolve(
        twice, {"t": {"environment": {"X": "1"}, "resources": {"requests": {"mem": "2Gi"}}}}, name="a"
    )
    second = rt.resolve(twice, {"t": {"retries": 5}}, name="b")
    third = rt.resolve(twice)

    hooked = [result["n1"] for result in (first, second, third)]
    base = {"BASE": "task"}
    assert [dict(node.config.environment) for node in hooked] == [{**base, "X": "1"}, base, base]
    assert [node.config.requests.mem for node in hooked] == [2 * GI, GI, GI]
    # the limit nobody set follows each resolve's own request
    assert [node.config.limits.mem for node in hooked] == [2 * GI, GI, GI]
    assert [node.config.retries for node in hooked] == [1, 5, 1]
    assert hooked[0].provenance["environment.X"] == Source(Layer.EXECUTION, "a", "t")
    assert hooked[1].provenance["retries"] == Source(Layer.EXECUTION, "b", "t")
    assert hooked[2].provenance["retries"] == Source(Layer.WORKFLOW, twice.name, "t")
    assert "environment.X" not in hooked[1].provenance
    assert all(result["n0"] == first["n0"] for result in (second, third))
    assert dict(first["n0"].config.environment) == {"BASE": "task", "NODE": "1"}
    assert list(first) == list(second) == list(third) == ["n0", "n1"]


def test_one_workflow_under_two_launch_plans_takes_each_plan_s_layer() -> None:
    plans = [
        rt.LaunchPlan.get_or_create(
            workflow=twice, name=f"resolve-layers-twice-{n}", runtime_override={"t": {"retries": n}}
        )
        for n in (7, 8)
    ]
    nodes = [rt.resolve(plan)["n1"] for plan in plans]
    assert [node.config.retries for node in nodes] == [7, 8]
    assert [node.provenance["retries"].name for node in nodes] == [plan.name for plan in plans]


def test_resolving_keeps_no_compiled_workflow_alive() -> None:
    """The static part lives as long as its spec: a process that compiles and resolves many
    workflows (a server's spec cache turning over) does not keep them."""
    import gc
    import weakref

    def resolved_spec() -> weakref.ref[Any]:
        @rt.workflow
        def short_lived(x: int = 1) -> int:
            return tuned(x=tuned(x=x).with_runtime_override("t"))

        compiled = rt.compile(short_lived)
        assert rt.resolve(short_lived, {"t": {"retries": 2}})["n0"].config.retries == 2
        return weakref.ref(compiled.spec)

    specs = [resolved_spec() for _ in range(3)]
    gc.collect()
    assert [spec() for spec in specs] == [None, None, None]
