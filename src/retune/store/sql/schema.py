"""Bring a database to the schema this retune knows: Alembic's ``upgrade head``, on open.

Opening is the hot path of every ``retune`` command, so the check costs one small query
(Alembic is not even imported when the database is at head), and once per URL per process.
A new database (no ``alembic_version`` yet) gets the schema of ``tables.metadata`` in one
``create_all`` and is stamped ``HEAD``, as Alembic would stamp it, so later migrations apply
to it: the first ``retune run`` in a new RETUNE_HOME skips Alembic's import and its replay of
every migration (~80 ms). ``tests/unit/store/test_sql_schema.py`` checks that both roads lead
to the same schema. A database at an older revision is upgraded by Alembic.
Several processes opening a fresh database at once are serialised by the database itself:
the upgrade runs inside one write transaction (SQLite's write lock, ``BEGIN IMMEDIATE``;
a transaction-scoped advisory lock on PostgreSQL, whose DDL is transactional too), and
re-reads the revision after taking the lock, so only the first one migrates.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

import sqlalchemy as sa

from retune.store.base import StoreError
from retune.store.sql.engine import WRITE
from retune.store.sql.tables import metadata

HEAD: Final = "0007"
"""The newest revision in ``retune/store/migrations/versions`` (a test keeps them equal)."""

MIGRATIONS: Final = Path(__file__).resolve().parent.parent / "migrations"

_LOCK_CLASS: Final = 0x72657475  # "retu": the first key of the advisory lock, the schema the second

_at_head: set[str] = set()
_at_head_lock = threading.Lock()


def ensure_schema(connection: sa.Connection) -> None:
    """Upgrade the database behind ``connection`` to ``HEAD`` unless it is there already."""
    key = connection.engine.url.render_as_string(hide_password=False)
    # A SQLite file may be removed and made again under the same URL (RETUNE_HOME cleared
    # between two runs of one process): its revision is one local query, asked every time.
    if key in _at_head and connection.dialect.name != "sqlite":
        return
    with connection.begin():
        current = revision(connection)
    if current != HEAD:
        _upgrade(connection)
    with _at_head_lock:
        _at_head.add(key)


def revision(connection: sa.Connection) -> str | None:
    """The database's Alembic revision, None for an empty database."""
    if connection.dialect.name == "sqlite":
        found = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
    else:
        # A plain catalog query, not to_regclass(): right after waiting for the advisory lock, the
        # latter may answer from a catalog cache that has not yet seen the other process's commit.
        found = connection.exec_driver_sql(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'alembic_version'"
        ).first()
    if not found:
        return None
    value = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if value is None else str(value)


def _upgrade(connection: sa.Connection) -> None:
    connection.info[WRITE] = True
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:cls, hashtext(current_schema()))"),
                {"cls": _LOCK_CLASS},
            )
        current = revision(connection)
        if current == HEAD:
            return  # another process migrated while this one waited for the lock
        if current is None:
            create(connection)
        else:
            migrate(connection)


def migrate(connection: sa.Connection) -> None:
    """Alembic's ``upgrade head``, inside the caller's transaction."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(
            f"Cannot upgrade the database {connection.engine.url!r} to revision {HEAD}: {exc}. "
            "If another retune created it, it may be newer than this one: upgrade retune."
        ) from exc


def create(connection: sa.Connection) -> None:
    """Create the newest schema in an empty database and stamp it ``HEAD``, inside the caller's
    transaction. A table of the same name already there is an error, as in the first migration."""
    metadata.create_all(connection, checkfirst=False)
    version = _alembic_version()
    version.create(connection, checkfirst=False)
    connection.execute(version.insert().values(version_num=HEAD))


def _alembic_version() -> sa.Table:
    """Alembic's own table, as ``alembic.runtime.migration`` defines it (so Alembic reads it back)."""
    return sa.Table(
        "alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
