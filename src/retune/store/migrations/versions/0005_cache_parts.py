"""The cache key's parts: each cache entry keeps its task and the parts of its key, and each
node why it missed the cache (docs/decisions/0018-cache-key.md). Entries written before this
revision have neither: a miss after them reads "first run of this task".

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable): no table is copied, on SQLite either.
    op.add_column("cache_entries", sa.Column("task", sa.String(255), nullable=True))
    op.add_column("cache_entries", sa.Column("parts", JSON, nullable=True))
    op.create_index("ix_cache_entries_task", "cache_entries", ["task", "created_at"])
    op.add_column("node_executions", sa.Column("cache_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.drop_column("cache_reason")
    op.drop_index("ix_cache_entries_task", "cache_entries")
    with op.batch_alter_table("cache_entries") as batch:
        batch.drop_column("parts")
        batch.drop_column("task")
