"""The catalogue as partners see it (the contract's shapes). Tables and content files map onto these."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.progression.model import Support, Unit, Urgency
from app.progression.thresholds import THRESHOLD

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
FaultCode = Code


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Muscle(Schema):
    slug: Slug = Field(description="The muscle's slug, as exercises list it in `muscles`.")
    name: str = Field(description="The muscle's name.")
    group: Slug = Field(description="The slug of the group it belongs to, e.g. `quadriceps`.")
    description: str = Field(description="Where the muscle is and what it does, in plain English.")


class Equipment(Schema):
    slug: Slug = Field(description="The equipment's slug, as exercises list it in `equipment`.")
    name: str = Field(description="The equipment's name.")
    description: str = Field(description="What it is, in plain English.")


class Source(Schema):
    slug: Slug = Field(description="The source's slug.")
    title: str = Field(description="The title of the article or paper.")
    authors: list[str] = Field(description="The authors' names, in the order the source gives them.")
    journal: str = Field(description="Where it was published: a journal, or the article's publisher.")
    year: int | None = Field(description="Year of publication; null when the source gives none.")
    kind: Literal["article", "cited_reference"] = Field(
        description="`article`: the article the exercises are taken from. `cited_reference`: a paper that "
        "article cites, listed for background; it did not study these exact exercises."
    )
    doi: str | None = Field(
        default=None, description="The DOI (e.g. `10.1123/jpah.2012-0426`); null when there is none."
    )
    note: str | None = Field(
        default=None, description="How the source relates to the exercises; null when there is none."
    )


class Fault(Schema):
    code: FaultCode = Field(description="The fault's code, as a session logs it in `faults`.")
    description: str = Field(description="What the fault looks like.")
    correction: str = Field(description="How to correct it.")


class ExerciseMuscles(Schema):
    primary: list[Slug] = Field(
        min_length=1, description="Slugs of the muscles the exercise mainly works (at least one)."
    )
    secondary: list[Slug] = Field(default=[], description="Slugs of the muscles that help.")


Owner = Literal["stepwise", "partner"]
_OWNER = "Whose it is: `stepwise` (the built-in catalogue) or `partner` (the calling partner's own, private to it)."


class ExerciseSummary(Schema):
    slug: Slug = Field(description="The exercise's slug, as a session logs it in `exercise`.")
    owner: Owner = Field(default="stepwise", description=_OWNER)
    name: str = Field(description="The exercise's name.")
    summary: str = Field(description="What the exercise is, in one sentence.")
    level: int = Field(ge=1, le=6, description="Difficulty, from 1 (easiest) to 6.")
    unit: Unit = Field(description="How its dose is counted: `reps`, or `seconds` (one hold per set).")
    per_side: bool = Field(description="Whether it is done on each side in turn, the dose counting each side.")
    muscles: ExerciseMuscles = Field(description="The muscles it works.")
    equipment: list[Slug] = Field(description="Slugs of the equipment it needs (`none` when it needs nothing).")
    tags: list[Slug] = Field(description="Slugs to filter by, e.g. `lunge-ladder` or `warm-up`.")


class Exercise(ExerciseSummary):
    instructions: list[str] = Field(min_length=3, description="How to do it, step by step (at least 3 steps).")
    cues: list[str] = Field(description="Short reminders for good form.")
    faults: list[Fault] = Field(description="Technique faults to watch for, each with its correction.")
    safety: list[str] = Field(description="Safety notes: when to stop, and when to get medical help.")
    sources: list[Source] = Field(description="Where the exercise comes from, and background reading.")


def _served(name: str) -> Any:
    """The field of a threshold as the catalogue serves it (`app.progression.thresholds`)."""
    threshold = THRESHOLD[name]
    high = None if threshold.open_ended else threshold.high
    if threshold.default is None:
        return Field(ge=threshold.low, le=high, description=threshold.meaning)
    return Field(default=threshold.default, ge=threshold.low, le=high, description=threshold.meaning)


# A ladder's thresholds, each declared once in `app.progression.thresholds` (no docstring: it
# would become the schema's description).
class Rules(Schema):
    streak: int = _served("streak")
    easy_rpe: int = _served("easy_rpe")
    pain_ok: int = _served("pain_ok")
    pain_limit: int = _served("pain_limit")
    pain_stop: int = _served("pain_stop")
    flare_margin: int = _served("flare_margin")
    incomplete_streak: int = _served("incomplete_streak")
    fault_streak: int = _served("fault_streak")
    break_days: int = _served("break_days")
    min_rest_hours: int = _served("min_rest_hours")


class StepPrescription(Schema):
    step: int = Field(ge=1, description="The step's number on the ladder, counting from 1 at the bottom.")
    exercise: Slug = Field(description="The step's exercise slug.")
    sets: int = Field(ge=1, le=20, description="How many sets a session of this step has (1–20).")
    start: int = Field(ge=1, le=600, description="The step's first dose (1–600), in its `unit`.")
    target: int = Field(ge=1, le=600, description="The step's top dose (1–600), in its `unit`.")
    increment: int = Field(ge=1, le=600, description="How much the dose rises from one position to the next (1–600).")
    support: Support = Field(
        description="Whether a hand on a chair, wall or rail is `required`, `optional` or not expected (`none`)."
    )


class Step(StepPrescription):
    unit: Unit = Field(description="The exercise's unit: `reps` (each side, for a per-side exercise) or `seconds`.")


class ProgressionSummary(Schema):
    slug: Slug = Field(description="The ladder's slug, e.g. `lunge-ladder`.")
    owner: Owner = Field(default="stepwise", description=_OWNER)
    name: str = Field(description="The ladder's name.")
    goal: str = Field(description="What the ladder builds towards.")
    step_count: int = Field(description="How many steps the ladder has.")
    exercises: list[Slug] = Field(description="The steps' exercise slugs, from the bottom step up.")


class RoutineBlock(Schema):
    exercise: Slug = Field(description="The exercise's slug.")
    sets: int = Field(ge=1, le=20, description="How many sets (1–20).")
    dose: int = Field(
        ge=1,
        le=600,
        description="The dose of each set (1–600): repetitions (each side, for a per-side exercise) or seconds, "
        "per `unit`.",
    )
    unit: Unit = Field(description="How the dose is counted: `reps`, or `seconds` (one hold per set).")
    rest_seconds: int = Field(ge=0, le=600, description="Rest after each set, in seconds (0–600).")
    notes: str = Field(default="", description="Guidance for the block; may be empty.")


class LadderRoutineBlock(RoutineBlock):
    """A block of a ladder's day, given only while the recommended step is within
    `min_step`..`max_step` (either end open when null)."""

    min_step: int | None = Field(
        default=None, ge=1, description="The lowest recommended step the block is given for; null for no lower bound."
    )
    max_step: int | None = Field(
        default=None, ge=1, description="The highest recommended step the block is given for; null for no upper bound."
    )

    def applies_to(self, step: int) -> bool:
        return (self.min_step is None or step >= self.min_step) and (self.max_step is None or step <= self.max_step)


class LadderRoutine(Schema):
    """How a day on the ladder is laid out around the recommended step."""

    warm_up: list[LadderRoutineBlock] = Field(description="Blocks done before the recommended step.")
    step_rest_seconds: int = Field(
        ge=0, le=600, description="Rest after each set of the recommended step, in seconds (0–600)."
    )
    step_notes: str = Field(default="", description="Guidance for the recommended step's block; may be empty.")
    daily_habit: list[LadderRoutineBlock] = Field(description="Blocks after the recommended step: the everyday habit.")


class Progression(Schema):
    slug: Slug = Field(description="The ladder's slug, e.g. `lunge-ladder`.")
    owner: Owner = Field(default="stepwise", description=_OWNER)
    name: str = Field(description="The ladder's name.")
    goal: str = Field(description="What the ladder builds towards.")
    rules: Rules = Field(description="The ladder's thresholds, which the progression rules read.")
    steps: list[Step] = Field(min_length=1, description="The ladder's steps, from the bottom up (at least one).")
    routine: LadderRoutine | None = Field(
        default=None, description="How a day on the ladder is laid out; null when the ladder has none."
    )


class Routine(Schema):
    slug: Slug = Field(description="The routine's slug.")
    name: str = Field(description="The routine's name.")
    summary: str = Field(description="What the routine does, in a sentence or two.")
    duration_minutes: int = Field(ge=1, description="About how long it takes, in minutes (at least 1).")
    blocks: list[RoutineBlock] = Field(min_length=1, description="What to do, in order (at least one block).")


class RedFlag(Schema):
    code: Code = Field(description="The code a session reports in `red_flags`.")
    name: str = Field(description="A short name for the warning sign (a symptom, or a history such as cancer).")
    description: str = Field(description="The warning sign, in plain English, and what to do about it.")
    urgency: Urgency = Field(
        description="How soon to get help, from the most urgent. `emergency`: get emergency care now, at an "
        "emergency department or through the local emergency number. `urgent`: see a doctor today. `see_clinician`: "
        "get checked by a doctor or physiotherapist before exercising again."
    )


class Safety(Schema):
    disclaimer: str = Field(description="General guidance, not a diagnosis or treatment.")
    red_flags: list[RedFlag] = Field(
        description="Warning signs a session may report in `red_flags`: they need a clinician, not a lighter "
        "exercise. Each pauses every ladder of the user until a clearance covers it."
    )


class Catalogue(Schema):
    version: str = Field(description="A hash of the catalogue's content: it changes exactly when the content does.")
    safety: Safety = Field(description="The disclaimer and the red flags, as `GET /v1/safety` serves them.")
    muscles: list[Muscle] = Field(description="Every muscle.")
    equipment: list[Equipment] = Field(description="Every piece of equipment.")
    exercises: list[Exercise] = Field(description="Every exercise, in full.")
    progressions: list[Progression] = Field(description="Every progression ladder, in full.")
    routines: list[Routine] = Field(description="Every ready-made routine.")


class MuscleList(Schema):
    items: list[Muscle] = Field(description="Every muscle.")


class EquipmentList(Schema):
    items: list[Equipment] = Field(description="Every piece of equipment.")


class ExercisePage(Schema):
    items: list[ExerciseSummary] = Field(description="Up to `limit` matching exercises, by level, then slug.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class ProgressionList(Schema):
    items: list[ProgressionSummary] = Field(description="Every progression ladder, in summary.")


class RoutineList(Schema):
    items: list[Routine] = Field(description="Every ready-made routine.")
