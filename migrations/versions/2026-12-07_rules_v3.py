"""rules v3: clearances, leg symptoms, the indexes the v3 reads use, fault_streak, a third urgency

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:00:00

Existing sessions get no leg symptoms and their peak pain computed from their four scores; an
existing ladder gets the default `fault_streak` of 3. On downgrade, clearances are dropped and
a red flag of urgency `urgent` becomes `emergency` (the older schema's "care today").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RED_FLAGGED = sa.text("json_array_length(red_flags) > 0")


def upgrade() -> None:
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leg_symptoms_before", sqlmodel.sql.sqltypes.AutoString(length=16)))
        batch_op.add_column(sa.Column("leg_symptoms_after", sqlmodel.sql.sqltypes.AutoString(length=16)))
        batch_op.add_column(sa.Column("pain_peak", sa.Integer(), nullable=True))
    highest = "greatest" if op.get_bind().dialect.name == "postgresql" else "max"
    op.execute(
        f"update session_log set pain_peak = {highest}(coalesce(pain_before, 0), pain_during,"
        " coalesce(pain_after, 0), coalesce(pain_next_morning, 0))"
    )
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.alter_column("pain_peak", existing_type=sa.Integer(), nullable=False)
    op.create_index(
        "ix_session_log_user_pain_time",
        "session_log",
        ["partner_id", "user_id", "pain_peak", "performed_at", "seq"],
    )
    op.create_index(
        "ix_session_log_user_red_flagged",
        "session_log",
        ["partner_id", "user_id", "performed_at", "seq"],
        postgresql_where=RED_FLAGGED,
        sqlite_where=RED_FLAGGED,
    )
    op.create_index(
        "ix_session_log_user_red_flagged_received",
        "session_log",
        ["partner_id", "user_id", "received_at"],
        postgresql_where=RED_FLAGGED,
        sqlite_where=RED_FLAGGED,
    )
    op.create_table(
        "clearance",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_clearance_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_clearance")),
        sa.UniqueConstraint("id", name=op.f("uq_clearance_id")),
    )
    op.create_index("ix_clearance_user_time", "clearance", ["partner_id", "user_id", "cleared_at", "seq"])
    op.create_index("ix_clearance_user_received", "clearance", ["partner_id", "user_id", "received_at", "cleared_at"])
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fault_streak", sa.Integer(), nullable=False, server_default="3"))
    with op.batch_alter_table("red_flag", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_red_flag_urgency_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_red_flag_urgency_known"), "urgency IN ('emergency', 'urgent', 'see_clinician')"
        )


def downgrade() -> None:
    op.execute("update red_flag set urgency = 'emergency' where urgency = 'urgent'")
    with op.batch_alter_table("red_flag", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_red_flag_urgency_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_red_flag_urgency_known"), "urgency IN ('emergency', 'see_clinician')")
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.drop_column("fault_streak")
    op.drop_index("ix_clearance_user_received", table_name="clearance")
    op.drop_index("ix_clearance_user_time", table_name="clearance")
    op.drop_table("clearance")
    op.drop_index("ix_session_log_user_red_flagged_received", table_name="session_log")
    op.drop_index("ix_session_log_user_red_flagged", table_name="session_log")
    op.drop_index("ix_session_log_user_pain_time", table_name="session_log")
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_column("pain_peak")
        batch_op.drop_column("leg_symptoms_after")
        batch_op.drop_column("leg_symptoms_before")
