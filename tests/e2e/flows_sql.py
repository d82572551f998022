"""SQL tasks for the end-to-end tests: the clusters are those of the retune.toml in the working
directory of the run (``local``, ``other``), the tables those the tests create there."""

from __future__ import annotations

import hashlib
from typing import Any

import retune as rt

settings = rt.SQLTask(
    "settings",
    "select current_setting('threads') as threads, current_setting('memory_limit') as memory_limit",
    task_config=rt.SQL(cluster="local", threads=1),
)

origin = rt.SQLTask(
    "origin",
    "select src, :note as note, ':note' as literal from origin",
    inputs={"note": str},
    task_config=rt.SQL(cluster="local"),
    cache=True,
    cache_version="1",
)


@rt.workflow
def settings_flow() -> list[dict[str, Any]]:
    return settings().with_runtime_override("probe")


@rt.workflow
def origin_flow(note: str = "hello") -> list[dict[str, Any]]:
    return origin(note=note).with_runtime_override("where")


@rt.workflow
def spark_config_flow(note: str = "hello") -> list[dict[str, Any]]:
    """A node whose author tries to turn the SQL task into a Spark one."""
    return origin(note=note).with_overrides(task_config=rt.Spark(spark_conf={"a": "b"}))


@rt.task(task_config=rt.SQL(cluster="other"))
def password_digest() -> str:
    """The sha256 of the password the task process connected with (never the password)."""
    print("connected to", rt.current_context().sql.info.dbname)
    password = rt.current_context().sql.info.password or ""
    return hashlib.sha256(password.encode()).hexdigest()


@rt.workflow
def secret_flow(note: str = "hello") -> tuple[list[dict[str, Any]], str]:
    rows = origin(note=note).with_runtime_override("where")
    return rows, password_digest().with_runtime_override("digest")
