"""The ``spark`` task type: a Python function given a SparkSession built from the merged
``spark_conf`` (DESIGN §9), as ``rt.current_context().spark``.

Spark and Hadoop configuration merge key by key across layers, so a launch may set one
``spark_conf`` key without repeating the others. Each attempt:

1. builds the session's conf (``session_conf``): retune's defaults (no UI, no console progress
   bar, log level WARN, the SQL warehouse in the attempt's scratch directory; in local mode, the
   driver bound to 127.0.0.1), then the merged ``spark_conf`` over them, key by key, then ``hadoop_conf`` as ``spark.hadoop.*``. The master
   is ``spark.master`` if configured, else ``local[N]``, N the node's cpu request rounded up;
2. starts a JVM and its session, with ``PYSPARK_PYTHON`` set to ``executor_path`` or this
   interpreter (Python workers of UDFs and RDDs need pyspark and the task's code), and, in local
   mode, ``SPARK_LOCAL_IP=127.0.0.1`` unless the environment names another address;
3. calls the task's function with the session as ``rt.current_context().spark``, made on first
   access: a task that never reads it starts no JVM;
4. stops the session and forgets the JVM gateway: the task process ends every process an
   attempt started, the JVM included, so the next attempt in the same process starts its own.

Needs the extra ``retune[spark]`` and a Java 17 runtime (``java`` on PATH or ``JAVA_HOME``).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import TaskType
from retune.plugins.runner import Call

DEFAULT_CONF: Final = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "WARN",
}
"""What retune sets unless ``spark_conf`` does: a task's logs should hold its own lines, not a
progress bar redrawn in place or the JVM's INFO chatter; and a web UI nobody can reach from a
task process only takes a port."""

MI: Final = 1024 * 1024
SPARK_NEEDS_MI: Final = 768
"""About what a local Spark driver needs to start under ``RLIMIT_DATA``: Spark refuses a heap
under 450 MiB, and the JVM's own metaspace, code cache and threads come on top (measured with
Java 17 and Spark 4: a 400Mi limit could not start the JVM, 768Mi ran a job)."""

LOOPBACK: Final = "127.0.0.1"
LOCAL_CONF: Final = {"spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}
"""In local mode the driver and its executors share the process: they talk over loopback,
which every machine has (a sandbox or CI runner may have nothing else)."""


class Spark(BaseModel):
    """``task_config`` of a Spark task (flytekitplugins-spark's names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    task_type: ClassVar[str] = "spark"

    spark_conf: dict[str, str] = Field(default_factory=dict)
    hadoop_conf: dict[str, str] = Field(default_factory=dict)
    executor_path: str | None = None


class SparkTaskError(RuntimeError):
    """A Spark error raised by a task, its text read while the JVM was up: pyspark's own
    exceptions ask the JVM for their text, and the JVM is gone by the time an attempt's
    failure is reported."""


def session_conf(config: Mapping[str, Any], cpu: str | None, workdir: Path) -> dict[str, str]:
    """The conf a task's session is built from: ``spark.master`` first, then retune's defaults,
    overridden key by key by the merged ``spark_conf``, then ``hadoop_conf`` as ``spark.hadoop.*``.

    The default SQL warehouse is in ``workdir``, removed after the attempt: Spark's own default,
    ``./spark-warehouse``, would leave a directory wherever the worker was started."""
    spark_conf: dict[str, str] = dict(config.get("spark_conf") or {})
    cores = max(1, math.ceil(float(cpu or 1)))
    master = spark_conf.pop("spark.master", f"local[{cores}]")
    defaults = {
        **DEFAULT_CONF,
        "spark.sql.warehouse.dir": str(workdir / "spark-warehouse"),
        **(LOCAL_CONF if _is_local(master) else {}),
    }
    conf = {"spark.master": master, **defaults, **spark_conf}
    for key, value in (config.get("hadoop_conf") or {}).items():
        conf[f"spark.hadoop.{key}"] = value
    return conf


def run_spark(call: Call) -> Any:
    """The task's function, with ``rt.current_context().spark`` made on first access: a task that
    only reads its ``task_config`` starts no JVM (and needs no pyspark)."""
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
    except Exception as exc:
        if not sessions or not _needs_jvm_to_describe(exc):
            raise
        raise _detached(exc) from None
    finally:
        for made in sessions:
            _stop(made)


def _session(call: Call) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError(
            f"Task {call.task!r} is a spark task, but pyspark is not installed where it runs "
            f"({sys.executable}): install the extra retune[spark] there, and a Java 17 runtime."
        ) from None
    conf = session_conf(call.config, os.environ.get("RETUNE_CPU"), call.workdir)
    builder = SparkSession.builder.appName(call.task)
    for key, value in conf.items():
        builder = builder.config(key, value)
    with _session_environment(call.config, conf["spark.master"]):
        try:
            return builder.getOrCreate()
        except Exception as exc:
            limit = _memory_limit()
            if limit is None or "JAVA_GATEWAY_EXITED" not in _text(exc):
                raise
            # Under the task's memory limit (RLIMIT_DATA, which the JVM inherits) the JVM could
            # not allocate what it needs to start; its own words went to the attempt's stdout.
            raise MemoryError(
                f"the Spark JVM could not start within the task's memory limit of {limit // MI}Mi "
                f"(the JVM and a Spark driver need about {SPARK_NEEDS_MI}Mi or more; its own message "
                "is in the attempt's logs): raise the node's mem, e.g. -o HOOK.mem=1Gi"
            ) from None


def _memory_limit() -> int | None:
    """The memory limit of this attempt as the JVM inherits it (``RLIMIT_DATA``), or None."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a py4j error may need the JVM to describe itself
        return type(exc).__name__


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


@contextlib.contextmanager
def _session_environment(config: Mapping[str, Any], master: str) -> Iterator[None]:
    """The environment the JVM is started with (it reads it then, and so does SparkContext for
    the Python workers' interpreter), restored once the session is up."""
    changes = {
        "PYSPARK_PYTHON": config.get("executor_path") or os.environ.get("PYSPARK_PYTHON") or sys.executable
    }
    if _is_local(master) and "SPARK_LOCAL_IP" not in os.environ:
        changes["SPARK_LOCAL_IP"] = LOOPBACK
    before = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _needs_jvm_to_describe(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("pyspark.", "py4j."))


def _detached(exc: Exception) -> SparkTaskError:
    """``exc`` as an error whose text no longer needs the JVM, keeping its traceback (the lines
    of the task that raised it)."""
    kind = type(exc)
    try:
        text = str(exc)
    except Exception as unreadable:  # the JVM may have died under the task
        text = f"(its message could not be read from the JVM: {type(unreadable).__name__})"
    return SparkTaskError(f"{kind.__module__}.{kind.__qualname__}: {text}").with_traceback(exc.__traceback__)


def _stop(session: Any) -> None:
    """Stop the session and forget the JVM gateway: the task process ends the JVM after the
    attempt, and the next attempt must start a new one rather than talk to a dead one."""
    from pyspark import SparkContext

    try:
        with contextlib.suppress(Exception):  # the task may have stopped it, or killed the JVM
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
