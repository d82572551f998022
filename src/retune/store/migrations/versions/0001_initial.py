"""The initial schema: registered specs, executions and their nodes and attempts, the cache, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _registered(name: str) -> None:
    op.create_table(
        name,
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def upgrade() -> None:
    for name in ("workflows", "tasks", "launch_plans"):
        _registered(name)
    op.create_table(
        "executions",
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
    )
    op.create_index("ix_executions_created_at", "executions", ["created_at"])
    op.create_table(
        "node_executions",
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
    )
    op.create_table(
        "attempts",
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
        sa.ForeignKeyConstraint(
            ["execution_id", "path"],
            ["node_executions.execution_id", "node_executions.path"],
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("outputs", JSON, nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "cache_reservations",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=True),
        sa.Column("path", sa.String(512), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("detail", JSON, nullable=True),
    )
    op.create_index("ix_events_execution_id", "events", ["execution_id"])


def downgrade() -> None:
    for name in (
        "events",
        "cache_reservations",
        "cache_entries",
        "attempts",
        "node_executions",
        "executions",
        "launch_plans",
        "tasks",
        "workflows",
    ):
        op.drop_table(name)
