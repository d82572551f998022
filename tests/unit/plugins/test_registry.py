"""Task types mark the task_config fields that change results; those enter the cache key."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from retune.plugins import registry
from retune.plugins.registry import (
    TaskConfigError,
    TaskType,
    get_task_type,
    register,
    register_task_type,
    task_types,
)


class Warehouse(BaseModel):
    cluster: str = "default"
    threads: int = 1


def test_sql_marks_its_cluster_and_spark_and_python_mark_nothing() -> None:
    assert get_task_type("sql").result_fields == frozenset({"cluster"})
    assert get_task_type("spark").result_fields == frozenset()
    assert get_task_type("python").result_fields == frozenset()


def test_a_result_field_that_the_config_lacks_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValueError, match=r"result_fields cluser are not fields .* cluster, threads"):
        register_task_type("warehouse-typo", Warehouse, result_fields={"cluser"})


class Loose(BaseModel):  # a plugin's model that would ignore fields it does not know
    level: int = 1


def test_an_unknown_field_is_refused_even_where_the_plugins_model_would_ignore_it() -> None:
    loose = TaskType("loose-for-test", Loose)
    assert loose.validate_config({"level": 2}) == {"level": 2}
    with pytest.raises(TaskConfigError, match="no field 'levle'") as caught:
        loose.validate_config({"levle": 2})
    assert caught.value.field == "task_config.levle"
    assert "Fields of a loose-for-test task_config are: level" in str(caught.value)


def test_a_config_of_another_type_is_refused_and_the_types_own_name_is_accepted() -> None:
    sql = get_task_type("sql")
    assert sql.validate_config({"task_type": "sql", "threads": 2})["threads"] == 2
    with pytest.raises(TaskConfigError, match="a sql task cannot be given a spark task_config") as caught:
        sql.validate_config({"task_type": "spark", "spark_conf": {}})
    assert caught.value.field == "task_config.task_type"


def test_built_in_names_cannot_be_taken_and_a_broken_entry_point_says_what_it_points_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="'sql' is built into retune"):
        register(TaskType("sql", Loose))
    monkeypatch.setitem(registry.declared(), "hive-for-test", "no_such_module_here:HIVE")
    with pytest.raises(
        KeyError, match=r"'hive-for-test' is declared as 'no_such_module_here:HIVE' .* cannot be loaded"
    ):
        get_task_type("hive-for-test")
    monkeypatch.setitem(registry.declared(), "wrong-for-test", "retune.plugins.sql:SQL_TASK_TYPE")
    with pytest.raises(KeyError, match="which is a TaskType named 'sql'"):
        get_task_type("wrong-for-test")
    with pytest.raises(KeyError, match=r"Unknown task type 'nothing'; known types are .*shell, spark, sql"):
        get_task_type("nothing")


def test_the_built_ins_are_declared_as_entry_points_of_the_installed_package() -> None:
    from importlib.metadata import entry_points

    declared = {point.name: point.value for point in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert {name: declared.get(name) for name in registry.BUILT_IN} == registry.BUILT_IN
    assert [t.name for t in task_types()][:4] == ["python", "shell", "spark", "sql"]
