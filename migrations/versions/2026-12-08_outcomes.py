"""outcome scores (ODI, RMDQ, PSFS, NPRS): the score only

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:30:00

A new table; downgrading drops it, with every score recorded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outcome",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("instrument", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_outcome_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outcome")),
        sa.UniqueConstraint("id", name=op.f("uq_outcome_id")),
    )
    op.create_index("ix_outcome_user_time", "outcome", ["partner_id", "user_id", "recorded_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_outcome_user_time", table_name="outcome")
    op.drop_table("outcome")
