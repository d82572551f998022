"""The control plane: a registry of tasks, workflows and launch plans per project and domain,
and what workers need to claim launched executions (a lease, an abort flag, an idempotency key).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "registry",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("domain", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("bundle", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_registry_latest", "registry", ["kind", "project", "domain", "name", "created_at"])
    for column in (
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("domain", sa.String(64), nullable=True),
        sa.Column("bundle", sa.String(64), nullable=True),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.Float, nullable=True),
        sa.Column("abort_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
    ):
        op.add_column("executions", column)
    op.create_index("ix_executions_claim", "executions", ["project", "phase"])
    op.create_index("ux_executions_idempotency_key", "executions", ["idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_executions_idempotency_key", "executions")
    op.drop_index("ix_executions_claim", "executions")
    with op.batch_alter_table("executions") as batch:
        for name in (
            "request_hash",
            "idempotency_key",
            "abort_requested",
            "lease_expires_at",
            "worker",
            "parent_id",
            "bundle",
            "domain",
            "project",
        ):
            batch.drop_column(name)
    op.drop_table("registry")
