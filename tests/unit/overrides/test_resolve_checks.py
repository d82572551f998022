"""Checks that need every layer: request <= limit, cache_serialize needs cache, task_config fits.

Each error names the hook, the field, the layers that set the values, and how to fix it.
"""

from typing import Any

import pytest

import retune as rt
from retune import OverrideError, Resources
from retune.overrides import parse_cli_overrides

RUN = "run-7"


@rt.task(requests=Resources(mem="1Gi", cpu=1), limits=Resources(mem="2Gi", cpu=2))
def capped(x: int) -> int:
    return x


@rt.task(cache=True, cache_serialize=True, cache_version="1")
def serialised(x: int) -> int:
    return x


@rt.task(task_config=rt.plugins.Spark(spark_conf={"spark.executor.cores": "2"}))
def spark_job(x: int) -> int:
    return x


@rt.task(task_config=rt.plugins.SQL(cluster="warehouse", threads=2))
def query(x: int) -> int:
    return x


@rt.task
def python_job(x: int) -> int:
    return x


@rt.task(requests=Resources(cpu=2), limits=Resources(cpu=1))
def upside_down(x: int) -> int:
    return x


@rt.workflow
def checks_wf(x: int = 1) -> int:
    a = capped(x=x).with_runtime_override("cap")
    b = serialised(x=a).with_runtime_override("ser", rt.runtime_override_config(cache_version="2"))
    c = spark_job(x=b).with_runtime_override("spark")
    d = query(x=c).with_runtime_override("sql")
    return python_job(x=d).with_runtime_override("py")


@rt.workflow
def upside_down_wf(x: int = 1) -> int:
    return upside_down(x=x)


def resolve_error(overrides: dict[str, Any]) -> OverrideError:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(checks_wf, overrides=overrides, name=RUN)
    return caught.value


# --- request <= limit ----------------------------------------------------------------------


def test_a_request_above_its_limit_names_the_layers_of_both() -> None:
    error = resolve_error({"cap": {"resources": {"requests": {"mem": "4Gi"}}}})
    assert (error.hook, error.field) == ("cap", "resources.requests.mem")
    assert f"requests.mem=4Gi (from execution {RUN!r} (hook 'cap'))" in error.problem
    assert f"limits.mem=2Gi (from task {capped.name!r})" in error.problem
    assert "Raise the limit as well, or use the shorthand mem=... which sets both" in error.fix


def test_a_limit_lowered_below_the_request_names_the_layers_of_both() -> None:
    error = resolve_error({"cap": {"resources": {"limits": {"cpu": "500m"}}}})
    assert (error.hook, error.field) == ("cap", "resources.requests.cpu")
    assert f"requests.cpu=1 (from task {capped.name!r})" in error.problem
    assert f"limits.cpu=500m (from execution {RUN!r} (hook 'cap'))" in error.problem


def test_the_shorthand_sets_both_and_so_never_inverts() -> None:
    node = rt.resolve(checks_wf, overrides={"cap": rt.runtime_override_config(mem="4Gi")})["n0"]
    assert (node.config.requests.mem, node.config.limits.mem) == (4 * 2**30, 4 * 2**30)


def test_a_launch_plan_that_inverts_request_and_limit_is_refused_when_created() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.LaunchPlan.get_or_create(
            workflow=checks_wf,
            name="resolve-checks-inverted",
            runtime_override={"cap": {"resources": {"requests": {"cpu": 8}}}},
        )
    error = caught.value
    assert (error.hook, error.field) == ("cap", "resources.requests.cpu")
    assert "(from launch_plan 'resolve-checks-inverted' (hook 'cap'))" in error.problem
    assert f"(from task {capped.name!r})" in error.problem


def test_a_task_that_inverts_its_own_request_and_limit_is_refused_without_a_hook() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(upside_down_wf)
    error = caught.value
    assert (error.hook, error.field) == (None, "resources.requests.cpu")
    assert f"requests.cpu=2 (from task {upside_down.name!r})" in error.problem
    assert "Raise the limit as well" in error.fix


# --- cache_serialize needs cache -------------------------------------------------------------


def test_cache_turned_off_under_a_serialised_task_names_both_layers() -> None:
    error = resolve_error({"ser": {"cache": False}})
    assert (error.hook, error.field) == ("ser", "cache_serialize")
    assert f"cache_serialize is true (from task {serialised.name!r})" in error.problem
    assert f"cache is false (from execution {RUN!r} (hook 'ser'))" in error.problem
    assert "Turn cache on in the same layer (cache=true), or drop cache_serialize" in error.fix


def test_cache_serialize_turned_on_where_caching_is_off_names_both_layers() -> None:
    error = resolve_error({"cap": {"cache_serialize": True}})
    assert (error.hook, error.field) == ("cap", "cache_serialize")
    assert f"cache_serialize is true (from execution {RUN!r} (hook 'cap'))" in error.problem
    assert f"cache is false (from task {capped.name!r})" in error.problem


SERIALISING_PLAN = rt.LaunchPlan.get_or_create(
    workflow=checks_wf,
    name="resolve-checks-serialise",
    runtime_override={"cap": {"cache": True, "cache_serialize": True}},
)


def test_cache_off_at_execution_under_a_serialising_launch_plan_names_both_layers() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(SERIALISING_PLAN, overrides={"cap": {"cache": False}}, name=RUN)
    error = caught.value
    assert (error.hook, error.field) == ("cap", "cache_serialize")
    assert (
        "cache_serialize is true (from launch_plan 'resolve-checks-serialise' (hook 'cap'))" in error.problem
    )
    assert f"cache is false (from execution {RUN!r} (hook 'cap'))" in error.problem
    assert "Turn cache on" in error.fix


def test_cache_serialize_with_cache_off_in_one_layer_is_refused_while_parsing() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.resolve(checks_wf, overrides={"cap": {"cache_serialize": True, "cache": False}}, name=RUN)
    error = caught.value
    assert (error.hook, error.field, error.origin) == ("cap", "cache_serialize", "overrides")
    assert "set cache=true too" in error.fix


def test_cache_from_an_earlier_layer_lets_a_later_one_serialise() -> None:
    plan = rt.LaunchPlan.get_or_create(
        workflow=checks_wf, name="resolve-checks-cache-on", runtime_override={"cap": {"cache": True}}
    )
    node = rt.resolve(plan, overrides={"cap": {"cache_serialize": True}})["n0"]
    assert (node.config.cache, node.config.cache_serialize) == (True, True)


def test_turning_both_off_together_is_fine() -> None:
    node = rt.resolve(checks_wf, overrides={"ser": {"cache": False, "cache_serialize": False}})["n1"]
    assert (node.config.cache, node.config.cache_serialize) == (False, False)


# --- task_config against the task type's schema ---------------------------------------------


@pytest.mark.parametrize(
    ("hook", "task_config", "field", "fix"),
    [
        (
            "spark",
            {"spark_cnf": {"a": "1"}},
            "task_config.spark_cnf",
            "executor_path, hadoop_conf, spark_conf",
        ),
        ("spark", {"spark_conf": "lots"}, "task_config.spark_conf", "Give the same shape in every layer"),
        ("spark", {"spark_conf": {"a": ["x"]}}, "task_config.spark_conf.a", "hadoop_conf, spark_conf"),
        ("sql", {"engine": "duckdb"}, "task_config.engine", "cluster, memory_limit, threads"),
        ("sql", {"threads": "many"}, "task_config.threads", "cluster, memory_limit, threads"),
        ("sql", {"threads": 0}, "task_config.threads", "cluster, memory_limit, threads"),
        ("sql", {"cluster": ""}, "task_config.cluster", "cluster, memory_limit, threads"),
        ("py", {"threads": 4}, "task_config.threads", "Drop task_config for this hook"),
    ],
)
def test_task_config_that_does_not_fit_the_task_type_is_refused(
    hook: str, task_config: dict[str, Any], field: str, fix: str
) -> None:
    error = resolve_error({hook: {"task_config": task_config}})
    assert (error.hook, error.field) == (hook, field)
    assert fix in error.fix


def test_task_config_errors_name_the_layer_that_set_the_value() -> None:
    error = resolve_error({"sql": {"task_config": {"threads": "many"}}})
    assert f"(set by execution {RUN!r} (hook 'sql'))" in error.problem
    assert "task type 'sql'" in error.problem


def test_a_python_task_takes_no_task_config() -> None:
    error = resolve_error({"py": {"task_config": {"anything": {"at": "all"}}}})
    assert (error.hook, error.field) == ("py", "task_config.anything")
    assert "task type 'python' takes no task_config" in error.problem


def test_task_config_that_fits_is_merged_and_normalised() -> None:
    resolved = rt.resolve(
        checks_wf,
        overrides={
            "sql": {"task_config": {"threads": 8}},
            "spark": {"task_config": {"spark_conf": {"b": 2}}},
        },
    )
    assert dict(resolved["n3"].config.task_config) == {
        "cluster": "warehouse",
        "threads": 8,
        "memory_limit": None,
    }
    assert resolved["n2"].config.task_config["spark_conf"] == {"spark.executor.cores": "2", "b": "2"}


def test_spark_settings_with_dots_can_be_set_from_the_command_line() -> None:
    overrides = parse_cli_overrides(
        [
            "spark.task_config.spark_conf[spark.executor.memory]=4g",
            'spark.task_config.spark_conf."spark.executor.cores"=4',
        ]
    )
    node = rt.resolve(checks_wf, overrides=overrides)["n2"]
    assert node.config.task_config["spark_conf"] == {
        "spark.executor.cores": "4",
        "spark.executor.memory": "4g",
    }


def test_a_launch_plan_with_task_config_that_does_not_fit_is_refused_when_created() -> None:
    with pytest.raises(OverrideError) as caught:
        rt.LaunchPlan.get_or_create(
            workflow=checks_wf,
            name="resolve-checks-bad-sql",
            runtime_override={"sql": {"task_config": {"threads": 1000}}},
        )
    error = caught.value
    assert (error.hook, error.field) == ("sql", "task_config.threads")
    assert "(set by launch_plan 'resolve-checks-bad-sql' (hook 'sql'))" in error.problem


@pytest.mark.parametrize("enabled", [True, False])
def test_resolving_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    """rt.resolve pauses the cyclic collector while it builds its result (retune.heap.paused);
    a user's process gets its setting back, after a good resolve and after a refused one."""
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        assert rt.resolve(checks_wf, {"cap": {"retries": 1}})["n0"].config.retries == 1
        assert gc.isenabled() is enabled
        with pytest.raises(OverrideError):
            rt.resolve(checks_wf, {"cap": {"resources": {"requests": {"mem": "3Gi"}}}})
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_workflow_whose_own_layers_are_invalid_is_refused_on_every_resolve() -> None:
    """Nothing of a refused resolve is kept: the second resolve is refused the same way."""
    for _ in range(2):
        with pytest.raises(OverrideError) as caught:
            rt.resolve(upside_down_wf)
        assert caught.value.field == "resources.requests.cpu"
