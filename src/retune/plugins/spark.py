"""The ``spark`` task type: Spark and Hadoop configuration, merged key by key across layers."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import register_task_type


class Spark(BaseModel):
    """``task_config`` of a Spark task (flytekitplugins-spark's names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    task_type: ClassVar[str] = "spark"

    spark_conf: dict[str, str] = Field(default_factory=dict)
    hadoop_conf: dict[str, str] = Field(default_factory=dict)
    executor_path: str | None = None


# No result fields: spark_conf is tuning almost always, and the few keys that change results
# (spark.sql.ansi.enabled, ...) are better named by cache_version (docs/decisions/0018-cache-key.md).
register_task_type("spark", Spark)
