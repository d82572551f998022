"""Task types mark the task_config fields that change results; those enter the cache key."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from retune.plugins.registry import get_task_type, register_task_type


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
