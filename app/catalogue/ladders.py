"""A ladder as a partner sends it (to publish it, or as a draft to evaluate), and the checks it
must pass: every one of them, all reported together in one 422 whose `errors` name each field.

The shapes take any whole number where a number goes and any text where a choice goes, so that
a ladder with ten problems gets ten errors at once rather than the first few; the checks below
hold the ranges and choices (the JSON Schema still shows them to clients). Step numbers and
units are derived: steps are numbered from 1 at the bottom, and a step's unit is its exercise's.
"""

import re
from collections.abc import Mapping
from typing import Annotated, Any, get_args

from pydantic import ConfigDict, Field, Strict, WithJsonSchema

from app.catalogue.schemas import Exercise, Owner, Progression, Rules, Step
from app.errors import InvalidRequest, ProblemError
from app.kit import WHOLE_NUMBER, Body
from app.progression.model import Support

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
SUPPORTS = get_args(Support)
MAX_STEPS = 20
# What the contract allows, field by field: (lowest, highest).
STEP_RANGES = {"sets": (1, 10), "start": (1, 600), "target": (1, 600), "increment": (1, 600)}
RULE_RANGES = {
    "streak": (1, 10),
    "incomplete_streak": (1, 10),
    "fault_streak": (1, 10),
    "easy_rpe": (0, 10),
    "pain_ok": (0, 10),
    "pain_limit": (0, 10),
    "pain_stop": (0, 10),
    "flare_margin": (0, 10),
    "break_days": (1, 365),
    "min_rest_hours": (0, 168),
}


# Any whole number: the checks hold the ranges, and `_showing` puts them in the JSON Schema.
WholeNumber = Annotated[int, Strict(), WHOLE_NUMBER]


def _showing(ranges: dict[str, tuple[int, int]]) -> ConfigDict:
    """A model config that shows each field's range (from the table the checks read) in its schema."""

    def show(schema: dict[str, Any]) -> None:
        for name, (low, high) in ranges.items():
            schema["properties"][name].update(minimum=low, maximum=high)

    return ConfigDict(extra="forbid", json_schema_extra=show)


class LadderRulesIn(Body):
    model_config = _showing(RULE_RANGES)

    streak: WholeNumber = Field(
        description="Qualifying sessions in a row at one position that move the person up, 1–10.",
    )
    easy_rpe: WholeNumber = Field(
        description="An rpe (0–10) at or below this counts as easy enough.",
    )
    pain_ok: WholeNumber = Field(
        description="Pain during (and after) at or below this (0–10) allows moving up; below `pain_limit`.",
    )
    pain_limit: WholeNumber = Field(
        description="Pain during or after above this (0–10) moves one position down; below `pain_stop`.",
    )
    pain_stop: WholeNumber = Field(
        description="Pain before, during, after or the next morning at or above this (0–10), on any session, pauses "
        "the ladder until a rested, gentler restart.",
    )
    flare_margin: WholeNumber = Field(
        description="Next-morning pain is a flare when more than this (0–10) above the pain before, and above pain_ok.",
    )
    incomplete_streak: WholeNumber = Field(
        description="Incomplete sessions in a row at one position that move the person down, 1–10.",
    )
    fault_streak: WholeNumber = Field(
        default=3,
        description="Sessions in a row at one position, each with a form fault, that go back to the previous "
        "exercise, 1–10 (default 3).",
    )
    break_days: WholeNumber = Field(
        description="Days (1–365) after the latest session beyond which the person moves down, a position per whole "
        "`break_days` away.",
    )
    min_rest_hours: WholeNumber = Field(
        description="Hours (0–168) each session of a streak must come after the one before it.",
    )


class LadderStepIn(Body):
    model_config = _showing(STEP_RANGES)

    exercise: Annotated[str, Field(max_length=200)] = Field(
        description="The step's exercise: the slug of an exercise of the catalogue, at most once in the ladder.",
        json_schema_extra={"pattern": SLUG.pattern, "maxLength": 64},
    )
    sets: WholeNumber = Field(description="Sets in a session, 1–10.")
    start: WholeNumber = Field(
        description="The step's first dose, 1–600, in the exercise's unit; at most `target`.",
    )
    target: WholeNumber = Field(
        description="The step's top dose, 1–600; `target − start` is a multiple of `increment`.",
    )
    increment: WholeNumber = Field(
        description="How much the dose rises from one position to the next, at least 1.",
    )
    support: Annotated[str, WithJsonSchema({"type": "string", "enum": list(SUPPORTS)})] = Field(
        description="Whether a hand on a support is `required`, `optional` or not expected (`none`)."
    )


class LadderIn(Body):
    """A progression ladder as a partner writes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "wall-squat-ladder",
                    "name": "Wall squat ladder",
                    "goal": "A steady bodyweight squat without knee pain.",
                    "rules": {
                        "streak": 3,
                        "easy_rpe": 5,
                        "pain_ok": 2,
                        "pain_limit": 4,
                        "pain_stop": 7,
                        "flare_margin": 0,
                        "incomplete_streak": 2,
                        "fault_streak": 3,
                        "break_days": 14,
                        "min_rest_hours": 0,
                    },
                    "steps": [
                        {
                            "exercise": "half-squat-hold",
                            "sets": 3,
                            "start": 5,
                            "target": 15,
                            "increment": 5,
                            "support": "optional",
                        },
                        {
                            "exercise": "glute-bridge",
                            "sets": 2,
                            "start": 8,
                            "target": 12,
                            "increment": 2,
                            "support": "none",
                        },
                    ],
                }
            ]
        },
    )

    slug: Annotated[str, Field(max_length=200)] = Field(
        description="The ladder's slug: lower-case kebab-case, 3–64 characters, e.g. `wall-squat-ladder`.",
        json_schema_extra={"pattern": SLUG.pattern, "minLength": 3, "maxLength": 64},
    )
    name: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The ladder's name, 1–100 characters."
    )
    goal: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="What the ladder builds towards, 1–500 characters."
    )
    rules: LadderRulesIn = Field(description="The thresholds the progression rules read.")
    steps: Annotated[list[LadderStepIn], Field(max_length=100)] = Field(
        description="The steps from the bottom up, 1–20; numbered in order, each with its exercise's unit.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_STEPS},
    )


def _range(loc: list[str | int], value: int, low: int, high: int) -> list[ProblemError]:
    if low <= value <= high:
        return []
    return [ProblemError(loc=loc, msg=f"must be from {low} to {high}; got {value}")]


def ladder_problems(ladder: LadderIn, *, exercises: Mapping[str, Exercise], at: list[str | int]) -> list[ProblemError]:
    """Every way `ladder` breaks the contract's checks, each at its field (`at` + the path in
    the ladder); `exercises` are the ones visible to the partner, by slug."""
    problems: list[ProblemError] = []
    if not (3 <= len(ladder.slug) <= 64 and SLUG.match(ladder.slug)):
        problems.append(ProblemError(loc=[*at, "slug"], msg="must be lower-case kebab-case, 3–64 characters"))
    rules = ladder.rules
    for name, (low, high) in RULE_RANGES.items():
        problems += _range([*at, "rules", name], getattr(rules, name), low, high)
    if not rules.pain_ok < rules.pain_limit:
        problems.append(ProblemError(loc=[*at, "rules", "pain_limit"], msg="must be above pain_ok"))
    if not rules.pain_limit < rules.pain_stop:
        problems.append(ProblemError(loc=[*at, "rules", "pain_stop"], msg="must be above pain_limit"))
    if not 1 <= len(ladder.steps) <= MAX_STEPS:
        problems.append(
            ProblemError(loc=[*at, "steps"], msg=f"a ladder has 1–{MAX_STEPS} steps; got {len(ladder.steps)}")
        )
    seen: set[str] = set()
    for index, step in enumerate(ladder.steps):
        where: list[str | int] = [*at, "steps", index]
        if step.exercise not in exercises:
            problems.append(ProblemError(loc=[*where, "exercise"], msg=f"there is no exercise {step.exercise!r}"))
        elif step.exercise in seen:
            problems.append(ProblemError(loc=[*where, "exercise"], msg=f"{step.exercise!r} is already a step"))
        seen.add(step.exercise)
        for name, (low, high) in STEP_RANGES.items():
            problems += _range([*where, name], getattr(step, name), low, high)
        if step.start > step.target:
            problems.append(ProblemError(loc=[*where, "target"], msg="must be at least start"))
        elif step.increment >= 1 and (step.target - step.start) % step.increment:
            problems.append(
                ProblemError(loc=[*where, "increment"], msg="target − start must be a multiple of the increment")
            )
        if step.support not in SUPPORTS:
            problems.append(ProblemError(loc=[*where, "support"], msg=f"must be one of {', '.join(SUPPORTS)}"))
    return problems


def checked_ladder(ladder: LadderIn, *, exercises: Mapping[str, Exercise], at: list[str | int]) -> Progression:
    """`ladder` as the engine takes it, or the one 422 listing everything wrong with it."""
    problems = ladder_problems(ladder, exercises=exercises, at=at)
    if problems:
        raise InvalidRequest.of(problems)
    return to_progression(ladder, exercises=exercises)


def to_progression(ladder: LadderIn, *, exercises: Mapping[str, Exercise], owner: Owner = "stepwise") -> Progression:
    """A checked ladder with its steps numbered from 1 at the bottom and each step's unit its
    exercise's."""
    return Progression(
        slug=ladder.slug,
        owner=owner,
        name=ladder.name,
        goal=ladder.goal,
        rules=Rules(**ladder.rules.model_dump()),
        steps=[
            Step(step=number, unit=exercises[step.exercise].unit, **step.model_dump())
            for number, step in enumerate(ladder.steps, start=1)
        ],
        routine=None,
    )
