"""Alembic environment. retune runs it programmatically (``retune.store.sql.schema``), handing
over a connection that is already inside the write transaction the upgrade must happen in."""

from __future__ import annotations

from alembic import context

from retune.store.sql.tables import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "retune's migrations run through retune.store.open_store(), which passes a connection; "
            "the alembic command line is not supported."
        )
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
