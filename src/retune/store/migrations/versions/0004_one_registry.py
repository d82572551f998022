"""One registry: ``rt.run`` registers what it runs in ``registry`` under the project and domain
``_local`` (no registered name can take it), so the ``workflows`` table goes. Its rows move
there first, so that an execution run before this revision still finds its spec on resume
(with no code bundle: its tasks import from the resuming process's environment).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LOCAL = "_local"
JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO registry (kind, project, domain, name, version, spec, content_hash, bundle, created_at) "
            "SELECT 'workflow', :local, :local, name, version, spec, content_hash, NULL, created_at "
            "FROM workflows"
        ).bindparams(local=LOCAL)
    )
    op.drop_table("workflows")


def downgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO workflows (name, version, spec, content_hash, created_at) "
            "SELECT name, version, spec, content_hash, created_at FROM registry "
            "WHERE kind = 'workflow' AND project = :local AND domain = :local"
        ).bindparams(local=LOCAL)
    )
    op.execute(sa.text("DELETE FROM registry WHERE project = :local").bindparams(local=LOCAL))
