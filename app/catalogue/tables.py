"""Catalogue tables. Written only by the sync; read once per sync into memory.

Natural keys (slugs) are the primary keys, so the sync can match files to rows directly.
Ordered text lists (instructions, cues, safety notes, tags) are JSON columns; everything other
rows point at (muscles, equipment, sources, faults, steps, blocks) is a row of its own.
"""

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Text
from sqlmodel import Field, SQLModel

from app.progression.thresholds import THRESHOLD


class MuscleRow(SQLModel, table=True):
    __tablename__ = "muscle"

    slug: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    muscle_group: str = Field(max_length=64)
    description: str


class EquipmentRow(SQLModel, table=True):
    __tablename__ = "equipment"

    slug: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    description: str


class SourceRow(SQLModel, table=True):
    __tablename__ = "source"
    __table_args__ = (CheckConstraint("kind IN ('article', 'cited_reference')", name="kind_known"),)

    slug: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=500)
    authors: list[str] = Field(sa_column=Column(JSON, nullable=False))
    journal: str = Field(max_length=200)
    year: int | None = None
    kind: str = Field(max_length=32)
    doi: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ExerciseRow(SQLModel, table=True):
    __tablename__ = "exercise"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 6", name="level_range"),
        CheckConstraint("unit IN ('seconds', 'reps')", name="unit_known"),
    )

    slug: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    summary: str
    level: int
    unit: str = Field(max_length=16)
    per_side: bool
    instructions: list[str] = Field(sa_column=Column(JSON, nullable=False))
    cues: list[str] = Field(sa_column=Column(JSON, nullable=False))
    safety: list[str] = Field(sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))


class ExerciseFaultRow(SQLModel, table=True):
    __tablename__ = "exercise_fault"

    exercise_slug: str = Field(foreign_key="exercise.slug", primary_key=True, ondelete="CASCADE")
    code: str = Field(primary_key=True, max_length=64)
    position: int
    description: str
    correction: str


class ExerciseMuscleRow(SQLModel, table=True):
    __tablename__ = "exercise_muscle"
    __table_args__ = (CheckConstraint("role IN ('primary', 'secondary')", name="role_known"),)

    exercise_slug: str = Field(foreign_key="exercise.slug", primary_key=True, ondelete="CASCADE")
    muscle_slug: str = Field(foreign_key="muscle.slug", primary_key=True, index=True)
    role: str = Field(max_length=16)
    position: int


class ExerciseEquipmentRow(SQLModel, table=True):
    __tablename__ = "exercise_equipment"

    exercise_slug: str = Field(foreign_key="exercise.slug", primary_key=True, ondelete="CASCADE")
    equipment_slug: str = Field(foreign_key="equipment.slug", primary_key=True, index=True)
    position: int


class ExerciseSourceRow(SQLModel, table=True):
    __tablename__ = "exercise_source"

    exercise_slug: str = Field(foreign_key="exercise.slug", primary_key=True, ondelete="CASCADE")
    source_slug: str = Field(foreign_key="source.slug", primary_key=True, index=True)
    position: int


# A ladder stored before `fault_streak` existed reads its default (`app.progression.thresholds`).
_FAULT_STREAK = THRESHOLD["fault_streak"].default


class ProgressionRow(SQLModel, table=True):
    __tablename__ = "progression"

    slug: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    goal: str
    streak: int
    easy_rpe: int
    pain_ok: int
    pain_limit: int
    pain_stop: int
    flare_margin: int
    incomplete_streak: int
    fault_streak: int = Field(default=_FAULT_STREAK, sa_column_kwargs={"server_default": str(_FAULT_STREAK)})
    break_days: int
    min_rest_hours: int
    routine_step_rest_seconds: int | None = None
    routine_step_notes: str | None = None


class ProgressionStepRow(SQLModel, table=True):
    __tablename__ = "progression_step"
    __table_args__ = (
        CheckConstraint("support IN ('none', 'optional', 'required')", name="support_known"),
        CheckConstraint("start <= target AND increment > 0", name="dose_range"),
    )

    progression_slug: str = Field(foreign_key="progression.slug", primary_key=True, ondelete="CASCADE")
    step: int = Field(primary_key=True)
    exercise_slug: str = Field(foreign_key="exercise.slug", index=True)
    sets: int
    start: int
    target: int
    increment: int
    support: str = Field(max_length=16)


class ProgressionRoutineBlockRow(SQLModel, table=True):
    """The warm-up and daily-habit blocks of a ladder's day (see `LadderRoutine`)."""

    __tablename__ = "progression_routine_block"
    __table_args__ = (CheckConstraint("part IN ('warm_up', 'daily_habit')", name="part_known"),)

    progression_slug: str = Field(foreign_key="progression.slug", primary_key=True, ondelete="CASCADE")
    part: str = Field(primary_key=True, max_length=16)
    position: int = Field(primary_key=True)
    exercise_slug: str = Field(foreign_key="exercise.slug", index=True)
    sets: int
    dose: int
    rest_seconds: int
    notes: str
    min_step: int | None = None
    max_step: int | None = None


class RoutineRow(SQLModel, table=True):
    __tablename__ = "routine"

    slug: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    summary: str
    duration_minutes: int


class RoutineBlockRow(SQLModel, table=True):
    __tablename__ = "routine_block"

    routine_slug: str = Field(foreign_key="routine.slug", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    exercise_slug: str = Field(foreign_key="exercise.slug", index=True)
    sets: int
    dose: int
    rest_seconds: int
    notes: str


class SafetyRow(SQLModel, table=True):
    """One row: the disclaimer shown with the safety list."""

    __tablename__ = "safety"

    id: int = Field(default=1, primary_key=True)
    disclaimer: str = Field(sa_column=Column(Text, nullable=False))


class RedFlagRow(SQLModel, table=True):
    """Symptoms a session may report; each needs a clinician rather than a lighter exercise."""

    __tablename__ = "red_flag"
    __table_args__ = (CheckConstraint("urgency IN ('emergency', 'urgent', 'see_clinician')", name="urgency_known"),)

    code: str = Field(primary_key=True, max_length=64)
    position: int
    name: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    urgency: str = Field(max_length=16)


class CatalogueStateRow(SQLModel, table=True):
    """One row: the version (content hash) of the catalogue last synced."""

    __tablename__ = "catalogue_state"

    id: int = Field(default=1, primary_key=True)
    version: str = Field(max_length=64)
    synced_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# Parents before children: the sync writes in this order and deletes in reverse.
SYNC_ORDER: tuple[type[SQLModel], ...] = (
    SafetyRow,
    RedFlagRow,
    MuscleRow,
    EquipmentRow,
    SourceRow,
    ExerciseRow,
    ExerciseFaultRow,
    ExerciseMuscleRow,
    ExerciseEquipmentRow,
    ExerciseSourceRow,
    ProgressionRow,
    ProgressionStepRow,
    ProgressionRoutineBlockRow,
    RoutineRow,
    RoutineBlockRow,
)
