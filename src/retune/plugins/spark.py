"""The ``spark`` task type: a Python function given a SparkSession built from the merged
``spark_conf`` (DESIGN §9), as ``rt.current_context().spark``.

Spark and Hadoop configuration merge key by key across layers, so a launch may set one
``spark_conf`` key without repeating the others. The session runs in local mode
(``local[N]``, N the node's cpu request rounded up) unless ``spark.master`` is configured; it is
built for each attempt and stopped after it (the task process ends every process an attempt
started, the JVM included). Needs the extra ``retune[spark]`` and a Java 17 runtime.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import TaskType
from retune.plugins.runner import Call


class Spark(BaseModel):
    """``task_config`` of a Spark task (flytekitplugins-spark's names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    task_type: ClassVar[str] = "spark"

    spark_conf: dict[str, str] = Field(default_factory=dict)
    hadoop_conf: dict[str, str] = Field(default_factory=dict)
    executor_path: str | None = None


def run_spark(call: Call) -> Any:
    """The task's function, with ``rt.current_context().spark`` made on first access: a task
    that only reads its ``task_config`` starts no JVM."""
    if call.function is None:
        raise TypeError(
            f"Task {call.task!r}: a spark task is a Python function declared with task_config=rt.Spark(...)."
        )
    sessions: list[Any] = []

    def session() -> Any:
        sessions.append(_session(call))
        return sessions[-1]

    try:
        return call.call_function(lazy={"spark": session})
    finally:
        for made in sessions:
            _stop(made)


def _session(call: Call) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError(
            "pyspark is not installed where this task runs: install the extra retune[spark] (and a Java 17 runtime)"
        ) from None
    config = call.config
    spark_conf = dict(config.get("spark_conf", {}))
    cores = max(1, math.ceil(float(os.environ.get("RETUNE_CPU", "1") or 1)))
    builder = SparkSession.builder.appName(call.task).master(
        spark_conf.pop("spark.master", f"local[{cores}]")
    )
    for key, value in spark_conf.items():
        builder = builder.config(key, value)
    for key, value in config.get("hadoop_conf", {}).items():
        builder = builder.config(f"spark.hadoop.{key}", value)
    if config.get("executor_path"):
        builder = builder.config("spark.pyspark.python", config["executor_path"])
    return builder.getOrCreate()


def _stop(session: Any) -> None:
    """Stop the session and forget the JVM gateway: the task process ends the JVM after the
    attempt, and the next attempt must start a new one rather than talk to a dead one."""
    from pyspark import SparkContext

    try:
        session.stop()
    finally:
        gateway = SparkContext._gateway
        SparkContext._gateway = None
        SparkContext._jvm = None
        if gateway is not None:
            with contextlib.suppress(Exception):  # the JVM may be gone already
                gateway.shutdown()


# No result fields: spark_conf is tuning almost always, and the few keys that change results
# (spark.sql.ansi.enabled, ...) are better named by cache_version (docs/decisions/0018-cache-key.md).
SPARK_TASK_TYPE = TaskType(
    "spark",
    Spark,
    runner=run_spark,
    description="A Python function given a SparkSession built from spark_conf.",
)
