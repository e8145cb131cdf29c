"""partners' own exercises and ladders

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _documents(name: str) -> None:
    op.create_table(
        name,
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("partner_id", "slug"),
    )


def upgrade() -> None:
    # Each partner's own exercises and ladders, as the documents it wrote.
    _documents("partner_exercise")
    _documents("partner_progression")
    # A counter per partner, bumped by every change: replicas poll it to rebuild that partner's view.
    op.create_table(
        "partner_content_revision",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    # A session may name the ladder it belongs to (NULL: every visible ladder with its exercise).
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progression", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_column("progression")
    op.drop_table("partner_content_revision")
    op.drop_table("partner_progression")
    op.drop_table("partner_exercise")
