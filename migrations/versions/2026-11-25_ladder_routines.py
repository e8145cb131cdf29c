"""ladder routines

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:34:29.497990
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "progression_routine_block",
        sa.Column("progression_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("part", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("dose", sa.Integer(), nullable=False),
        sa.Column("rest_seconds", sa.Integer(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.CheckConstraint("part IN ('warm_up', 'daily_habit')", name=op.f("ck_progression_routine_block_part_known")),
        sa.ForeignKeyConstraint(
            ["exercise_slug"], ["exercise.slug"], name=op.f("fk_progression_routine_block_exercise_slug_exercise")
        ),
        sa.ForeignKeyConstraint(
            ["progression_slug"],
            ["progression.slug"],
            name=op.f("fk_progression_routine_block_progression_slug_progression"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("progression_slug", "part", "position", name=op.f("pk_progression_routine_block")),
    )
    with op.batch_alter_table("progression_routine_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_progression_routine_block_exercise_slug"), ["exercise_slug"], unique=False)

    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routine_step_rest_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("routine_step_notes", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("progression", schema=None) as batch_op:
        batch_op.drop_column("routine_step_notes")
        batch_op.drop_column("routine_step_rest_seconds")

    with op.batch_alter_table("progression_routine_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progression_routine_block_exercise_slug"))

    op.drop_table("progression_routine_block")
