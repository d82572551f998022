"""Task types' rows: what running a definition as a task costs over running it directly.

The sql row: a one-row query on a DuckDB file, run as a one-node workflow of ``rt.SQLTask``
with ``rt.run`` on the local executor, next to the same query through ``duckdb`` directly
(connect to the file with the same settings, execute, fetch, close: what the task's runner
does), both measured in this run. No target: the row reports the overhead, in ms and as a
ratio.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import retune as rt
from bench.execution import _warm_parts, fresh_home
from bench.report import Row, format_seconds
from bench.timing import measure, summarise

REPS, WARMUPS = 25, 3
QUERY = "select id, name from one_row where id = :id"

one_row = rt.SQLTask("one_row", QUERY, inputs={"id": int}, task_config=rt.SQL(cluster="bench", threads=1))


@rt.workflow
def one_query(row_id: int = 1) -> list[dict[str, Any]]:
    return one_row(id=row_id)


def bench_sql_task() -> list[Row]:
    with fresh_home() as home, _working_directory(home):
        database = home / "bench.duckdb"
        _create(database)
        (home / "retune.toml").write_text(f'[clusters.bench]\nurl = "duckdb://{database}"\n')
        direct = summarise(measure(lambda _: _direct(database), reps=REPS, warmups=WARMUPS))
        with _warm_parts() as parts:
            task = summarise(measure(lambda _: _as_task(parts), reps=REPS, warmups=WARMUPS))
    overhead = task.p50 - direct.p50
    return [
        Row(
            "sql task: one-row DuckDB query, rt.run of a one-node workflow",
            task,
            "– (reported)",
            "info",
            ratio=f"{task.p50 / direct.p50:.2f}× ({format_seconds(direct.p50)}), +{overhead * 1000:.1f} ms",
            note=(
                f"`rt.run` of a workflow whose one node is `rt.SQLTask` ({QUERY!r}, threads=1) on a "
                "DuckDB file configured as `[clusters.bench]` in retune.toml; local executor and "
                "SQLite store opened once beforehand, cache off, so every run goes through the engine, "
                "the store and a task process that connects to the file, binds, fetches and closes; "
                f"{WARMUPS} warm-ups, {REPS} repetitions; the output is checked. Overhead = this p50 "
                f"minus the direct row's p50 ({format_seconds(overhead)})."
            ),
        ),
        Row(
            "sql task: the same query through duckdb directly",
            direct,
            "–",
            "info",
            note=(
                "`duckdb.connect(file, config={'threads': 1})`, `execute(query, {'id': 1})` with the "
                f"query as the runner sends it, `fetchall()`, `close()`, in this process; {WARMUPS} "
                f"warm-ups, {REPS} repetitions."
            ),
        ),
    ]


def _create(database: Path) -> None:
    import duckdb

    with duckdb.connect(str(database)) as connection:
        connection.execute("create table one_row as select 1 as id, 'one' as name")


def _direct(database: Path) -> None:
    import duckdb

    connection = duckdb.connect(str(database), config={"threads": 1})
    try:
        rows = connection.execute("select id, name from one_row where id = $id", {"id": 1}).fetchall()
    finally:
        connection.close()
    assert rows == [(1, "one")], rows


def _as_task(parts: dict[str, Any]) -> None:
    record = rt.run(one_query, {"row_id": 1}, **parts)
    assert record.outputs == [{"id": 1, "name": "one"}], (record.phase, record.error)


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """Settings (the clusters of retune.toml) are read from the working directory, by this
    process and by the task processes it starts."""
    from retune import settings

    before = Path.cwd()
    os.chdir(path)
    settings.load.cache_clear()
    try:
        yield
    finally:
        os.chdir(before)
        settings.load.cache_clear()
