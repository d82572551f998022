"""The ``sql`` task type: a query on a named cluster, DuckDB or PostgreSQL (DESIGN §9).

    [clusters.warehouse]                                   # retune.toml
    url = "postgresql://etl@db.internal:5432/warehouse"
    password_env = "WAREHOUSE_PASSWORD"
    [clusters.local]
    url = "duckdb:///data/local.duckdb"                    # duckdb:///:memory: for none
    # duckdb:local.duckdb: relative to the working directory (where retune.toml is read);
    # a query (?access_mode=read_only) is DuckDB configuration
    create = true          # the first query may create the file; without it, a missing one is refused

``rt.SQLTask(name, query, inputs={"day": str}, task_config=rt.SQL(cluster="warehouse"))`` is a
node returning one dict per row. ``:day`` placeholders are bound as parameters by the driver,
never pasted into the text (a ``:`` inside a string literal, a quoted name, a comment or a
``::`` cast is not one). The ``cluster`` names the table above: overriding it sends the same
query elsewhere, and it enters the cache key (another cluster, another database). ``threads``
and ``memory_limit`` are applied to DuckDB (PostgreSQL decides for itself) and never change
results. The cluster ``default``, when retune.toml names none, is an in-memory DuckDB.

Credentials: a cluster's URL carries none (one with a password, or ``?password=``, is refused at
launch, and no message quotes a URL); the password comes
from the environment variable ``password_env`` names, read by the task process, so it is never
in a record, the API, the UI or a log. A variable that is not set there fails the call naming
the cluster, the variable and the machine it must be set on.

A DuckDB file that does not exist is refused by the task process, naming the cluster and the
path, unless the cluster says ``create = true``: DuckDB would create an empty database at a
mistyped path, where a read fails with "table does not exist" and a write succeeds unseen
(docs/decisions/0026). Whether the file exists is known only on the machine that runs the
task, so the launch check refuses what the settings alone show (``create`` not a boolean, or
given to a PostgreSQL cluster), as it does for the rest of a cluster's table.

A Python function declared with ``task_config=rt.SQL(...)`` runs with a connection to its
cluster as ``rt.current_context().sql`` (DB-API: ``execute``, ``fetchall``).
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retune.plugins.registry import TaskConfigError, TaskType
from retune.plugins.runner import Call, RunnerError
from retune.settings import Settings

DEFAULT_CLUSTER: Final = "default"
DEFAULT_URL: Final = "duckdb:///:memory:"
DOLLAR_TAG: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MEMORY_LIMIT: Final = re.compile(r"\s*\d+(\.\d+)?\s*(b|bytes|[kmgt]i?b|%)\s*", re.IGNORECASE)
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
        None, description="DuckDB's memory_limit, e.g. 2GB, 512MiB or 50%; None lets DuckDB decide"
    )

    @field_validator("threads", mode="before")
    @classmethod
    def _count_not_flag(cls, value: Any) -> Any:
        # pydantic reads true as 1: `-o q.task_config.threads=true` would run on one thread.
        if isinstance(value, bool):
            raise ValueError(f"threads is a number of threads, not {str(value).lower()}")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        # Checked here so that a typo is refused at launch, not by DuckDB in the task process.
        if value is not None and not MEMORY_LIMIT.fullmatch(value):
            raise ValueError(
                f"memory_limit {value!r} is not a size: write a number and a unit "
                "(b, kb, mb, gb, tb, kib, mib, gib, tib) or a percentage of the machine, e.g. 2gb or 50%"
            )
        return value


# --- the definition: placeholders ------------------------------------------------------------


def placeholders(query: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``:name`` placeholder, outside string literals (``'...'``,
    ``E'...'``, ``$tag$...$tag$``), quoted names, comments and ``::`` casts. A ``:`` right after
    a name or a number is not one either: ``list[a:b]`` and ``arr[1:n]`` are slices."""
    found = []
    i, n = 0, len(query)
    while i < n:
        skipped = _skip(query, i)
        if skipped is not None:
            i = skipped
        elif query[i] == ":" and i + 1 < n and _starts_name(query[i + 1]):
            if i > 0 and _in_name(query[i - 1]):
                i += 1
                continue
            j = i + 1
            while j < n and _in_name(query[j]):
                j += 1
            found.append((i, j, query[i + 1 : j]))
            i = j
        else:
            i += 1
    return found


def _skip(query: str, i: int) -> int | None:
    """Where the literal, quoted name, comment or cast starting at ``i`` ends (``None``: none
    starts there); an unterminated one runs to the end of the query."""
    n, char = len(query), query[i]
    if char == "'" and i > 0 and query[i - 1] in "eE" and (i < 2 or not _in_name(query[i - 2])):
        return _closing(query, i, "'", backslash=True)  # E'it\'s': backslashes escape
    if char in ("'", '"'):
        return _closing(query, i, char, backslash=False)
    if query.startswith("--", i):
        end = query.find("\n", i)
        return n if end == -1 else end + 1
    if query.startswith("/*", i):
        return _block_comment_end(query, i)
    if query.startswith("::", i):
        return i + 2
    if char == "$" and (i == 0 or not _in_name(query[i - 1])):
        tag = DOLLAR_TAG.match(query, i)
        if tag is not None:
            end = query.find(tag.group(), tag.end())
            return n if end == -1 else end + len(tag.group())
    return None


def _closing(query: str, i: int, quote: str, *, backslash: bool) -> int:
    """The index after the quote closing the one at ``i`` (a doubled quote escapes one)."""
    j, n = i + 1, len(query)
    while j < n:
        if backslash and query[j] == "\\":
            j += 2
        elif query[j] == quote:
            if j + 1 < n and query[j + 1] == quote:
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return n


def _block_comment_end(query: str, i: int) -> int:
    """The index after the ``*/`` closing the comment at ``i``; they nest, as in PostgreSQL."""
    depth, j, n = 0, i, len(query)
    while j < n:
        if query.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif query.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def _starts_name(char: str) -> bool:
    return char.isalpha() or char == "_"


def _in_name(char: str) -> bool:
    return char.isalnum() or char == "_"


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


@dataclass(frozen=True, slots=True)
class Cluster:
    """A ``[clusters.NAME]`` table of retune.toml, checked (``cluster``)."""

    name: str
    url: str
    password_env: str | None = None
    create: bool = False
    """A DuckDB file that does not exist may be created by the first query."""


def cluster(name: str, settings: Settings) -> Cluster:
    """The cluster ``name``; ``TaskConfigError`` naming the clusters configured when there is no
    such cluster, or naming what of its table cannot work."""
    table = settings.clusters.get(name)
    if table is None:
        if name == DEFAULT_CLUSTER:
            return Cluster(name, DEFAULT_URL)
        known = ", ".join(sorted(settings.clusters)) or "none"
        where = ", ".join(settings.sources) or "no retune.toml was found"
        raise TaskConfigError(
            "task_config.cluster",
            f"no cluster {name!r} is configured (clusters: {known}; settings read: {where})",
            f"Use one of them, or add a [clusters.{name}] table with a url to retune.toml.",
        )
    _check_keys(name, table)
    url = table.get("url", "")
    _check_url(name, url if isinstance(url, str) else "")
    password_env = table.get("password_env")
    if password_env is not None and not (isinstance(password_env, str) and ENV_NAME.fullmatch(password_env)):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has password_env = {password_env!r}, which is not the name of an environment variable",
            f'Write password_env = "VAR" in [clusters.{name}] of retune.toml, VAR holding the password.',
        )
    return Cluster(name, url, password_env, _create(name, url, table.get("create", False)))


CLUSTER_KEYS: Final = ("url", "password_env", "create")


def _check_keys(name: str, table: Mapping[str, Any]) -> None:
    """A key no cluster reads is a mistake (``creat = true`` would leave the file refused)."""
    unknown = sorted(key for key in table if key not in CLUSTER_KEYS)
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, CLUSTER_KEYS, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise TaskConfigError(
        "task_config.cluster",
        f"cluster {name!r} has {key} = ..., which no cluster reads (a cluster takes {', '.join(CLUSTER_KEYS)})",
        f"{hint}Fix or drop {key} in [clusters.{name}] of retune.toml.",
    )


def _create(name: str, url: str, create: Any) -> bool:
    if not isinstance(create, bool):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has create = {create!r}, which is not true or false",
            f"Write create = true in [clusters.{name}] of retune.toml to let the first query create "
            "its DuckDB file, or drop it.",
        )
    if create and not url.startswith("duckdb:"):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has create = true, which only a DuckDB file uses",
            f"Drop create from [clusters.{name}] of retune.toml: a PostgreSQL database is created "
            "by its server's administrator.",
        )
    return create


def _check_url(name: str, url: str) -> None:
    """Refuse a URL this type cannot use, or one that carries a password. The URL is never
    quoted in the message: it may hold a secret."""
    parts = urlsplit(url)
    fix = f"Fix url in [clusters.{name}] of retune.toml."
    if parts.scheme not in ("duckdb", "postgresql", "postgres"):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has a url of scheme {parts.scheme!r}; "
            "a cluster is duckdb:///ABSOLUTE/PATH, duckdb:RELATIVE/PATH, duckdb:///:memory: or postgresql://...",
            fix,
        )
    if parts.password or "password" in parse_qs(parts.query):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has a password in its url, where every record and log could show it",
            f'Drop it from the url and name an environment variable instead: password_env = "VAR" in [clusters.{name}].',
        )
    if parts.scheme == "duckdb" and parts.netloc not in ("", ":memory:"):
        raise TaskConfigError(
            "task_config.cluster",
            f"cluster {name!r} has a duckdb url with the host {parts.netloc!r}; DuckDB opens a file, not a server",
            f"Write duckdb:///ABSOLUTE/PATH (three slashes) or duckdb:RELATIVE/PATH in [clusters.{name}] of retune.toml.",
        )


def check_sql(config: Mapping[str, Any], settings: Settings) -> None:
    cluster(str(config.get("cluster", DEFAULT_CLUSTER)), settings)


# --- running -----------------------------------------------------------------------------------


def run_sql(call: Call) -> Any:
    config = call.config
    try:
        found = cluster(str(config.get("cluster", DEFAULT_CLUSTER)), call.settings)
    except TaskConfigError as exc:  # this process's settings differ from the launcher's
        where = f"in the settings of the task process on {socket.gethostname()}"
        raise RunnerError(f"{exc.field}: {exc.problem}, {where}. {exc.fix}") from None
    url = found.url
    connection = _connect(found, config)
    try:
        if call.definition is None:  # a Python function given a connection to its cluster
            return call.call_function(sql=connection)
        query = call.definition["query"]
        parameters = {name: call.inputs[name] for _, _, name in placeholders(query)}
        if url.startswith("duckdb:"):
            cursor = connection.execute(_with(query, "duckdb"), parameters or None)
        else:
            # Always a mapping, even an empty one: psycopg turns the %% that _with wrote back into
            # % only when it is given parameters.
            cursor = connection.cursor()
            cursor.execute(_with(query, "psycopg"), parameters)
        if cursor.description is None:  # a statement that returns no rows
            return []
        columns = [column[0] for column in cursor.description]
        return [
            {column: _plain(value) for column, value in zip(columns, row, strict=True)}
            for row in cursor.fetchall()
        ]
    finally:
        connection.close()


def _connect(found: Cluster, config: Mapping[str, Any]) -> Any:
    if found.url.startswith("duckdb:"):
        return _connect_duckdb(found, config)
    import psycopg

    password = None
    if found.password_env is not None:
        password = os.environ.get(found.password_env)
        if password is None:
            raise MissingPassword(found)
    dsn = "postgresql://" + found.url.split("://", 1)[1]
    return (
        psycopg.connect(dsn, password=password, autocommit=True)
        if password
        else psycopg.connect(dsn, autocommit=True)
    )


def _connect_duckdb(found: Cluster, config: Mapping[str, Any]) -> Any:
    import duckdb

    parts = urlsplit(found.url)
    path = unquote(parts.path)
    if parts.netloc == ":memory:" or path in ("", "/:memory:", ":memory:"):
        path = ":memory:"
    elif not found.create and not os.path.exists(path):
        raise MissingDatabase(found, path)
    # The url's query (?access_mode=read_only) is DuckDB configuration, which DuckDB checks.
    options: dict[str, Any] = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    options["threads"] = int(config.get("threads", 1))
    if config.get("memory_limit"):
        options["memory_limit"] = str(config["memory_limit"])
    return duckdb.connect(path, config=options)


class MissingPassword(RunnerError):
    """A cluster's ``password_env`` is not set in the task process."""

    def __init__(self, found: Cluster) -> None:
        name, variable = found.name, found.password_env
        super().__init__(
            f"Cluster {name!r} reads its password from the environment variable {variable!r} "
            f"(password_env in [clusters.{name}]), which is not set where this task ran "
            f"({socket.gethostname()}). Set {variable} in the environment of the worker that runs "
            f"the task (`{variable}=... retune worker`), or of `retune run` for a run on this "
            "machine; retune reads it there and never stores it."
        )


class MissingDatabase(RunnerError):
    """A cluster's DuckDB file does not exist, and the cluster does not say ``create = true``."""

    def __init__(self, found: Cluster, path: str) -> None:
        name = found.name
        relative = "" if os.path.isabs(path) else f", relative to the task's working directory {os.getcwd()}"
        super().__init__(
            f"Cluster {name!r} is the DuckDB file {os.path.abspath(path)}{relative}, which does not "
            f"exist on {socket.gethostname()}; DuckDB would create an empty database there. Fix "
            f"the path in the url of [clusters.{name}] in retune.toml, or add create = true to "
            "that table to let the first query create the file."
        )


def _plain(value: Any) -> Any:
    """A column value as JSON holds it: decimals as floats, a NaN or an infinity as the text
    retune stores a float's (``"NaN"``, ``"Infinity"``), times as ISO text, intervals as seconds,
    UUIDs and addresses as text, composite values as lists and objects, and any other value
    (a PostgreSQL range, a geometric type) as its text, since ``Any`` holds JSON only."""
    if isinstance(value, str | int | bytes | None):
        return value
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)  # uuid.UUID, ipaddress, psycopg's Range, ...


SQL_TASK_TYPE = TaskType(
    "sql",
    SQL,
    result_fields=frozenset({"cluster"}),  # another cluster, another database
    runner=run_sql,
    check=check_sql,
    description="A query on a DuckDB or PostgreSQL cluster named in retune.toml; one dict per row.",
)
