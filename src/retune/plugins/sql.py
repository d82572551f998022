"""The ``sql`` task type: a query on a named cluster, DuckDB or PostgreSQL (DESIGN §9).

    [clusters.warehouse]                                   # retune.toml
    url = "postgresql://etl@db.internal:5432/warehouse"
    password_env = "WAREHOUSE_PASSWORD"
    [clusters.local]
    url = "duckdb:///data/local.duckdb"                    # duckdb:///:memory: for none

``rt.SQLTask(name, query, inputs={"day": str}, task_config=rt.SQL(cluster="warehouse"))`` is a
node returning one dict per row. ``:day`` placeholders are bound as parameters by the driver,
never pasted into the text (a ``:`` inside a string literal, a quoted name, a comment or a
``::`` cast is not one). The ``cluster`` names the table above: overriding it sends the same
query elsewhere, and it enters the cache key (another cluster, another database). ``threads``
and ``memory_limit`` are applied to DuckDB (PostgreSQL decides for itself) and never change
results. The cluster ``default``, when retune.toml names none, is an in-memory DuckDB.

Credentials: a cluster's URL carries none (one with a password is refused); the password comes
from the environment variable ``password_env`` names, read by the task process, so it is never
in a record, the API, the UI or a log.

A Python function declared with ``task_config=rt.SQL(...)`` runs with a connection to its
cluster as ``rt.current_context().sql`` (DB-API: ``execute``, ``fetchall``).
"""

from __future__ import annotations

import datetime
import decimal
import os
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Final
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import TaskConfigError, TaskType
from retune.plugins.runner import Call
from retune.settings import Settings

DEFAULT_CLUSTER: Final = "default"
DEFAULT_URL: Final = "duckdb:///:memory:"
PARAMETER_TYPES: Final = frozenset(
    {
        "int",
        "float",
        "str",
        "bool",
        "none",
        "optional[int]",
        "optional[float]",
        "optional[str]",
        "optional[bool]",
    }
)


class SQL(BaseModel):
    """``task_config`` of a SQL task; the RFC's "which SQL cluster to use"."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_type: ClassVar[str] = "sql"

    cluster: str = Field(
        DEFAULT_CLUSTER, min_length=1, max_length=63, description="A [clusters.NAME] of retune.toml"
    )
    threads: int = Field(1, ge=1, le=256, description="DuckDB's threads")
    memory_limit: str | None = Field(
        None, description="DuckDB's memory_limit, e.g. 2GB; None lets DuckDB decide"
    )


# --- the definition: placeholders ------------------------------------------------------------


def placeholders(query: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``:name`` placeholder, outside string literals, quoted
    names, comments and ``::`` casts."""
    found = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in ("'", '"'):
            end = query.find(char, i + 1)
            while end != -1 and end + 1 < n and query[end + 1] == char:  # '' escapes a quote
                end = query.find(char, end + 2)
            i = n if end == -1 else end + 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            i = n if end == -1 else end + 1
        elif query.startswith("/*", i):
            end = query.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif query.startswith("::", i):
            i += 2
        elif char == ":" and i + 1 < n and (query[i + 1].isalpha() or query[i + 1] == "_"):
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            found.append((i, j, query[i + 1 : j]))
            i = j
        else:
            i += 1
    return found


def sql_definition(query: str, inputs: Mapping[str, str]) -> dict[str, Any]:
    """The definition of a SQL task; ``inputs`` maps names to type strings. Refuses a
    placeholder that is not an input (a missing parameter) and an input the query never uses."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("the query is empty")
    used = [name for _, _, name in placeholders(query)]
    missing = sorted(set(used) - set(inputs))
    if missing:
        raise ValueError(
            f"the query uses the parameter :{missing[0]}, which is not an input "
            f"(inputs: {', '.join(sorted(inputs)) or 'none'}); add it to inputs={{...}}"
        )
    unused = sorted(set(inputs) - set(used))
    if unused:
        raise ValueError(
            f"input {unused[0]!r} is not used by the query; write :{unused[0]} where it belongs, or drop it"
        )
    for name, kind in inputs.items():
        if kind not in PARAMETER_TYPES:
            raise ValueError(
                f"input {name!r} is {kind}: a query parameter is an int, float, str, bool or None"
            )
    return {"query": query}


def _with(query: str, style: str) -> str:
    """The query with each ``:name`` as the driver's placeholder (``$name`` for DuckDB,
    ``%(name)s`` for psycopg, whose literal ``%`` then doubles)."""
    if style == "psycopg":
        parts, last = [], 0
        for start, end, name in placeholders(query):
            parts.append(query[last:start].replace("%", "%%"))
            parts.append(f"%({name})s")
            last = end
        parts.append(query[last:].replace("%", "%%"))
        return "".join(parts)
    parts, last = [], 0
    for start, end, name in placeholders(query):
        parts += [query[last:start], f"${name}"]
        last = end
    return "".join([*parts, query[last:]])


# --- clusters ----------------------------------------------------------------------------------


def cluster_url(name: str, settings: Settings) -> tuple[str, str | None]:
    """``(url, password_env)`` of the cluster ``name``; ``TaskConfigError`` naming the clusters
    configured when there is no such cluster, or when its URL is not one this type can use."""
    table = settings.clusters.get(name)
    if table is None:
        if name == DEFAULT_CLUSTER:
            return DEFAULT_URL, None
        known = ", ".join(sorted(settings.clusters)) or "none"
        where = ", ".join(settings.sources) or "no retune.toml was found"
        raise TaskConfigError(
            "task_config.cluster",
            f"no cluster {name!r} is configured (clusters: {known}; settings read: {where})",
            f"Use one of them, or add a [clusters.{name}] table with a url to retune.toml.",
        )
    url = str(table.get("url", ""))
    scheme = urlsplit(url).scheme
    if scheme not in ("duckdb", "postgresql", "postgres"):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has the url {_shown(url)!r}, which is neither duckdb:///PATH nor postgresql://...",
            f"Fix url in [clusters.{name}] of retune.toml.",
        )
    if urlsplit(url).password:
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has a password in its url, where every record and log could show it",
            f'Drop it from the url and name an environment variable instead: password_env = "VAR" in [clusters.{name}].',
        )
    password_env = table.get("password_env")
    return url, None if password_env is None else str(password_env)


def check_sql(config: Mapping[str, Any], settings: Settings) -> None:
    cluster_url(str(config.get("cluster", DEFAULT_CLUSTER)), settings)


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return url if not parts.password else url.replace(f":{parts.password}@", ":***@")


# --- running -----------------------------------------------------------------------------------


def run_sql(call: Call) -> Any:
    config = call.config
    url, password_env = cluster_url(str(config.get("cluster", DEFAULT_CLUSTER)), call.settings)
    connection = _connect(url, password_env, config)
    try:
        if call.definition is None:  # a Python function given a connection to its cluster
            return call.call_function(sql=connection)
        query = call.definition["query"]
        parameters = {name: call.inputs[name] for _, _, name in placeholders(query)}
        if url.startswith("duckdb:"):
            cursor = connection.execute(_with(query, "duckdb"), parameters or None)
        else:
            cursor = connection.cursor()
            cursor.execute(_with(query, "psycopg"), parameters or None)
        if cursor.description is None:  # a statement that returns no rows
            return []
        columns = [column[0] for column in cursor.description]
        return [
            {column: _plain(value) for column, value in zip(columns, row, strict=True)}
            for row in cursor.fetchall()
        ]
    finally:
        connection.close()


def _connect(url: str, password_env: str | None, config: Mapping[str, Any]) -> Any:
    if url.startswith("duckdb:"):
        import duckdb

        path = unquote(urlsplit(url).path) or ":memory:"
        path = ":memory:" if path in ("/:memory:", ":memory:") else path
        options: dict[str, Any] = {"threads": int(config.get("threads", 1))}
        if config.get("memory_limit"):
            options["memory_limit"] = str(config["memory_limit"])
        return duckdb.connect(path, config=options)
    import psycopg

    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise RuntimeError(
                f"the cluster's password_env names {password_env!r}, which is not set where the task runs; "
                "set it in the environment of the worker (or of `retune run`)"
            )
    dsn = url.replace("postgres://", "postgresql://", 1)
    return (
        psycopg.connect(dsn, password=password, autocommit=True)
        if password
        else psycopg.connect(dsn, autocommit=True)
    )


def _plain(value: Any) -> Any:
    """A column value as JSON holds it: decimals as floats, times as ISO text, UUIDs as text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


SQL_TASK_TYPE = TaskType(
    "sql",
    SQL,
    result_fields=frozenset({"cluster"}),  # another cluster, another database
    runner=run_sql,
    check=check_sql,
    description="A query on a DuckDB or PostgreSQL cluster named in retune.toml; one dict per row.",
)
