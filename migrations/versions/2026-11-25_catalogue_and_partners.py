"""catalogue and partners

Revision ID: 0001
Revises:
Create Date: 2026-11-25 01:39:11.260647
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_state")),
    )
    op.create_table(
        "equipment",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_equipment")),
    )
    op.create_table(
        "exercise",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("per_side", sa.Boolean(), nullable=False),
        sa.Column("instructions", sa.JSON(), nullable=False),
        sa.Column("cues", sa.JSON(), nullable=False),
        sa.Column("safety", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.CheckConstraint("unit IN ('seconds', 'reps')", name=op.f("ck_exercise_unit_known")),
        sa.CheckConstraint("level BETWEEN 1 AND 6", name=op.f("ck_exercise_level_range")),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_exercise")),
    )
    op.create_table(
        "muscle",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("muscle_group", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_muscle")),
    )
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_name")),
    )
    op.create_table(
        "progression",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("goal", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("easy_rpe", sa.Integer(), nullable=False),
        sa.Column("pain_ok", sa.Integer(), nullable=False),
        sa.Column("pain_limit", sa.Integer(), nullable=False),
        sa.Column("pain_stop", sa.Integer(), nullable=False),
        sa.Column("flare_margin", sa.Integer(), nullable=False),
        sa.Column("incomplete_streak", sa.Integer(), nullable=False),
        sa.Column("break_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_progression")),
    )
    op.create_table(
        "routine",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_routine")),
    )
    op.create_table(
        "source",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("journal", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_source")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_api_key_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_key_prefix"), ["prefix"], unique=False)

    op.create_table(
        "exercise_equipment",
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("equipment_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_slug"], ["equipment.slug"], name=op.f("fk_exercise_equipment_equipment_slug_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["exercise_slug"],
            ["exercise.slug"],
            name=op.f("fk_exercise_equipment_exercise_slug_exercise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exercise_slug", "equipment_slug", name=op.f("pk_exercise_equipment")),
    )
    with op.batch_alter_table("exercise_equipment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exercise_equipment_equipment_slug"), ["equipment_slug"], unique=False)

    op.create_table(
        "exercise_fault",
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("correction", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exercise_slug"],
            ["exercise.slug"],
            name=op.f("fk_exercise_fault_exercise_slug_exercise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exercise_slug", "code", name=op.f("pk_exercise_fault")),
    )
    op.create_table(
        "exercise_muscle",
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("muscle_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("role IN ('primary', 'secondary')", name=op.f("ck_exercise_muscle_role_known")),
        sa.ForeignKeyConstraint(
            ["exercise_slug"],
            ["exercise.slug"],
            name=op.f("fk_exercise_muscle_exercise_slug_exercise"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["muscle_slug"], ["muscle.slug"], name=op.f("fk_exercise_muscle_muscle_slug_muscle")),
        sa.PrimaryKeyConstraint("exercise_slug", "muscle_slug", name=op.f("pk_exercise_muscle")),
    )
    with op.batch_alter_table("exercise_muscle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exercise_muscle_muscle_slug"), ["muscle_slug"], unique=False)

    op.create_table(
        "exercise_source",
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exercise_slug"],
            ["exercise.slug"],
            name=op.f("fk_exercise_source_exercise_slug_exercise"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["source_slug"], ["source.slug"], name=op.f("fk_exercise_source_source_slug_source")),
        sa.PrimaryKeyConstraint("exercise_slug", "source_slug", name=op.f("pk_exercise_source")),
    )
    with op.batch_alter_table("exercise_source", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exercise_source_source_slug"), ["source_slug"], unique=False)

    op.create_table(
        "progression_step",
        sa.Column("progression_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("increment", sa.Integer(), nullable=False),
        sa.Column("support", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.CheckConstraint(
            "support IN ('none', 'optional', 'required')", name=op.f("ck_progression_step_support_known")
        ),
        sa.CheckConstraint("start <= target AND increment > 0", name=op.f("ck_progression_step_dose_range")),
        sa.ForeignKeyConstraint(
            ["exercise_slug"], ["exercise.slug"], name=op.f("fk_progression_step_exercise_slug_exercise")
        ),
        sa.ForeignKeyConstraint(
            ["progression_slug"],
            ["progression.slug"],
            name=op.f("fk_progression_step_progression_slug_progression"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("progression_slug", "step", name=op.f("pk_progression_step")),
    )
    with op.batch_alter_table("progression_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_progression_step_exercise_slug"), ["exercise_slug"], unique=False)

    op.create_table(
        "routine_block",
        sa.Column("routine_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exercise_slug", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("dose", sa.Integer(), nullable=False),
        sa.Column("rest_seconds", sa.Integer(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exercise_slug"], ["exercise.slug"], name=op.f("fk_routine_block_exercise_slug_exercise")
        ),
        sa.ForeignKeyConstraint(
            ["routine_slug"], ["routine.slug"], name=op.f("fk_routine_block_routine_slug_routine"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("routine_slug", "position", name=op.f("pk_routine_block")),
    )
    with op.batch_alter_table("routine_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routine_block_exercise_slug"), ["exercise_slug"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("routine_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routine_block_exercise_slug"))

    op.drop_table("routine_block")
    with op.batch_alter_table("progression_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progression_step_exercise_slug"))

    op.drop_table("progression_step")
    with op.batch_alter_table("exercise_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exercise_source_source_slug"))

    op.drop_table("exercise_source")
    with op.batch_alter_table("exercise_muscle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exercise_muscle_muscle_slug"))

    op.drop_table("exercise_muscle")
    op.drop_table("exercise_fault")
    with op.batch_alter_table("exercise_equipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exercise_equipment_equipment_slug"))

    op.drop_table("exercise_equipment")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_prefix"))
        batch_op.drop_index(batch_op.f("ix_api_key_partner_id"))

    op.drop_table("api_key")
    op.drop_table("source")
    op.drop_table("routine")
    op.drop_table("progression")
    op.drop_table("partner")
    op.drop_table("muscle")
    op.drop_table("exercise")
    op.drop_table("equipment")
    op.drop_table("catalogue_state")
