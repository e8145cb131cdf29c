"""rules v2: rest between sessions, red flags, safety content, sources' kinds, staged habits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 06:30:00

Existing sessions get no red flags; an existing ladder gets the built-in rest of 20 hours and
existing sources count as cited references, until the next catalogue sync rewrites them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclaimer", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety")),
    )
    op.create_table(
        "red_flag",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.CheckConstraint("urgency IN ('emergency', 'see_clinician')", name=op.f("ck_red_flag_urgency_known")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_red_flag")),
    )
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_rest_hours", sa.Integer(), nullable=False, server_default="20"))
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.alter_column("min_rest_hours", server_default=None)
    with op.batch_alter_table("progression_routine_block", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default="cited_reference"
            )
        )
        batch_op.add_column(sa.Column("doi", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.alter_column("year", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)
        batch_op.create_check_constraint(op.f("ck_source_kind_known"), "kind IN ('article', 'cited_reference')")
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("red_flags", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.alter_column("red_flags", server_default=None, existing_type=sa.JSON(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_column("red_flags")
    # Sources without a year (the article) cannot exist in the older schema.
    op.execute("delete from exercise_source where source_slug in (select slug from source where year is null)")
    op.execute("delete from source where year is null")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_source_kind_known"), type_="check")
        batch_op.alter_column("year", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("note")
        batch_op.drop_column("doi")
        batch_op.drop_column("kind")
    with op.batch_alter_table("progression_routine_block", schema=None) as batch_op:
        batch_op.drop_column("max_step")
        batch_op.drop_column("min_step")
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.drop_column("min_rest_hours")
    op.drop_table("red_flag")
    op.drop_table("safety")
