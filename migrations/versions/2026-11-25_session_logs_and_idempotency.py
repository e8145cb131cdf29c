"""session logs and idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 01:57:07.280927
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_idempotency_record_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("partner_id", "key", name=op.f("pk_idempotency_record")),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_record_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "session_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("client_session_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("exercise", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("performed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_dose", sa.Integer(), nullable=False),
        sa.Column("set_doses", sa.JSON(), nullable=False),
        sa.Column("rpe", sa.Integer(), nullable=True),
        sa.Column("pain_before", sa.Integer(), nullable=True),
        sa.Column("pain_during", sa.Integer(), nullable=False),
        sa.Column("pain_after", sa.Integer(), nullable=True),
        sa.Column("pain_next_morning", sa.Integer(), nullable=True),
        sa.Column("support_used", sa.Boolean(), nullable=False),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_session_log_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_session_log")),
        sa.UniqueConstraint("id", name=op.f("uq_session_log_id")),
        sa.UniqueConstraint("partner_id", "user_id", "client_session_id", name="uq_session_log_client_session"),
    )
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_log_user_exercise_time",
            ["partner_id", "user_id", "exercise", "performed_at", "seq"],
            unique=False,
        )
        batch_op.create_index(
            "ix_session_log_user_time", ["partner_id", "user_id", "performed_at", "seq"], unique=False
        )

    op.create_table(
        "idempotency_user",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id", "key"],
            ["idempotency_record.partner_id", "idempotency_record.key"],
            name="fk_idempotency_user_record",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", "key", "user_id", name=op.f("pk_idempotency_user")),
    )
    with op.batch_alter_table("idempotency_user", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_user_user", ["partner_id", "user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_user", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_user_user")

    op.drop_table("idempotency_user")
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_index("ix_session_log_user_time")
        batch_op.drop_index("ix_session_log_user_exercise_time")

    op.drop_table("session_log")
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_record_expires_at"))

    op.drop_table("idempotency_record")
