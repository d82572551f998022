"""Drop the tables nothing reads: ``tasks`` and ``launch_plans`` (``rt.run`` registers only
workflows there; registered tasks and launch plans live in ``registry``, revision 0002) and the
``events`` log, written by every batch and read by no command, API or worker.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index("ix_events_execution_id", table_name="events")
    for name in ("events", "launch_plans", "tasks"):
        op.drop_table(name)


def downgrade() -> None:
    for name in ("tasks", "launch_plans"):
        op.create_table(
            name,
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("version", sa.String(255), primary_key=True),
            sa.Column("spec", JSON, nullable=False),
            sa.Column("content_hash", sa.String(64), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
    op.create_table(  # empty: what it logged before the upgrade is gone
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
