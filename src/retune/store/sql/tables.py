"""The tables, as SQLAlchemy Core metadata. ``migrations/`` creates them; these describe them.

JSON columns hold small values inline (specs, inputs, outputs, configs); Python ``None`` is
SQL ``NULL`` in them, so ``COALESCE(:new, old)`` keeps the outputs a change leaves out. Times
are seconds since the epoch as floats, like the records in ``retune.model``.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

metadata: Final = sa.MetaData()

JSON: Final = sa.JSON(none_as_null=True)


executions: Final = sa.Table(
    "executions",
    metadata,
    # ``seq`` orders executions created within one clock tick; ``id`` is the public name.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("workflow", sa.String(255), nullable=False),
    sa.Column("workflow_version", sa.String(255), nullable=False),
    sa.Column("launch_plan", sa.String(255), nullable=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("inputs", JSON, nullable=False),
    sa.Column("outputs", JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("overrides", JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    # Launched executions (revision 0002): run by workers, which claim them by lease.
    sa.Column("project", sa.String(64), nullable=True),
    sa.Column("domain", sa.String(64), nullable=True),
    sa.Column("bundle", sa.String(64), nullable=True),
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", sa.Float, nullable=True),
    sa.Column("abort_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Index("ix_executions_created_at", "created_at"),
    sa.Index("ix_executions_claim", "project", "phase"),
    sa.Index("ix_executions_launched", "project", "created_at", "id"),  # list_launched's order (0007)
    sa.Index("ux_executions_idempotency_key", "idempotency_key", unique=True),
)

node_executions: Final = sa.Table(
    "node_executions",
    metadata,
    sa.Column(
        "execution_id",
        sa.String(64),
        sa.ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("path", sa.String(512), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("hook", sa.String(64), nullable=True),
    sa.Column("task", sa.String(255), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("cache", sa.String(16), nullable=False),
    sa.Column("config", JSON, nullable=False),
    sa.Column("provenance", JSON, nullable=False),
    sa.Column("outputs", JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    # Revision 0005: why the node missed the cache.
    sa.Column("cache_reason", sa.Text, nullable=True),
    # Revision 0006: a map node's number of items, once it started.
    sa.Column("items", sa.Integer, nullable=True),
)

attempts: Final = sa.Table(
    "attempts",
    metadata,
    sa.Column("execution_id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(512), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("capacity", sa.String(32), nullable=False),
    sa.Column("executor", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("logs", JSON, nullable=False),
    # Revision 0006: a map item's attempt: its index, and its outputs once it succeeded (read
    # back only on resume, never with the record).
    sa.Column("item", sa.Integer, nullable=True),
    sa.Column("outputs", JSON, nullable=True),
    sa.ForeignKeyConstraint(
        ["execution_id", "path"],
        ["node_executions.execution_id", "node_executions.path"],
        ondelete="CASCADE",
    ),
)

ATTEMPT_ROW: Final = tuple(column.name for column in attempts.c)
"""The order of an attempt row's values: ``Batch`` builds them as tuples and ``upsert_attempts_sql``
takes its parameters by position (SQLite binds them ~30% faster than by name: 500 rows, 4.3 -> 3.0 ms)."""

UNREAD: Final = {"attempts": ("outputs",)}
"""Columns a record leaves out: map items' outputs are read only on resume (``item_outputs``)."""

cache_entries: Final = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("outputs", JSON, nullable=False),
    sa.Column("execution_id", sa.String(64), nullable=False),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # Revision 0005: the task and the key's parts, so that a miss can say what changed.
    sa.Column("task", sa.String(255), nullable=True),
    sa.Column("parts", JSON, nullable=True),
    sa.Index("ix_cache_entries_task", "task", "created_at"),
)

cache_reservations: Final = sa.Table(
    "cache_reservations",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

registry: Final = sa.Table(
    "registry",
    metadata,
    # Registered content (revision 0002): tasks, workflows and launch plans of a project and
    # domain, immutable per version; ``bundle`` is the digest of the code workers import.
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("project", sa.String(64), primary_key=True),
    sa.Column("domain", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.String(255), primary_key=True),
    sa.Column("spec", JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("bundle", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_registry_latest", "kind", "project", "domain", "name", "created_at"),
)
