"""Workflows whose tasks report what they ran with: one hook per field under test."""

from __future__ import annotations

import os
from pathlib import Path

import retune as rt
from retune.plugins.spark import Spark


@rt.task
def read_env(name: str) -> str:
    return os.environ.get(name, "<unset>")


@rt.task
def flaky(counter: str, failures: int) -> int:
    """Fails until it has been called ``failures`` times (counted in a file), then succeeds."""
    path = Path(counter)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls <= failures:
        raise RuntimeError(f"failing on purpose, call {calls}")
    return calls


@rt.task(cache=True, cache_version="1")
def count_calls(counter: str, x: int) -> int:
    with Path(counter).open("a") as log:
        log.write("ran\n")
    return x * 2


@rt.task(requests=rt.Resources(mem="64Mi"), limits=rt.Resources(mem="128Mi"))
def allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    return len(block) // 2**20


@rt.task(task_config=Spark(spark_conf={"spark.executor.instances": "2"}))
def spark_conf() -> dict[str, str]:
    return dict(rt.current_context().task_config["spark_conf"])


@rt.task
def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


@rt.workflow
def env_flow(name: str = "GREETING") -> str:
    return read_env(name=name).with_runtime_override("env")


@rt.workflow
def retry_flow(counter: str, failures: int) -> int:
    return flaky(counter=counter, failures=failures).with_runtime_override("flaky")


@rt.workflow
def cache_flow(counter: str, x: int = 21) -> int:
    return count_calls(counter=counter, x=x).with_runtime_override("cached")


@rt.workflow
def memory_flow(mb: int = 200) -> int:
    return allocate(mb=mb).with_runtime_override("alloc")


@rt.workflow
def spark_flow() -> dict[str, str]:
    return spark_conf().with_runtime_override("spark")


@rt.workflow
def cpu_flow() -> int:
    return cpu_count().with_runtime_override("cpu")
