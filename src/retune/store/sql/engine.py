"""Engines: SQLite by default, PostgreSQL (psycopg 3) when the URL says so.

SQLite runs in WAL mode (readers never block the writer), with ``synchronous=NORMAL`` (a
commit is atomic and survives a crash of the process; only a power cut may lose the last
ones), foreign keys on, and a 30 s busy timeout so concurrent writers wait instead of
failing. Python's ``sqlite3`` begins transactions lazily and never for reads, so retune
takes that job over (SQLAlchemy's documented recipe): reads ``BEGIN``, writes
``BEGIN IMMEDIATE``, which takes the write lock up front, where the busy timeout applies.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from retune.store.sql.statements import dumps

BUSY_TIMEOUT: Final = 30.0
"""Seconds a SQLite connection waits for another process's write lock."""

_PG_CONNECT: Final = {
    "connect_timeout": 2,  # seconds; libpq's least
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}

WRITE: Final = "retune_write"
"""Key in ``Connection.info``: the next transaction on this connection writes."""


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver retune ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        # Bounded waits for a server that is away: a connect gives up after CONNECT_TIMEOUT
        # (the store retries it), and keepalives notice a peer that vanished mid-query.
        connect = {k: v for k, v in _PG_CONNECT.items() if k not in parsed.query}
        return sa.create_engine(parsed, json_serializer=dumps, connect_args=connect)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed, json_serializer=dumps, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False}
    )
    sa.event.listen(engine, "connect", _configure_sqlite)
    sa.event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # retune emits BEGIN itself, see _begin_sqlite
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so), retrying while another connection does the same.

    Processes opening a new database at once all try the switch, which needs the file to
    themselves and answers "database is locked" without waiting for the busy timeout.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_sqlite(connection: sa.Connection) -> None:
    write = connection.info.pop(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
