"""Reading the versioned content files into one validated catalogue.

The files under `content/` are the source of truth for the built-in catalogue. Exercises name
their sources by slug; steps take their unit from their exercise. Every cross-reference is
checked here, so a broken file fails the sync before anything is written.
"""

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import Field, TypeAdapter

from app.catalogue.schemas import (
    Catalogue,
    Equipment,
    Exercise,
    ExerciseSummary,
    Fault,
    LadderRoutine,
    Muscle,
    Progression,
    Routine,
    Rules,
    Safety,
    Schema,
    Slug,
    Source,
    Step,
    StepPrescription,
)

CONTENT_DIR = Path(__file__).parent / "content"


class ExerciseContent(ExerciseSummary):
    instructions: list[str] = Field(min_length=3)
    cues: list[str]
    faults: list[Fault]
    safety: list[str]
    sources: list[Slug]


class ProgressionContent(Schema):
    slug: Slug
    name: str
    goal: str
    rules: Rules
    steps: list[StepPrescription] = Field(min_length=1)
    routine: LadderRoutine | None = None


T = TypeVar("T")


class ContentError(ValueError):
    """The content files are inconsistent; the message says where."""


def _read(directory: Path, name: str, item_type: type[T]) -> list[T]:
    return TypeAdapter(list[item_type]).validate_python(_load(directory, name) or [])  # type: ignore[valid-type]


def _load(directory: Path, name: str) -> Any:
    with (directory / f"{name}.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _unique(kind: str, slugs: list[str]) -> set[str]:
    seen: set[str] = set()
    for slug in slugs:
        if slug in seen:
            raise ContentError(f"{kind} {slug!r} is defined twice")
        seen.add(slug)
    return seen


def _require(kind: str, owner: str, wanted: list[str], known: set[str]) -> None:
    missing = [slug for slug in wanted if slug not in known]
    if missing:
        raise ContentError(f"{owner} refers to unknown {kind} {', '.join(missing)}")


def _check_rules(progression: ProgressionContent) -> None:
    rules = progression.rules
    if not rules.pain_ok <= rules.pain_limit < rules.pain_stop:
        raise ContentError(f"progression {progression.slug}: need pain_ok <= pain_limit < pain_stop")
    numbers = [s.step for s in progression.steps]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ContentError(f"progression {progression.slug}: steps must be numbered 1..n in order")
    for step in progression.steps:
        if step.start > step.target or (step.target - step.start) % step.increment:
            raise ContentError(
                f"progression {progression.slug} step {step.step}: target must be start plus whole increments"
            )
    blocks = progression.routine.warm_up + progression.routine.daily_habit if progression.routine else []
    for block in blocks:
        if any(n is not None and n > len(numbers) for n in (block.min_step, block.max_step)):
            raise ContentError(
                f"progression {progression.slug} routine: {block.exercise} names a step it does not have"
            )


def red_flag_codes(directory: Path = CONTENT_DIR) -> list[str]:
    """The codes a session may report in `red_flags`, in the content's order."""
    return [flag.code for flag in Safety.model_validate(_load(directory, "safety")).red_flags]


def load_content(directory: Path = CONTENT_DIR) -> Catalogue:
    safety = Safety.model_validate(_load(directory, "safety"))
    _unique("red flag", [f.code for f in safety.red_flags])
    muscles = _read(directory, "muscles", Muscle)
    equipment = _read(directory, "equipment", Equipment)
    sources = _read(directory, "sources", Source)
    exercises = _read(directory, "exercises", ExerciseContent)
    progressions = _read(directory, "progressions", ProgressionContent)
    routines = _read(directory, "routines", Routine)

    muscle_slugs = _unique("muscle", [m.slug for m in muscles])
    equipment_slugs = _unique("equipment", [e.slug for e in equipment])
    sources_by_slug = {s.slug: s for s in sources}
    _unique("source", [s.slug for s in sources])
    exercises_by_slug = {e.slug: e for e in exercises}
    _unique("exercise", [e.slug for e in exercises])
    _unique("progression", [p.slug for p in progressions])
    _unique("routine", [r.slug for r in routines])

    resolved_exercises = []
    for e in exercises:
        owner = f"exercise {e.slug}"
        _require("muscle", owner, e.muscles.primary + e.muscles.secondary, muscle_slugs)
        _require("equipment", owner, e.equipment, equipment_slugs)
        _require("source", owner, e.sources, set(sources_by_slug))
        _unique(f"{owner} fault", [f.code for f in e.faults])
        fields = e.model_dump(exclude={"sources"})
        resolved_exercises.append(Exercise(**fields, sources=[sources_by_slug[s] for s in e.sources]))

    resolved_progressions = []
    for p in progressions:
        _require("exercise", f"progression {p.slug}", [s.exercise for s in p.steps], set(exercises_by_slug))
        _check_rules(p)
        steps = [Step(**s.model_dump(), unit=exercises_by_slug[s.exercise].unit) for s in p.steps]
        resolved_progressions.append(Progression(**p.model_dump(exclude={"steps"}), steps=steps))

    block_lists = [(f"routine {r.slug}", r.blocks) for r in routines] + [
        (f"progression {p.slug} routine", p.routine.warm_up + p.routine.daily_habit) for p in progressions if p.routine
    ]
    for owner, blocks in block_lists:
        _require("exercise", owner, [b.exercise for b in blocks], set(exercises_by_slug))
        for block in blocks:
            if block.unit != exercises_by_slug[block.exercise].unit:
                raise ContentError(f"{owner}: block {block.exercise} has the wrong unit")

    return with_version(
        safety=safety,
        muscles=muscles,
        equipment=equipment,
        exercises=resolved_exercises,
        progressions=resolved_progressions,
        routines=routines,
    )


def with_version(**content: Any) -> Catalogue:
    """A catalogue whose version is the hash of its content, so equal content has equal versions."""
    unversioned = Catalogue(version="", **content).model_dump(mode="json", exclude={"version"})
    canonical = json.dumps(unversioned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    version = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return Catalogue(version=version, **content)
