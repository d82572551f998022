"""Opening a store brings its database to this retune's schema, once, and cheaply after that."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from retune.store import open_store
from retune.store.sql import SqlStore
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


def test_a_database_at_the_newest_revision_opens_without_loading_alembic(database_url: str) -> None:
    first = run_python(OPEN_AND_REPORT, database_url)
    again = run_python(OPEN_AND_REPORT, database_url)

    assert (first.returncode, first.stdout.strip()) == (0, "True"), first.stderr
    assert (again.returncode, again.stdout.strip()) == (0, "False"), again.stderr


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
