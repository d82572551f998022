"""Opening a store brings its database to this retune's schema, once, and cheaply after that."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from retune.store import open_store
from retune.store.sql import SqlStore
from retune.store.sql.engine import normalize_url
from retune.store.sql.schema import HEAD, MIGRATIONS, revision
from retune.store.sql.tables import metadata


def test_a_new_database_is_migrated_to_the_newest_revision(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        assert revision(conn) == HEAD


def test_head_names_the_newest_migration_shipped() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_the_migrated_schema_is_the_schema_the_store_uses(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)

    assert differences == []


def test_opening_again_leaves_the_database_as_it_was(database_url: str) -> None:
    with open_store(database_url) as store:
        before = sa.inspect(store.engine).get_table_names()
    with open_store(database_url) as store, store.engine.connect() as conn:
        assert sa.inspect(store.engine).get_table_names() == before
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


OPEN_AND_REPORT = """
import sys
from retune.store import open_store
open_store(sys.argv[1]).close()
print("alembic" in sys.modules)
"""


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_a_new_database_and_one_at_the_newest_revision_open_without_loading_alembic(
    database_url: str,
) -> None:
    first = run_python(OPEN_AND_REPORT, database_url)
    again = run_python(OPEN_AND_REPORT, database_url)

    assert (first.returncode, first.stdout.strip()) == (0, "False"), first.stderr
    assert (again.returncode, again.stdout.strip()) == (0, "False"), again.stderr


def test_a_database_at_an_older_revision_is_upgraded_by_alembic(database_url: str) -> None:
    engine = sa.create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        upgrade(conn, "0002")
        assert "events" in sa.inspect(conn).get_table_names()
    engine.dispose()

    opened = run_python(OPEN_AND_REPORT, database_url)

    assert (opened.returncode, opened.stdout.strip()) == (0, "True"), opened.stderr
    with open_store(database_url) as store, store.engine.connect() as conn:
        assert revision(conn) == HEAD
        assert "events" not in sa.inspect(conn).get_table_names()  # 0003 dropped it


def test_a_new_database_gets_the_schema_the_migrations_build(database_url: str) -> None:
    with open_store(database_url) as store, store.engine.connect() as conn:
        created = schema_of(conn)
    with open_store(database_url) as store, store.engine.begin() as conn:
        found = sa.MetaData()  # the same database emptied, then built by replaying every migration
        found.reflect(conn)
        found.drop_all(conn)
        upgrade(conn, "head")
    with open_store(database_url) as store, store.engine.connect() as conn:
        migrated = schema_of(conn)
        assert revision(conn) == HEAD

    assert created == migrated


def upgrade(connection: sa.Connection, to: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, to)


def schema_of(connection: sa.Connection) -> dict[str, Any]:
    """Every table as the database describes it: columns, keys, indexes, constraints."""
    inspector = sa.inspect(connection)
    described = {}
    for table in sorted(inspector.get_table_names()):
        described[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ),
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return described


def test_a_database_from_a_newer_retune_is_refused_with_advice(database_url: str) -> None:
    with open_store(database_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    opened = run_python(OPEN_AND_REPORT, database_url)

    assert opened.returncode != 0
    assert "StoreError" in opened.stderr
    assert "may be newer than this one: upgrade retune" in opened.stderr


def test_workflows_that_rt_run_stored_before_the_one_registry_move_into_it(database_url: str) -> None:
    from alembic import command

    from retune.model.control import LOCAL

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.exec_driver_sql(
                "INSERT INTO workflows (name, version, spec, content_hash, created_at) "
                "VALUES ('flows.wf', 'abc123', '{\"name\": \"flows.wf\"}', 'h', 1.0)"
            )
    finally:
        engine.dispose()

    with open_store(database_url) as store:  # migrates to the newest revision
        found = store.registered("workflow", LOCAL, LOCAL, "flows.wf", "abc123")
        assert "workflows" not in sa.inspect(store.engine).get_table_names()

    assert (found.spec, found.bundle) == ({"name": "flows.wf"}, None)
