"""An exercise as a partner writes it: the shape GET answers, without `owner` (and with sources
as `{title, authors, journal, year}`), and the checks it must pass, all reported together.

As with ladders (`app.catalogue.ladders`), the shapes take any text where a slug or a choice
goes, so every broken check is named at once; the JSON Schema still shows the patterns."""

import re
from collections.abc import Mapping
from typing import Annotated, Any, get_args

from pydantic import ConfigDict, Field, Strict

from app.catalogue.ladders import SLUG, WholeNumber
from app.catalogue.schemas import Equipment, Exercise, ExerciseMuscles, Fault, Muscle, Source
from app.errors import ProblemError
from app.kit import WHOLE_NUMBER, Body
from app.progression.model import Unit

FAULT_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Text that is not blank has a character outside this class. Python's `\s` also takes
# U+001C–U+001F and U+0085, ECMAScript's (the one JSON Schema means) also U+FEFF: naming
# them all makes the pattern the schema shows and the check the service runs the same.
NOT_BLANK = re.compile(r"[^\s\x1c-\x1f\x85\ufeff]")
UNITS = get_args(Unit)
_SLUG_SHOWN: dict[str, Any] = {"pattern": SLUG.pattern, "minLength": 1, "maxLength": 64}
_OWN_SLUG_SHOWN: dict[str, Any] = _SLUG_SHOWN | {"minLength": 3}
Text = Annotated[str, Field(min_length=1, max_length=2000)]
SlugText = Annotated[str, Field(max_length=200, json_schema_extra=_SLUG_SHOWN)]


class FaultIn(Body):
    code: Annotated[str, Field(max_length=200)] = Field(
        description="The fault's code, lower_snake_case, as a session logs it in `faults`.",
        json_schema_extra={"pattern": FAULT_CODE.pattern, "maxLength": 64},
    )
    description: Text = Field(description="What the fault looks like.")
    correction: Annotated[str, Field(max_length=2000)] = Field(
        description="How to correct it; not empty.", json_schema_extra={"pattern": NOT_BLANK.pattern, "minLength": 1}
    )


class SourceIn(Body):
    title: Text = Field(description="The title of the article or paper.")
    authors: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = Field(
        description="The authors' names, in the order the source gives them."
    )
    journal: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Where it was published: a journal, or the publisher."
    )
    year: Annotated[int, Strict(), Field(ge=1800, le=2100), WHOLE_NUMBER] | None = Field(
        default=None, description="Year of publication, 1800–2100; null when none."
    )


class MusclesIn(Body):
    primary: Annotated[list[SlugText], Field(max_length=30)] = Field(
        description="Slugs (from `GET /v1/muscles`) of the muscles it mainly works, at least one.",
        json_schema_extra={"minItems": 1},
    )
    secondary: Annotated[list[SlugText], Field(max_length=30)] = Field(
        default=[], description="Slugs (from `GET /v1/muscles`) of the muscles that help."
    )


class ExerciseIn(Body):
    """An exercise of the partner's own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "wall-sit",
                    "name": "Wall sit",
                    "summary": "Slide down a wall until the knees are bent, and hold.",
                    "level": 2,
                    "unit": "seconds",
                    "per_side": False,
                    "muscles": {"primary": ["vastus-lateralis", "gluteus-maximus"], "secondary": []},
                    "equipment": ["none"],
                    "tags": ["squat", "hold"],
                    "instructions": [
                        "Stand with your back against a wall, feet a step away from it.",
                        "Slide down until your knees are bent about halfway.",
                        "Hold, breathing steadily, then slide back up.",
                    ],
                    "cues": ["Press your lower back gently into the wall."],
                    "faults": [
                        {
                            "code": "knees_forward",
                            "description": "The knees drift past the toes.",
                            "correction": "Walk the feet a little further from the wall.",
                        }
                    ],
                    "safety": ["Stop if your knees or back hurt sharply."],
                    "sources": [],
                }
            ]
        },
    )

    slug: Annotated[str, Field(max_length=200)] = Field(
        description="Lower-case kebab-case, 3–64 characters; not a slug the catalogue uses.",
        json_schema_extra=_OWN_SLUG_SHOWN,
    )
    name: Annotated[str, Field(min_length=1, max_length=100)] = Field(description="The exercise's name.")
    summary: Annotated[str, Field(min_length=1, max_length=300)] = Field(description="What it is, in one sentence.")
    level: WholeNumber = Field(json_schema_extra={"minimum": 1, "maximum": 6}, description="Difficulty, 1–6.")
    unit: Annotated[str, Field(json_schema_extra={"enum": list(UNITS)})] = Field(
        description="How its dose is counted: `reps`, or `seconds` (one hold per set)."
    )
    per_side: Annotated[bool, Strict()] = Field(
        description="Whether it is done on each side in turn, the dose counting each side."
    )
    muscles: MusclesIn = Field(description="The muscles it works.")
    equipment: Annotated[list[SlugText], Field(max_length=30)] = Field(
        description="Slugs (from `GET /v1/equipment`) of what it needs; `none` when nothing."
    )
    tags: Annotated[list[SlugText], Field(max_length=30)] = Field(default=[], description="Slugs to filter by.")
    instructions: Annotated[list[Text], Field(max_length=30)] = Field(
        description="How to do it, step by step: at least 3 steps.", json_schema_extra={"minItems": 3}
    )
    cues: Annotated[list[Text], Field(max_length=30)] = Field(default=[], description="Short reminders for good form.")
    faults: Annotated[list[FaultIn], Field(max_length=30)] = Field(
        default=[], description="Technique faults to watch for, each with its correction; codes unique."
    )
    safety: Annotated[list[Text], Field(max_length=30)] = Field(default=[], description="Safety notes.")
    sources: Annotated[list[SourceIn], Field(max_length=30)] = Field(default=[], description="Where it comes from.")


def exercise_problems(
    exercise: ExerciseIn, *, muscles: Mapping[str, Muscle], equipment: Mapping[str, Equipment], at: list[str | int]
) -> list[ProblemError]:
    """Every way `exercise` breaks the contract's checks, each at its field."""
    problems: list[ProblemError] = []

    def problem(loc: list[str | int], msg: str) -> None:
        problems.append(ProblemError(loc=[*at, *loc], msg=msg))

    if not (3 <= len(exercise.slug) <= 64 and SLUG.match(exercise.slug)):
        problem(["slug"], "must be lower-case kebab-case, 3–64 characters")
    if not 1 <= exercise.level <= 6:
        problem(["level"], f"must be from 1 to 6; got {exercise.level}")
    if exercise.unit not in UNITS:
        problem(["unit"], f"must be one of {', '.join(UNITS)}")
    if not exercise.muscles.primary:
        problem(["muscles", "primary"], "name at least one muscle")
    for group in ("primary", "secondary"):
        for index, slug in enumerate(getattr(exercise.muscles, group)):
            if slug not in muscles:
                problem(["muscles", group, index], f"there is no muscle {slug!r} (see GET /v1/muscles)")
    for index, slug in enumerate(exercise.equipment):
        if slug not in equipment:
            problem(["equipment", index], f"there is no equipment {slug!r} (see GET /v1/equipment)")
    for index, tag in enumerate(exercise.tags):
        if not SLUG.match(tag) or len(tag) > 64:
            problem(["tags", index], "must be lower-case kebab-case, at most 64 characters")
    if len(exercise.instructions) < 3:
        problem(["instructions"], f"give at least 3 steps; got {len(exercise.instructions)}")
    codes: set[str] = set()
    for index, fault in enumerate(exercise.faults):
        if not FAULT_CODE.match(fault.code) or len(fault.code) > 64:
            problem(["faults", index, "code"], "must be lower_snake_case, at most 64 characters")
        elif fault.code in codes:
            problem(["faults", index, "code"], f"{fault.code!r} is already a fault of this exercise")
        codes.add(fault.code)
        if not NOT_BLANK.search(fault.correction):
            problem(["faults", index, "correction"], "say how to correct the fault")
    return problems


def as_exercise(exercise: ExerciseIn) -> Exercise:
    """The checked exercise as the catalogue answers it, owned by the partner."""
    data: dict[str, Any] = exercise.model_dump(exclude={"muscles", "faults", "sources"})
    return Exercise(
        **data,
        owner="partner",
        muscles=ExerciseMuscles(**exercise.muscles.model_dump()),
        faults=[Fault(**fault.model_dump()) for fault in exercise.faults],
        sources=[
            Source(slug=f"source-{index + 1}", kind="article", **source.model_dump())
            for index, source in enumerate(exercise.sources)
        ],
    )


def exercise_of(document: dict[str, Any]) -> Exercise:
    """A stored document as the catalogue answers it."""
    return as_exercise(ExerciseIn.model_validate(document))
