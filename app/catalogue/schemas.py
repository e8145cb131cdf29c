"""The catalogue as partners see it (the contract's shapes). Tables and content files map onto these."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.progression.model import Support, Unit, Urgency

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
FaultCode = Code


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Muscle(Schema):
    slug: Slug
    name: str
    group: Slug
    description: str


class Equipment(Schema):
    slug: Slug
    name: str
    description: str


class Source(Schema):
    slug: Slug
    title: str
    authors: list[str]
    journal: str = Field(description="Where it was published: a journal, or the article's publisher.")
    year: int | None = Field(description="Year of publication; null when the source gives none.")
    kind: Literal["article", "cited_reference"] = Field(
        description="`article`: the article the exercises are taken from. `cited_reference`: a paper that "
        "article cites, listed for background; it did not study these exact exercises."
    )
    doi: str | None = None
    note: str | None = None


class Fault(Schema):
    code: FaultCode
    description: str
    correction: str


class ExerciseMuscles(Schema):
    primary: list[Slug] = Field(min_length=1)
    secondary: list[Slug] = []


class ExerciseSummary(Schema):
    slug: Slug
    name: str
    summary: str
    level: int = Field(ge=1, le=6)
    unit: Unit
    per_side: bool
    muscles: ExerciseMuscles
    equipment: list[Slug]
    tags: list[Slug]


class Exercise(ExerciseSummary):
    instructions: list[str] = Field(min_length=3)
    cues: list[str]
    faults: list[Fault]
    safety: list[str]
    sources: list[Source]


class Rules(Schema):
    streak: int = Field(ge=1)
    easy_rpe: int = Field(ge=0, le=10)
    pain_ok: int = Field(ge=0, le=10)
    pain_limit: int = Field(ge=0, le=10)
    pain_stop: int = Field(ge=0, le=10)
    flare_margin: int = Field(ge=0, le=10)
    incomplete_streak: int = Field(ge=1)
    break_days: int = Field(ge=1)
    min_rest_hours: int = Field(ge=0, le=168)


class StepPrescription(Schema):
    step: int = Field(ge=1)
    exercise: Slug
    sets: int = Field(ge=1, le=20)
    start: int = Field(ge=1, le=600)
    target: int = Field(ge=1, le=600)
    increment: int = Field(ge=1, le=600)
    support: Support


class Step(StepPrescription):
    unit: Unit


class ProgressionSummary(Schema):
    slug: Slug
    name: str
    goal: str
    step_count: int
    exercises: list[Slug]


class RoutineBlock(Schema):
    exercise: Slug
    sets: int = Field(ge=1, le=20)
    dose: int = Field(ge=1, le=600)
    unit: Unit
    rest_seconds: int = Field(ge=0, le=600)
    notes: str = ""


class LadderRoutineBlock(RoutineBlock):
    """A block of a ladder's day, given only while the recommended step is within
    `min_step`..`max_step` (either end open when null)."""

    min_step: int | None = Field(default=None, ge=1)
    max_step: int | None = Field(default=None, ge=1)

    def applies_to(self, step: int) -> bool:
        return (self.min_step is None or step >= self.min_step) and (self.max_step is None or step <= self.max_step)


class LadderRoutine(Schema):
    """How a day on the ladder is laid out around the recommended step."""

    warm_up: list[LadderRoutineBlock]
    step_rest_seconds: int = Field(ge=0, le=600)
    step_notes: str = ""
    daily_habit: list[LadderRoutineBlock]


class Progression(Schema):
    slug: Slug
    name: str
    goal: str
    rules: Rules
    steps: list[Step] = Field(min_length=1)
    routine: LadderRoutine | None = None


class Routine(Schema):
    slug: Slug
    name: str
    summary: str
    duration_minutes: int = Field(ge=1)
    blocks: list[RoutineBlock] = Field(min_length=1)


class RedFlag(Schema):
    code: Code
    name: str
    description: str
    urgency: Urgency


class Safety(Schema):
    disclaimer: str = Field(description="General guidance, not a diagnosis or treatment.")
    red_flags: list[RedFlag] = Field(
        description="Symptoms a session may report in `red_flags`: they need a clinician, not a lighter exercise."
    )


class Catalogue(Schema):
    version: str
    safety: Safety
    muscles: list[Muscle]
    equipment: list[Equipment]
    exercises: list[Exercise]
    progressions: list[Progression]
    routines: list[Routine]


class MuscleList(Schema):
    items: list[Muscle]


class EquipmentList(Schema):
    items: list[Equipment]


class ExercisePage(Schema):
    items: list[ExerciseSummary]
    next_cursor: str | None


class ProgressionList(Schema):
    items: list[ProgressionSummary]


class RoutineList(Schema):
    items: list[Routine]
