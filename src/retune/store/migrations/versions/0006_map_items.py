"""Map items: every item of a map node is an attempt of its own (docs/decisions/0022-map-items.md).
An attempt row says which item it ran (``item``) and keeps the item's outputs once it succeeded
(``outputs``), so a resumed execution runs only the items not done; a node row keeps its number
of items (``items``). Rows written before this revision have none: their map nodes ran as one
attempt, whose record stays as it was.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable): no table is copied, on SQLite either.
    op.add_column("attempts", sa.Column("item", sa.Integer, nullable=True))
    op.add_column("attempts", sa.Column("outputs", JSON, nullable=True))
    op.add_column("node_executions", sa.Column("items", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.drop_column("items")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("outputs")
        batch.drop_column("item")
