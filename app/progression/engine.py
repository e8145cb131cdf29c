"""Pure functions of the progression rules (`progression.md`): no I/O, no web, no database.

Inputs are plain data: a ladder (steps and rule thresholds, as the catalogue serves them) and
sessions as logged. The session-log service and the recommendation endpoints both call these.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

PainZone = Literal["low", "acceptable", "high", "stop"]


class Rules(Protocol):
    streak: int
    easy_rpe: int
    pain_ok: int
    pain_limit: int
    pain_stop: int
    flare_margin: int
    incomplete_streak: int
    break_days: int


class Step(Protocol):
    step: int
    exercise: str
    sets: int
    start: int
    target: int
    increment: int
    support: str


@dataclass(frozen=True, slots=True)
class Pain:
    during: int
    before: int | None = None
    after: int | None = None
    next_morning: int | None = None


@dataclass(frozen=True, slots=True)
class Performance:
    """What the rules read from one logged session."""

    target_dose: int
    set_doses: tuple[int, ...]
    rpe: int | None
    pain: Pain
    support_used: bool
    fault_count: int


@dataclass(frozen=True, slots=True)
class Assessment:
    progression: str
    completed: bool
    qualifying: bool
    pain_zone: PainZone
    flare: bool


def position_dose(step: Step, target_dose: int) -> int:
    """The step's dose a target counts as: its highest dose not above it, within start..target."""
    if target_dose <= step.start:
        return step.start
    if target_dose >= step.target:
        return step.target
    return step.start + (target_dose - step.start) // step.increment * step.increment


def is_flare(pain: Pain, rules: Rules) -> bool:
    return pain.next_morning is not None and pain.next_morning > (pain.before or 0) + rules.flare_margin


def pain_zone(pain: Pain, rules: Rules) -> PainZone:
    worst = pain.during if pain.after is None else max(pain.during, pain.after)
    if worst >= rules.pain_stop or (pain.next_morning is not None and pain.next_morning >= rules.pain_stop):
        return "stop"
    if worst <= rules.pain_ok:
        return "low"
    if worst <= rules.pain_limit:
        return "acceptable"
    return "high"


def is_completed(performance: Performance, step: Step) -> bool:
    target = performance.target_dose
    return len([dose for dose in performance.set_doses if dose >= target]) >= step.sets


def is_qualifying(performance: Performance, step: Step, rules: Rules, *, completed: bool | None = None) -> bool:
    pain = performance.pain
    return (
        (is_completed(performance, step) if completed is None else completed)
        and performance.rpe is not None
        and performance.rpe <= rules.easy_rpe
        and pain.during <= rules.pain_ok
        and (pain.after is None or pain.after <= rules.pain_ok)
        and performance.fault_count == 0
        and not is_flare(pain, rules)
        and not (step.support == "none" and performance.support_used)
    )


def assess(performance: Performance, *, progression: str, step: Step, rules: Rules) -> Assessment:
    completed = is_completed(performance, step)
    return Assessment(
        progression=progression,
        completed=completed,
        qualifying=is_qualifying(performance, step, rules, completed=completed),
        pain_zone=pain_zone(performance.pain, rules),
        flare=is_flare(performance.pain, rules),
    )
