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
from app.progression.thresholds import THRESHOLD, THRESHOLDS

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
SUPPORTS = get_args(Support)
MAX_STEPS = 20
# What the contract allows, field by field: (lowest, highest).
STEP_RANGES = {"sets": (1, 10), "start": (1, 600), "target": (1, 600), "increment": (1, 600)}
RULE_RANGES = {threshold.name: (threshold.low, threshold.high) for threshold in THRESHOLDS}


# Any whole number: the checks hold the ranges, and `_showing` puts them in the JSON Schema.
WholeNumber = Annotated[int, Strict(), WHOLE_NUMBER]


def _showing(ranges: dict[str, tuple[int, int]]) -> ConfigDict:
    """A model config that shows each field's range (from the table the checks read) in its schema."""

    def show(schema: dict[str, Any]) -> None:
        for name, (low, high) in ranges.items():
            schema["properties"][name].update(minimum=low, maximum=high)

    return ConfigDict(extra="forbid", json_schema_extra=show)


def _asked(name: str) -> Any:
    """The field of a threshold as a partner sends it (`app.progression.thresholds`); its range
    is shown by `_showing` and held by the checks."""
    threshold = THRESHOLD[name]
    if threshold.default is None:
        return Field(description=threshold.asked)
    return Field(default=threshold.default, description=threshold.asked)


class LadderRulesIn(Body):
    model_config = _showing(RULE_RANGES)

    streak: WholeNumber = _asked("streak")
    easy_rpe: WholeNumber = _asked("easy_rpe")
    pain_ok: WholeNumber = _asked("pain_ok")
    pain_limit: WholeNumber = _asked("pain_limit")
    pain_stop: WholeNumber = _asked("pain_stop")
    flare_margin: WholeNumber = _asked("flare_margin")
    incomplete_streak: WholeNumber = _asked("incomplete_streak")
    fault_streak: WholeNumber = _asked("fault_streak")
    break_days: WholeNumber = _asked("break_days")
    min_rest_hours: WholeNumber = _asked("min_rest_hours")


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
                    "rules": {threshold.name: threshold.example for threshold in THRESHOLDS},
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
